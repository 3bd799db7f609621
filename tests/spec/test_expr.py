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
    ("exp(0)", 1.0),
    ("log(exp(2))", 2.0),
    ("log(8, 2)", 3.0),
    ("log2(1024)", 10.0),
    # RegNetX-400MF's width quantization, 2nd block: round(log(48.48 / 24) / log(2.54)) =
    # round(0.754) = 1
    ("round(log((24 + 24.48) / 24) / log(2.54))", 1),
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
    ("log(0)", "ValueError: math domain error"),
    ("log2(-1)", "ValueError: math domain error"),
    ("exp(1000)", "OverflowError: math range error"),
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


# --------------------------------------------------------------------------- the budget

from cnncost import limits
from cnncost.spec.expr import Budget, BudgetExceeded, SpecFunction


@pytest.mark.parametrize(("text", "message"), [
    # sizes are refused before the value is built: 'x' * 100_001 is one character too many
    ("len('x' * 100001)", "more than 100,000 characters or elements"),
    ("len([0] * 50001 + [0] * 50000)", "more than 100,000 characters or elements"),
    # nested: a list of 2 strings of 50,001 characters holds 100,004 characters and elements
    ("len(['x' * 50001] * 2)", "more than 100,000 characters or elements"),
    ("len(str(['x' * 99999] * 99999))", "more than 100,000 characters or elements"),
    ("len(range(100001))", "more than 100,000 characters or elements"),
    (" * ".join(["2**64"] * 65),  # 65 * 64 = 4,160 bits
     "an integer of more than 4,096 bits"),
    ("sum([[1]], [])", "sum adds numbers only"),
    ("'%9999d' % 1", "string formatting with % is not allowed"),
    ("1e308 * 10", "not a finite number"),
    ("round(10, -1000)", "round's digits must be an integer from -100 to 100"),
])
def test_budget_refuses(text: str, message: str) -> None:
    with pytest.raises(ExpressionError) as info:
        Evaluator({}).evaluate(text)
    assert message in str(info.value)


def test_the_largest_allowed_values_pass() -> None:
    assert Evaluator({}).evaluate("len('x' * 100000)") == 100_000
    assert Evaluator({}).evaluate("len(range(100000))") == 100_000
    assert Evaluator({}).evaluate("2**64 * 2**64") == 2**128  # 129 bits


def test_keyword_unpacking_is_refused_and_keywords_reach_spec_functions() -> None:
    with pytest.raises(ExpressionError, match=r"\*\*keyword unpacking is not allowed"):
        Evaluator({}).evaluate("max(1, **{'key': 2})")
    functions: dict = {}
    functions["scale"] = SpecFunction("scale", ["x", "k"], "x * k", {}, functions)
    assert Evaluator({}, functions).evaluate("scale(3, k=4) + scale(k=2, x=5)") == 22
    with pytest.raises(ExpressionError, match="unexpected or repeated argument 'y'"):
        Evaluator({}, functions).evaluate("scale(3, y=4)")


def test_spec_functions_share_the_budget() -> None:
    functions: dict = {}
    # f(n) calls f(n - 1) twice: 2**30 calls, refused after the steps of a few thousand
    functions["f"] = SpecFunction("f", ["n"], "1 if n == 0 else f(n - 1) + f(n - 1)", {},
                                  functions)
    with pytest.raises(BudgetExceeded, match="'f\\(30\\)': more than 100,000 evaluation steps"):
        Evaluator({}, functions).evaluate("f(30)")
    assert Evaluator({}, functions).evaluate("f(5)") == 32
    functions["g"] = SpecFunction("g", ["n"], "g(n + 1)", {}, functions)
    with pytest.raises(BudgetExceeded, match="call each other more than 100 deep"):
        Evaluator({}, functions).evaluate("g(0)")


def test_steps_are_per_expression_and_in_total() -> None:
    with limits.using(max_expression_steps=10, max_total_steps=25):
        budget = Budget()
        ev = Evaluator({"a": 1}, budget=budget)
        # a step per syntax node: BinOp, Add, two Names and their two Load contexts = 6
        assert ev.evaluate("a + a") == 2
        with pytest.raises(BudgetExceeded, match="more than 10 evaluation steps"):
            ev.evaluate("a + a + a + a")  # 3 BinOps, 3 Adds, 4 Names, 4 Loads = 14
        # 25 - 6 - 14 = 5 steps are left in all, short of the next 6
        with pytest.raises(BudgetExceeded, match="25 evaluation steps in all"):
            ev.evaluate("a + a")


def test_long_and_deep_expressions() -> None:
    with pytest.raises(ExpressionError, match="has 2,001 characters; at most 2,000"):
        Evaluator({}).evaluate("1" * 2001)
    with pytest.raises(ExpressionError, match="nests more than 100 levels"):
        Evaluator({}).evaluate("-" * 150 + "1")
