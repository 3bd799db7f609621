"""JSON Schema of the spec format, from the pydantic models. Must not import torch.

Layer items are validated lazily (one operator model built on first use); the schema builds the
complete union of every operator's item, so ``cnncost schema`` alone pays for all of them.
"""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter

from cnncost.ops.registry import all_ops
from cnncost.spec.model import STRUCTURAL, BlockCall, BlockFile, ModelSpec, _ItemSchema, item_model

_REF = "#/$defs/{model}"


def spec_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a cnncost spec file, block files included."""
    schema = ModelSpec.model_json_schema(ref_template=_REF)
    defs = schema.setdefault("$defs", {})
    members: list[dict[str, Any]] = []
    keys = [*STRUCTURAL, *(name for name in all_ops() if name != "input")]
    for key in keys:
        sub = TypeAdapter(item_model(key)).json_schema(ref_template=_REF)
        defs.update(sub.pop("$defs", {}))
        name = sub.get("title", f"{key}_item")
        defs[name] = sub
        members.append({"$ref": f"#/$defs/{name}"})
    call = BlockCall.model_json_schema(ref_template=_REF)
    defs.update(call.pop("$defs", {}))
    defs["BlockCall"] = call
    members.append({
        "type": "object", "minProperties": 1, "maxProperties": 1,
        "description": "a call of a block defined under blocks: or in an imported block file",
        "additionalProperties": {"anyOf": [{"$ref": "#/$defs/BlockCall"}, {"type": "null"}]},
    })
    members.append({"type": "string", "enum": keys[len(STRUCTURAL):],
                    "description": "a bare operator name with default arguments"})
    defs["LayerItem"] = {"description": "one layer item", "anyOf": members}
    block_file = BlockFile.model_json_schema(ref_template=_REF)
    defs.update(block_file.pop("$defs", {}))
    defs["BlockFile"] = block_file
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "cnncost spec"
    return _link_items(schema)


def _link_items(node: Any) -> Any:
    if node == _ItemSchema.PLACEHOLDER:
        return {"$ref": "#/$defs/LayerItem"}
    if isinstance(node, dict):
        return {k: _link_items(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_link_items(v) for v in node]
    return node
