"""YAML text of an imported spec: flow-style items one per line, as the hand-written specs are.
Must not import torch.

``yaml_value`` writes one value (a plain scalar where YAML reads it back as the same value, a
double-quoted string otherwise, floats with a dot and a signed exponent so that YAML 1.1 reads
them as floats); ``flow`` writes ``{key: value, ...}`` wrapped at 100 columns; ``BodyWriter``
writes the items of one body, names relative to it, an input left out where it is the previous
item's output.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from cnncost.importer.ir import INPUT, Expr
from cnncost.importer.items import InputRef, Item, NodeRef, Ref, Slot

WIDTH = 100
_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")
_YAML_WORDS = frozenset({"true", "false", "yes", "no", "on", "off", "null", "y", "n", "~"})


def float_text(value: float) -> str:
    """A float YAML 1.1 reads as a float: ``1.0e-05`` rather than ``1e-05``."""
    text = repr(float(value))
    if "e" in text:
        mantissa, exponent = text.split("e")
        if "." not in mantissa:
            mantissa += ".0"
        if exponent[0] not in "+-":
            exponent = "+" + exponent
        text = f"{mantissa}e{exponent}"
    return text


def yaml_value(value: Any) -> str:
    """One value in flow style."""
    if isinstance(value, Expr):
        return yaml_value(value.text)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return float_text(value)
    if isinstance(value, str):
        if _PLAIN.match(value) and value.lower() not in _YAML_WORDS:
            return value
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(yaml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return flow(value)
    raise TypeError(f"cannot write {type(value).__name__} in a spec")


def flow(mapping: Mapping[str, Any], indent: int = 0) -> str:
    """``{k: v, ...}`` whose ``{`` is at column ``indent``, wrapped after ``WIDTH`` columns:
    continuations align after the ``{``; a nested mapping too long for its line wraps the
    same way after its own ``{``."""
    items = list(mapping.items())
    if not items:
        return "{}"
    lines: list[str] = []
    line, offset = "{", indent
    for k, (key, value) in enumerate(items):
        end = "}" if k == len(items) - 1 else ","
        head = f"{yaml_value(key)}: "
        single = head + yaml_value(value) + end
        sep = "" if line.endswith("{") else " "
        if not line.endswith("{") and offset + len(line) + 1 + len(single) > WIDTH:
            lines.append(line)
            line, offset, sep = " " * (indent + 1), 0, ""
        column = offset + len(line) + len(sep)
        pieces = _wrapped(value, column + len(head), indent) \
            if column + len(single) > WIDTH else None
        if pieces is not None:  # the value's own lines, spliced into the mapping's
            line += sep + head + pieces[0]
            if len(pieces) > 1:
                lines.append(line)
                lines += pieces[1:-1]
                line, offset = pieces[-1], 0
            line += end
        else:
            line += sep + single
    lines.append(line)
    return "\n".join(lines)


def _wrapped(value: Any, column: int, indent: int) -> list[str] | None:
    """The lines of a value too long for its line that starts at ``column``: quoted text folded
    inside its quotes, a list or a mapping wrapped after its bracket; None: it stays whole."""
    if isinstance(value, (str, Expr)) and yaml_value(value).startswith('"'):
        return _fold(yaml_value(value), column, indent + 3)
    if isinstance(value, (list, tuple)) and value:
        return _sequence([yaml_value(v) for v in value], column)
    if isinstance(value, Mapping):
        return flow(value, column).split("\n")
    return None


def _sequence(items: list[str], column: int) -> list[str]:
    """``[a, b, ...]`` whose ``[`` is at ``column``, wrapped with items aligned after it."""
    lines, line, offset = [], "[", column
    for k, item in enumerate(items):
        piece = item + ("]" if k == len(items) - 1 else ",")
        if line.strip() not in ("[", "") and offset + len(line) + 1 + len(piece) > WIDTH:
            lines.append(line)
            line, offset = " " * (column + 1) + piece, 0
        else:
            line += ("" if line.endswith("[") or not line.strip() else " ") + piece
    lines.append(line)
    return lines


def _fold(quoted: str, column: int, indent: int) -> list[str]:
    """A double-quoted scalar over several lines, broken after ``, `` (YAML folds each line
    break inside the quotes into one space, which an expression reads as it reads ``, ``)."""
    parts = quoted.split(", ")
    lines, line, width = [], parts[0], WIDTH - column
    for part in parts[1:]:
        if len(line) + 1 + len(part) + 2 > width:
            lines.append(line + ",")
            line, width = " " * indent + part, WIDTH
        else:
            line += ", " + part
    lines.append(line)
    return lines


def call_value(value: Any) -> Any:
    """A block-call argument: every argument is an expression, so a string is quoted."""
    if isinstance(value, str):
        return Expr(repr(value), value)
    return value


class BodyWriter:
    """Writes the items of one body (see the module docstring)."""

    def __init__(self, inputs: list[str] | None, defaults: Mapping[str, Mapping[str, Any]],
                 op_default: Any) -> None:
        #: the block's input names (None at the top level, which reads the graph input)
        self.inputs = inputs
        self.defaults = defaults
        self.op_default = op_default

    def _ref(self, ref: Ref, outputs: dict[str, str]) -> str:
        if isinstance(ref, InputRef):
            assert self.inputs is not None
            return self.inputs[ref.index]
        return outputs.get(ref.name, ref.name)

    def _slot(self, slot: Slot, outputs: dict[str, str]) -> str:
        return "|".join(self._ref(r, outputs) for r in slot)

    def lines(self, items: list[Item], indent: int) -> list[str]:
        out: list[str] = []
        outputs: dict[str, str] = {}  # a call's output node -> the call's name
        previous: Ref | None = InputRef(0) if self.inputs is not None else NodeRef(INPUT)
        previous_when: str | None = None
        for item in items:
            fields: dict[str, Any] = {}
            if item.kind == "repeat":  # item.name: the prefix, its separator included
                plain = item.start == 0 and item.name.endswith(".")
                fields["name"] = item.name[:-1] if plain else (
                    f"{item.name}{{i + {item.start}}}".replace(" + 0}", "}"))
            else:
                fields["name"] = item.name
            chained = (len(item.slots) == 1 and item.slots[0] == (previous,)
                       and previous_when in (None, item.when))
            if not chained:
                refs = [self._slot(slot, outputs) for slot in item.slots]
                if len(refs) == 1:
                    fields["input"] = refs[0]
                else:
                    fields["inputs"] = refs
            if item.when:
                fields["when"] = item.when
            key = item.key
            if item.kind == "op":
                fields.update(self._attrs(item))
            elif item.kind == "call":
                fields.update({k: call_value(v) for k, v in item.attrs.items()})
            else:
                fields.update({"times": item.times, "block": item.key})
                if item.attrs:
                    fields["args"] = {k: call_value(v) for k, v in item.attrs.items()}
                key = "repeat"
            if item.key == "unknown":
                key = "UNSUPPORTED"
            prefix = " " * indent + f"- {key}: "
            out.append(prefix + flow(fields, len(prefix)))
            if item.kind == "call":
                outputs[item.output] = item.name
            elif item.kind == "repeat":
                outputs[item.output] = f"{item.name}{item.start + item.times - 1}"
            previous, previous_when = NodeRef(item.output), item.when
        return out

    def _attrs(self, item: Item) -> dict[str, Any]:
        """The attributes that differ from the effective default (spec, else registry)."""
        if item.key == "unknown":
            return dict(item.attrs)
        spec = self.defaults.get(item.key, {})
        out = {}
        for key, value in item.attrs.items():
            default = spec[key] if key in spec else self.op_default(item.key, key)
            if isinstance(value, Expr) or not _same(value, default):
                out[key] = value
        return out


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return list(a) == list(b)
    return type(a) is type(b) and a == b
