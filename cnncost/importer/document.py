"""The imported spec as text: parameters, input, defaults, documented figures, blocks, layers.
Must not import torch.

``spec_text(graph, meta)`` runs the structure pass and writes the spec. The network's
parameters stay parameters: the input's height and width are ``resolution`` (``height`` and
``width`` when they differ) and the layers that produce the output's channels (the classifier)
read ``num_classes``. Per-operator defaults are the most common value of each flag-like
attribute (``bias``, ``inplace``, ``epsilon``; never a size) where it differs from the operator's
own default, so that items say only what is particular to them.
"""

from __future__ import annotations

import textwrap
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from cnncost.importer.blocks import BlockDef
from cnncost.importer.emit import BodyWriter, call_value, flow, yaml_value
from cnncost.importer.ir import Expr, ImportedGraph, Layer
from cnncost.importer.items import Item
from cnncost.importer.structure import Structure, structure
from cnncost.ops.registry import get_op

#: Attribute kinds a spec-wide default may set (flags, epsilons, modes): never a size.
_DEFAULTABLE = frozenset({"bool", "float", "choice", "str", "act"})

#: Operators whose ``out`` is a channel count a classifier sets.
_WEIGHTED = ("conv2d", "linear")


@dataclass
class SpecMeta:
    """What the spec says about where it came from."""

    name: str
    title: str
    description: str
    sources: dict[str, str] = field(default_factory=dict)
    documented: list[dict[str, Any]] = field(default_factory=list)
    header: list[str] = field(default_factory=list)


def mark_classes(graph: ImportedGraph) -> int | None:
    """Write ``out: num_classes`` on the layers that produce each output's channels (walking
    back from an output through layers that keep that channel count); the class count."""
    by_name = {layer.name: layer for layer in graph.layers}
    classes = None
    for out in graph.outputs:
        layer = by_name.get(out)
        if layer is None or not layer.shape:
            continue
        channels = layer.shape[0]
        stack, seen, found = [out], set(), []
        while stack:
            name = stack.pop()
            node = by_name.get(name)
            if node is None or name in seen or not node.shape or node.shape[0] != channels:
                continue
            seen.add(name)
            if node.op in _WEIGHTED and node.attrs.get("out") == channels:
                found.append(node)
                continue
            stack.extend(node.inputs)
        if found and (classes is None or classes == channels):
            classes = channels
            for node in found:
                node.attrs["out"] = Expr("num_classes", channels)
    return classes


def _op_default(op: str, key: str) -> Any:
    attr = get_op(op).attrs.get(key)
    if attr is None or attr.required:
        return None
    return list(attr.default) if isinstance(attr.default, tuple) else attr.default


def _defaults(items: list[Item]) -> dict[str, dict[str, Any]]:
    counts: dict[tuple[str, str], Counter[str]] = {}
    values: dict[str, Any] = {}
    for item in items:
        if item.kind != "op" or item.key == "unknown":
            continue
        for key, value in item.attrs.items():
            if isinstance(value, Expr):
                continue
            text = repr(value)
            values[text] = value
            counts.setdefault((item.key, key), Counter())[text] += 1
    out: dict[str, dict[str, Any]] = {}
    for (op, key), counter in counts.items():
        text, n = counter.most_common(1)[0]
        value = values[text]
        attr = get_op(op).attrs[key]
        if attr.required or attr.kind not in _DEFAULTABLE:  # geometry is said each time
            continue
        if n >= 2 and repr(_op_default(op, key)) != text:
            out.setdefault(op, {})[key] = value
    return out


def _all_items(items: list[Item], blocks: list[BlockDef]) -> list[Item]:
    return [*items, *(it for b in blocks for it in b.items)]


def _input_lines(graph: ImportedGraph) -> tuple[dict[str, Any], str]:
    shape = graph.input_shape
    if len(shape) == 3 and shape[1] == shape[2]:
        return {"resolution": shape[1]}, (f"input: {{channels: {shape[0]}, height: resolution, "
                                          "width: resolution}")
    if len(shape) == 3:
        return ({"height": shape[1], "width": shape[2]},
                f"input: {{channels: {shape[0]}, height: height, width: width}}")
    return {}, f"input: {{shape: {yaml_value(list(shape))}}}"


def _text(key: str, text: str, indent: int) -> list[str]:
    """``key: text``, as a folded scalar wrapped at 100 columns when it is longer."""
    pad = " " * indent
    line = f"{pad}{key}: {yaml_value(text)}"
    if len(line) <= 100:
        return [line]
    return [f"{pad}{key}: >-", *textwrap.wrap(text, 100 - indent - 2, initial_indent=pad + "  ",
                                              subsequent_indent=pad + "  ",
                                              break_long_words=False, break_on_hyphens=False)]


def _block_lines(block: BlockDef, defaults: dict[str, dict[str, Any]]) -> list[str]:
    lines = [f"  {block.name}:    # {block.cls}, {block.instances} instances"]
    if block.args:
        lines.append("    args: " + flow({k: call_value(v) for k, v in block.args.items()}, 10))
    names = ["input"] + [f"input_{k}" for k in range(1, block.inputs)]
    if block.inputs > 1:
        lines.append(f"    inputs: {yaml_value(names)}")
    lines.append("    layers:")
    lines += BodyWriter(names, defaults, _op_default).lines(block.items, 6)
    return lines


def spec_text(graph: ImportedGraph, meta: SpecMeta) -> tuple[str, Structure]:
    """The YAML of the imported spec, and the structure it was written from."""
    classes = mark_classes(graph)
    built = structure(graph)
    defaults = _defaults(_all_items(built.items, built.blocks))
    params, input_line = _input_lines(graph)
    if classes is not None:
        params["num_classes"] = classes
    lines = [*(f"# {h}" for h in meta.header), f"name: {yaml_value(meta.name)}",
             f"title: {yaml_value(meta.title)}", *_text("description", meta.description, 0)]
    if meta.sources:
        lines.append("sources:")
        for key, value in meta.sources.items():
            lines += _text(key, value, 2)
    lines.append("params: " + flow(params, 8))
    lines.append(input_line)
    if defaults:
        lines.append("defaults:")
        lines += [f"  {op}: {flow(attrs, len(op) + 4)}" for op, attrs in defaults.items()]
    if meta.documented:
        lines.append("documented:")
        lines += ["  - " + flow(d, 4) for d in meta.documented]
    if built.blocks:
        lines.append("blocks:")
        for block in built.blocks:
            lines += _block_lines(block, defaults)
    lines.append("layers:")
    lines += BodyWriter(None, defaults, _op_default).lines(built.items, 2)
    last = built.items[-1].output if built.items else None
    if list(graph.outputs) != [last] or graph.output_keys:
        keys = (f"    # the model returns {{{', '.join(graph.output_keys)}}}"
                if len(graph.output_keys) == len(graph.outputs) else "")
        lines.append(f"outputs: {yaml_value(list(graph.outputs))}{keys}")
    return "\n".join(lines) + "\n", built


def layer_names(graph: ImportedGraph) -> list[str]:
    """The node names the spec will have (the importer checks the expanded spec against them)."""
    return [layer.name for layer in graph.layers]


__all__ = ["Layer", "SpecMeta", "layer_names", "mark_classes", "spec_text"]
