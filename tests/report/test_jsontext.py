"""report.jsontext writes what json.dumps(indent=2) writes of the plain data, character for
character, and replaces what strict JSON cannot hold."""

from __future__ import annotations

import datetime
import enum
import json
from collections import OrderedDict
from typing import Any, NamedTuple

import pytest

from cnncost.report.jsontext import json_text, plain


class Size(enum.IntEnum):
    SMALL = 3


class Name(str):
    pass


class Ratio(float):
    pass


class Pair(NamedTuple):
    a: int
    b: float


CASES: list[Any] = [
    {},
    [],
    {"a": [], "b": {}, "c": [[]], "d": [{}]},
    {"n": 1, "f": 0.1, "big": 10**40, "neg": -2.5e-300, "t": True, "x": False, "z": None},
    {"text": "é ünicode \"quoted\" \\ back\nslash\t\u0001", "emoji": "🙂"},
    {3: "int key", 2.5: "float key", True: "bool key", None: "none key", (1, 2): "tuple key"},
    {float("nan"): "nan key", "v": [float("nan"), float("inf"), -float("inf")]},
    {"set": {3, 1, 2}, "frozen": frozenset({"b", "a"}), "date": datetime.date(2024, 5, 1)},
    {"enum": Size.SMALL, "str": Name("sub"), "ratio": Ratio(0.5), "pair": Pair(1, 2.0)},
    OrderedDict([("z", 1), ("a", (1, (2, (3,))))]),
    {"layers": [{"name": "a.b", "out_shape": (64, 56, 56), "inputs": ("x",), "ok": True}]},
    "a bare string",
    12,
    [1, [2, [3, [4]]]],
]


@pytest.mark.parametrize("data", CASES)
def test_json_text_is_indented_json_dumps_of_plain_data(data: Any) -> None:
    expected = json.dumps(plain(data), indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    assert json_text(data) == expected


def test_what_strict_json_cannot_hold_is_replaced() -> None:
    data = json.loads(json_text({"nan": float("nan"), "set": {2, 1},
                                 "date": datetime.date(2024, 5, 1)}))
    assert data == {"nan": None, "set": [1, 2], "date": "2024-05-01"}
