"""JSON Schema of the spec format, from the pydantic models. Must not import torch."""

from __future__ import annotations

from typing import Any

from cnncost.spec.model import ModelSpec


def spec_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a cnncost spec file."""
    schema = ModelSpec.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "cnncost spec"
    return schema
