"""The registry as populated by the families: docs, attribute kinds, duplicates, the catalog."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from cnncost.ops.registry import (
    ATTR_KINDS,
    REQUIRED,
    Attr,
    OpDef,
    all_names,
    all_ops,
    canonical_name,
    get_op,
    register,
)

CATALOG = Path(__file__).resolve().parents[2] / "docs" / "operators.md"
FAMILIES = {"io", "conv", "linear", "distance", "norm", "activation", "pool", "elementwise",
            "shape", "preprocess", "resample"}
# The catalog lists these in prose rather than in a table.
PROSE_OPS = {"relu", "relu6", "leaky_relu", "sigmoid", "hard_sigmoid", "tanh", "scaled_tanh",
             "swish", "hard_swish", "gelu", "softmax",
             "flatten", "reshape", "dropout", "stochastic_depth", "zero_pad2d", "crop2d"}


def _catalog_ops() -> set[str]:
    text = CATALOG.read_text()
    table_ops = set(re.findall(r"^\| `(\w+)`", text, flags=re.MULTILINE))
    for name in PROSE_OPS:
        assert f"`{name}`" in text, name
    return table_ops | PROSE_OPS


def test_registry_matches_the_catalog() -> None:
    assert set(all_ops()) == _catalog_ops()


def test_aliases() -> None:
    assert canonical_name("dense") == "linear"
    assert canonical_name("silu") == "swish"
    assert canonical_name("conv") is None
    assert {"dense", "silu"} <= set(all_names())


@pytest.mark.parametrize("name", sorted(all_ops()))
def test_definition_is_complete(name: str) -> None:
    op = get_op(name)
    assert op.name == name
    assert op.doc.strip() and "\n" not in op.doc, "one non-empty paragraph"
    assert op.family in FAMILIES
    assert op.weighted == (op.family in {"conv", "linear", "distance"})
    for attr_name, attr in op.attrs.items():
        assert isinstance(attr, Attr) and attr.kind in ATTR_KINDS, attr_name
        assert attr_name not in {"name", "input", "inputs", "when"}, "reserved spec keys"
        if attr.kind == "choice":
            assert attr.choices and (attr.required or attr.default in attr.choices)
        if attr.kind == "act":
            assert attr.default is None
    if op.zero_cost is not None:
        assert op.zero_cost.strip()
        assert op.fvcore is not None and op.connections is not None
    # every operator says what it allocates (the eager memory model) and what its backward costs
    assert op.memory is not None, "no memory rule"
    from cnncost.cost.training import BACKWARD

    assert name in BACKWARD or op.family in BACKWARD, "no training rule"


def test_act_attribute_on_exactly_the_fusing_ops() -> None:
    fusing = {name for name, op in all_ops().items() if "act" in op.attrs}
    assert fusing == {"conv2d", "depthwise_conv2d", "separable_conv2d", "conv2d_table",
                      "conv_transpose2d", "linear"}


def test_required_attributes() -> None:
    required = {name: sorted(k for k, a in op.attrs.items() if a.default is REQUIRED)
                for name, op in all_ops().items()}
    assert required["conv2d"] == ["kernel", "out"]
    assert required["conv2d_table"] == ["kernel", "out", "table"]
    assert required["max_pool2d"] == ["kernel"]
    assert get_op("max_pool2d").attrs["stride"].default is None  # null -> kernel


def test_registering_a_duplicate_raises() -> None:
    relu = get_op("relu")
    with pytest.raises(ValueError, match=r"operator 'relu' is registered twice"):
        register(relu)
    fresh = OpDef(name="brand_new_op", doc="x", family="io", infer=lambda ctx: (),
                  aliases=("dense",))
    with pytest.raises(ValueError, match=r"operator 'dense' is registered twice"):
        register(fresh)
    assert canonical_name("brand_new_op") is None  # nothing half-registered


def test_ops_modules_do_not_import_torch() -> None:
    code = ("import sys, cnncost.ops, cnncost.ops.spatial; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True,
                   cwd=Path(__file__).resolve().parents[2])
