"""Strict, indented JSON of report data, in one pass. Must not import torch.

``json_text(data)`` is ``json.dumps(plain(data), indent=2, ensure_ascii=False, allow_nan=False)``
plus a newline, character for character: what strict JSON cannot hold is replaced (a NaN or
infinite float becomes null, a set becomes a sorted list, anything that is not a number, text,
list or mapping, such as a YAML date in ``params``, becomes its text), and the text is written
as it goes. The standard library writes indented JSON with its pure-Python encoder (its C
encoder has no indentation in Python 3.11), through a generator per container: for the report
of a large network, with its memory rows, that is most of the time of ``--format json``.
"""

from __future__ import annotations

import math
from json.encoder import encode_basestring
from typing import Any

_FLOAT = float.__repr__
_INT = int.__repr__


def json_text(data: Any) -> str:
    """Indented, strict JSON (RFC 8259: no NaN or Infinity) of ``data``, key order kept."""
    out: list[str] = []
    _write(data, "\n", out.append)
    out.append("\n")
    return "".join(out)


def plain(value: Any) -> Any:
    """``value`` with what strict JSON cannot hold replaced (see the module docstring)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, dict):
        return {_key(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return [plain(v) for v in sorted(value, key=str)]
    return str(value)


def _key(key: Any) -> Any:
    keep = key is None or isinstance(key, (str, int)) or (
        isinstance(key, float) and math.isfinite(key))
    return key if keep else str(key)


def _key_text(key: Any) -> str:
    """A mapping key as JSON writes it: always a string (``json.dumps``' conversions)."""
    key = _key(key)
    if isinstance(key, str):
        return encode_basestring(key)
    if key is True:
        return '"true"'
    if key is False:
        return '"false"'
    if key is None:
        return '"null"'
    return '"' + (_FLOAT(key) if isinstance(key, float) else _INT(key)) + '"'


def _write(value: Any, newline: str, emit: Any) -> None:
    kind = type(value)
    if kind is str:
        emit(encode_basestring(value))
    elif kind is int:
        emit(_INT(value))
    elif value is None:
        emit("null")
    elif value is True:
        emit("true")
    elif value is False:
        emit("false")
    elif kind is float:
        emit(_FLOAT(value) if math.isfinite(value) else "null")
    elif kind is dict:
        if not value:
            emit("{}")
            return
        inner = newline + "  "
        separator = "{" + inner
        for key, item in value.items():
            emit(separator)
            emit(encode_basestring(key) if type(key) is str else _key_text(key))
            emit(": ")
            _write(item, inner, emit)
            separator = "," + inner
        emit(newline + "}")
    elif kind is list or kind is tuple:
        if not value:
            emit("[]")
            return
        inner = newline + "  "
        separator = "[" + inner
        for item in value:
            emit(separator)
            _write(item, inner, emit)
            separator = "," + inner
        emit(newline + "]")
    else:  # subclasses and everything else: as ``plain`` makes them
        converted = plain(value)
        if converted is not value:
            _write(converted, newline, emit)
        elif isinstance(value, float):
            emit(_FLOAT(value))
        elif isinstance(value, int):
            emit(_INT(value))
        else:  # a str subclass
            emit(encode_basestring(value))
