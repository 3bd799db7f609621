"""The JSON Schema validates every shipped spec and rejects a malformed one."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest
import yaml

from cnncost import api

SPECS = Path(__file__).resolve().parents[2] / "specs"


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = api.json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize("path", sorted(p for p in SPECS.rglob("*.yaml") if "blocks" not in p.parts),
                         ids=lambda p: p.stem)
def test_every_spec_validates(validator, path: Path) -> None:
    errors = list(validator.iter_errors(yaml.safe_load(path.read_text())))
    assert not errors, [e.message for e in errors[:3]]


def test_schema_rejects_unknown_keys_and_wrong_types(validator) -> None:
    bad = {"name": "x", "input": {"channels": 3, "height": 8, "width": 8},
           "layers": [{"conv2d": {"out": 8, "kernal": 3}}, {"relu": {"when": [1]}}]}
    messages = [e.message for e in validator.iter_errors(bad)]
    assert messages  # both items are invalid under the schema
    assert not list(validator.iter_errors({**bad, "layers": [{"conv2d": {"out": 8, "kernel": 3}}]}))


def test_schema_documents_operators() -> None:
    defs = api.json_schema()["$defs"]
    assert "conv2d_args" in defs and "kernel" in defs["conv2d_args"]["properties"]
    assert defs["conv2d_args"]["description"]  # the operator's formula doc
