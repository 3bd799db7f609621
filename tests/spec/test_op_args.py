"""An operator item's arguments without a pydantic class per operator (``model.op_args``) agree
with the operator's model (``model.op_model``): whatever the quick check accepts, the model
accepts too, with the same values and the same keys given; whatever the model rejects, the
quick check hands to it. And the whole zoo loads through the quick check alone."""

from __future__ import annotations

import copy
import itertools
import math
import pickle
import random
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from cnncost import api
from cnncost.ops.registry import all_ops
from cnncost.spec import loader
from cnncost.spec import model as m

ROOT = Path(__file__).resolve().parents[2]

#: Values of every shape YAML gives, valid for some kinds and not for others.
SCALARS: list[Any] = [
    None, 0, 3, -2, 10**30, True, False, 1.5, float("inf"), float("nan"), "in_channels // 2",
    "same", "3 +", "", "a b", "x" * 5000, b"bytes", {"a": 1}, "__import__('os')", "2 ** 3",
]
VALUES: list[Any] = [
    *SCALARS, [], [3], [3, 5], [3, "k"], [3, 1.5], [True, 1], [[1, 2], [3, 4]], [[1, 2], 3],
    [[1, "x"]], [[1.5]], ["a", "b"], [None], [1, [2, [3]]], [b"x"],
]
KEYS = ["name", "input", "inputs", "when", "nonsense", 3]


def _model_view(op: str, body: Any) -> tuple[dict[str, Any], frozenset[str]] | None:
    """What the model makes of ``body``: (values, keys given), or None when it rejects it."""
    try:  # a bare item (``- relu``, ``{relu: null}``): the model with nothing given
        validated = m.op_model(op).model_validate(body if body is not None else {})
    except ValidationError:
        return None
    return ({k: getattr(validated, k) for k in m._fields_of(op)[0]},
            frozenset(validated.model_fields_set))


def _same(a: Any, b: Any) -> bool:
    """Equal, with NaN equal to itself and the type kept (1 is not 1.0 nor True)."""
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b


def _check(op: str, body: Any) -> bool:
    """Assert the agreement on one body; True when the quick check took it."""
    quick = m.op_args(op, body)
    if quick is None:
        return False
    view = _model_view(op, body)
    assert view is not None, f"{op}: the quick check accepts {body!r}, the model does not"
    values, given = view
    assert quick.model_fields_set == given, (op, body)
    for key, value in values.items():
        assert _same(getattr(quick, key), value), (op, body, key, getattr(quick, key), value)
    return True


@pytest.mark.parametrize("op", sorted(all_ops()))
def test_each_attribute_and_common_key_alone(op: str) -> None:
    accepted = 0
    for key in [*all_ops()[op].attrs, *KEYS]:
        for value in VALUES:
            accepted += _check(op, {key: value})
    assert accepted > 0
    assert _check(op, None) and _check(op, {})


@pytest.mark.parametrize("op", ["conv2d", "max_pool2d", "batch_norm", "linear", "upsample",
                                "pad", "concat", "layer_norm"])
def test_random_bodies(op: str) -> None:
    rng = random.Random(op)
    keys = [*all_ops()[op].attrs, *KEYS]
    taken = 0
    for _ in range(1500):
        chosen = rng.sample(keys, rng.randint(1, min(4, len(keys))))
        taken += _check(op, {k: rng.choice(VALUES) for k in chosen})
    assert taken > 50  # the quick check does take the plainly valid ones


def test_input_and_inputs_together_go_to_the_model() -> None:
    assert m.op_args("add", {"input": "a", "inputs": ["a", "b"]}) is None
    with pytest.raises(ValidationError, match="either 'input' or 'inputs'"):
        m.args_of("add", {"input": "a", "inputs": ["a", "b"]})


def test_what_the_model_coerces_is_taken_as_the_model_makes_it() -> None:
    """Not plainly valid but accepted by the model (its lax ``str`` takes bytes): the model's
    value, as an OpArgs like any other."""
    assert m.op_args("conv2d", {"name": b"c1", "out": 8}) is None
    args = m.args_of("conv2d", {"name": b"c1", "out": 8})
    assert args.name == "c1" and args.out == 8 and args.model_fields_set == {"name", "out"}
    item = m._validate_item({"conv2d": {"name": b"c1", "out": 8}})
    assert m.item_parts(item) == ("conv2d", args)


def test_values_are_copied_and_frozen() -> None:
    kernel = [3, 3]
    args = m.args_of("conv2d", {"out": 8, "kernel": kernel})
    assert args.kernel == kernel and args.kernel is not kernel
    assert args.stride is None and args.model_fields_set == {"out", "kernel"}
    with pytest.raises(AttributeError, match="frozen"):
        args.out = 9  # type: ignore[misc]
    with pytest.raises(AttributeError, match="no argument"):
        args.nonsense  # noqa: B018
    assert args == m.args_of("conv2d", {"kernel": [3, 3], "out": 8})
    assert args != m.args_of("conv2d", {"out": 8})
    assert m.args_of("relu", None) is m.empty_args("relu")
    assert pickle.loads(pickle.dumps(args)) == args == copy.deepcopy(args)
    item = m.OpItem("conv2d", args)
    assert pickle.loads(pickle.dumps(item)) == item and hash(item) == hash(copy.copy(item))


def test_an_alias_resolves_to_the_operator() -> None:
    aliases = [(alias, op) for alias in ("conv", "dense", "bn", "maxpool")
               if (op := m.canonical_name(alias)) is not None and op != alias]
    for alias, op in aliases:
        assert m.args_of(alias, {}).op == op


def test_the_zoo_loads_without_an_operator_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every operator item of every spec in the repository is plainly valid: loading them builds
    no pydantic model per operator (the reason for the quick check)."""
    built: list[str] = []
    model_of = m.op_model

    def recording(op_name: str) -> Any:
        built.append(op_name)
        return model_of(op_name)

    monkeypatch.setattr(loader, "_PARSED", {})  # validate again, not from the parse cache
    monkeypatch.setattr(m, "op_model", recording)
    item_model = m.item_model
    monkeypatch.setattr(m, "item_model", lambda key: pytest.fail(f"item model of {key}")
                        if key not in m.STRUCTURAL else item_model(key))
    paths = sorted(itertools.chain((ROOT / "specs").glob("*.yaml"),
                                   (ROOT / "specs/examples").glob("*.yaml")))
    for path in paths:
        api.load(path)
    assert len(paths) >= 20
    assert built == []
