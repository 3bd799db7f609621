"""The whitelisted expression evaluator."""

from __future__ import annotations

import math

import pytest

from cnncost.spec.expr import Evaluator, ExpressionError, interpolate, make_divisible


@pytest.mark.parametrize(("text", "expected"), [
    ("7 // 2", 3),
    ("7 / 2", 3.5),
    ("2 ** 10", 1024),
    ("-3 % 5", 2),
    ("min(3, 1, 2) + max([4, 5])", 6),
    ("round(2.5)", 2),  # Python's round: half to even (as Keras' and torchvision's code)
    ("round(3.5)", 4),
    ("ceil(1.2) + floor(1.8)", 3),
    ("2 if depth >= 50 else 1", 2),
    ("{18: [2, 2], 50: [3, 4]}[depth]", [3, 4]),
    ("stages[1:]", [4, 6, 3]),
    ("depth == 50 and not keras", True),
    ("flavor == 'keras' or depth < 10", False),
    ("1 < depth <= 50", True),
    ("'a' in ['a', 'b']", True),
    ("1e-5", 1e-05),  # YAML 1.1 reads 1e-5 as a string: it evaluates to the number
    ("int(32 * 0.75)", 24),
    ("len(stages) + sum(stages)", 20),
    ("sqrt(16)", 4.0),
    ("range(3)", [0, 1, 2]),
    ("True and None is None" if False else "True", True),
])
def test_evaluates(text: str, expected: object) -> None:
    env = {"depth": 50, "keras": False, "flavor": "torchvision", "stages": [3, 4, 6, 3]}
    assert Evaluator(env).evaluate(text) == expected


@pytest.mark.parametrize(("value", "divisor", "expected"), [
    # TensorFlow's _make_divisible: nearest multiple, ties up, never 10 % below
    (32 * 1.0, 8, 32),
    (32 * 0.35, 8, 16),   # 11.2 -> 8 would lose 29 %, bumped to 16
    (24 * 1.1, 8, 24),    # 26.4 -> int(30.4) // 8 * 8 = 24; 24 >= 0.9 * 26.4 = 23.76
    (40 * 1.1, 8, 48),    # 44.0 -> int(48.0) // 8 * 8 = 48
    (3, 8, 8),            # at least min_value = divisor
    (100, 8, 104),        # int(104) // 8 * 8 = 104
])
def test_make_divisible(value: float, divisor: int, expected: int) -> None:
    assert make_divisible(value, divisor) == expected


@pytest.mark.parametrize(("text", "message"), [
    ("__import__('os')", "unknown function '__import__'"),
    ("().__class__", "Attribute is not allowed"),
    ("[x for x in range(3)]", "ListComp is not allowed"),
    ("lambda: 1", "Lambda is not allowed"),
    ("open('f')", "unknown function 'open'"),
    ("2 ** 1000", "exponent 1000 is too large"),
    ("1 / 0", "ZeroDivisionError"),
    ("widht + 1", "unknown name 'widht'; did you mean 'width'?"),
    ("1 +", "invalid expression '1 +'"),
    ("x := 3", "invalid expression"),
    ("a[0]", "unknown name 'a'"),
    ("1 << 2", "LShift is not allowed"),
])
def test_rejects(text: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=None) as info:
        Evaluator({"width": 3}).evaluate(text)
    assert message in str(info.value)


def test_spec_functions_and_names() -> None:
    functions = {"double": lambda v: 2 * v}
    assert Evaluator({"w": 3}, functions).evaluate("double(w) + 1") == 7


def test_interpolate() -> None:
    ev = Evaluator({"i": 2, "s": 1})
    assert interpolate("layer{s + 1}.{i}", ev) == "layer2.2"
    assert interpolate("{{literal}}", ev) == "{literal}"
    with pytest.raises(ExpressionError, match="unclosed"):
        interpolate("x{i", ev)


def test_math_is_exact_for_integers() -> None:
    assert Evaluator({}).evaluate("64 * 2 ** 3") == 512
    assert isinstance(Evaluator({}).evaluate("64 * 2 ** 3"), int)
    assert Evaluator({}).evaluate("ceil(4.0 * 1.1)") == math.ceil(4.4)
