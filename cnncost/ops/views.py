"""Views: slice, split, chunk, permute, transpose. Must not import torch.

The shape family's operators that PyTorch computes as views of their input (no new tensor, no
arithmetic): zero cost, fvcore 0, connections 0. Axes are per sample: 0 is the channel axis of a
``(C, H, W)`` map (torch's ``dim=1``); negative axes are not accepted, as for ``concat``.

- ``slice`` keeps ``[start, stop)`` of one axis (``x.narrow(dim, start, stop - start)``);
- ``split`` cuts one axis into parts of the given sizes and keeps part ``index``
  (``torch.split(x, sizes, dim)[index]``): the sizes must add up to the axis;
- ``chunk`` cuts one axis into ``chunks`` parts as ``torch.chunk`` does (each ``ceil(L / chunks)``
  long, the last one shorter; PyTorch returns fewer parts when that leaves nothing for the last
  ones) and keeps part ``index`` (``torch.chunk(x, chunks, dim)[index]``);
- ``permute`` reorders the axes (``x.permute(0, *[d + 1 for d in dims])``), ``transpose`` swaps
  two (``x.transpose(a + 1, b + 1)``).

A graph node has one output, so a network that uses both halves of a split (ShuffleNetV2's
channel split) has two nodes reading the same input, one per part.
"""

from __future__ import annotations

from typing import Any

from cnncost.errors import OpArgumentError
from cnncost.memory.program import Back, Backward, Prog, Val, slice_grad
from cnncost.ops.kinds import define
from cnncost.ops.registry import Attr, OpContext, OpDef, Shape, positive


def _zero(ctx: OpContext) -> int:
    return 0


def _axis(ctx: OpContext, op: str) -> int:
    axis, shape = ctx.attrs["axis"], ctx.in_shape
    if not 0 <= axis < len(shape):
        raise OpArgumentError(
            f"axis {axis} is out of range for shape {shape}; axes are per sample, 0 = channels "
            f"(torch's dim=1 is axis 0; negative axes are not accepted)")
    return axis


def _with(shape: Shape, axis: int, size: int) -> Shape:
    return (*shape[:axis], size, *shape[axis + 1:])


# -- slice, split, chunk: a range [start, stop) of one axis ---------------------------------------

def _slice_range(ctx: OpContext) -> tuple[int, int, int]:
    """(axis, start, stop) of a slice."""
    axis = _axis(ctx, "slice")
    length = ctx.in_shape[axis]
    start, stop = ctx.attrs["start"], ctx.attrs["stop"]
    stop = length if stop is None else stop
    if not 0 <= start < stop <= length:
        raise OpArgumentError(
            f"slice [{start}, {stop}) is not a non-empty range of axis {axis} (length {length}); "
            f"give 0 <= start < stop <= {length}")
    return axis, start, stop


def _split_range(ctx: OpContext) -> tuple[int, int, int]:
    """(axis, start, stop) of the kept part of a split."""
    axis = _axis(ctx, "split")
    length, sizes, index = ctx.in_shape[axis], list(ctx.attrs["sizes"]), ctx.attrs["index"]
    if not sizes or any(s <= 0 for s in sizes):
        raise OpArgumentError(f"split sizes must be positive, got {sizes}")
    if sum(sizes) != length:
        raise OpArgumentError(
            f"split sizes {sizes} add up to {sum(sizes)}, but axis {axis} has {length}: the "
            f"parts must divide the axis exactly")
    if not 0 <= index < len(sizes):
        raise OpArgumentError(f"index {index} is not one of the {len(sizes)} parts (0 to "
                              f"{len(sizes) - 1})")
    start = sum(sizes[:index])
    return axis, start, start + sizes[index]


def chunk_sizes(length: int, chunks: int) -> list[int]:
    """``torch.chunk``'s parts of an axis of ``length``: ``ceil(length / chunks)`` each, the last
    shorter, as many as that takes (possibly fewer than ``chunks``)."""
    size = -(-length // chunks)
    return [min(size, length - start) for start in range(0, length, size)]


def _chunk_range(ctx: OpContext) -> tuple[int, int, int]:
    """(axis, start, stop) of the kept chunk."""
    axis = _axis(ctx, "chunk")
    chunks, index = positive("chunks", ctx.attrs["chunks"]), ctx.attrs["index"]
    length = ctx.in_shape[axis]
    sizes = chunk_sizes(length, chunks)
    if not 0 <= index < len(sizes):
        fewer = (f" (torch.chunk makes only {len(sizes)} parts of {length}: {sizes})"
                 if len(sizes) < chunks else "")
        raise OpArgumentError(f"index {index} is not one of the {len(sizes)} chunks (0 to "
                              f"{len(sizes) - 1}){fewer}")
    start = sum(sizes[:index])
    return axis, start, start + sizes[index]


def _range_infer(kept: Any) -> Any:
    def infer(ctx: OpContext) -> Shape:
        axis, start, stop = kept(ctx)
        return _with(ctx.in_shape, axis, stop - start)
    return infer


def sliced_contiguous(shape: Shape, axis: int, kept: int) -> bool:
    """Whether the per-sample axes of a slice of ``axis`` (``kept`` of ``shape[axis]``) still
    merge without a copy: every axis before it has size 1, or nothing was cut."""
    return kept == shape[axis] or all(d == 1 for d in shape[:axis])


def _split_grad(parts: list[int]) -> Backward:
    """``split_backward`` with one gradient defined (the bridge keeps one part): ``zeros`` for
    every other part (``parts``: their element counts), then ``cat`` of the parts into the
    input's gradient; the zeros die when it returns."""

    def rule(b: Back) -> None:
        g = b.grad(0)
        assert g is not None
        zeros = [b.op("zeros", [(n, g.dtype)])[0] for n in parts]
        total = b.op("cat", [(b.inputs[0].numel, g.dtype)])[0]
        b.drop(*zeros)
        b.give(0, total)
    return rule


def _range_memory(kept: Any, label: str) -> Any:
    def rule(p: Prog) -> Val:
        axis, start, stop = kept(p.ctx)
        x, shape = p.inputs[0], p.ctx.in_shape
        merged = x.contiguous and sliced_contiguous(shape, axis, stop - start)
        layout = "contiguous" if merged else "strided"
        if label == "slice":
            return p.view(x, p.out_numel, "slice", grad=slice_grad, layout=layout)
        sizes = (list(p.ctx.attrs["sizes"]) if label == "split_with_sizes"
                 else chunk_sizes(shape[axis], p.ctx.attrs["chunks"]))
        others = [p.numel(_with(shape, axis, n)) for i, n in enumerate(sizes)
                  if sum(sizes[:i]) != start]
        return p.view(x, p.out_numel, label, grad=_split_grad(others), layout=layout)
    return rule


_AXIS = Attr("int", 0, "per-sample axis, 0 = channels (torch's dim=1); no negative axes")
_INDEX = Attr("int", doc="which part to keep, from 0")

define(OpDef(
    name="slice",
    doc="A contiguous range [start, stop) of one per-sample axis, a view (x.narrow(axis + 1, "
        "start, stop - start)): zero cost.",
    family="shape",
    attrs={"start": Attr("int", 0, "first index kept"),
           "stop": Attr("int", None, "one past the last index kept; null: to the end"),
           "axis": _AXIS},
    infer=_range_infer(_slice_range),
    zero_cost="a view of the input", fvcore=_zero, connections=_zero,
    memory=_range_memory(_slice_range, "slice"),
))

define(OpDef(
    name="split",
    doc="One part of a split of a per-sample axis into parts of the given sizes, which must add "
        "up to the axis (torch.split(x, sizes, axis + 1)[index]), a view: zero cost.",
    family="shape",
    attrs={"sizes": Attr("ints", doc="the size of every part, adding up to the axis"),
           "index": _INDEX, "axis": _AXIS},
    infer=_range_infer(_split_range),
    zero_cost="a view of the input", fvcore=_zero, connections=_zero,
    memory=_range_memory(_split_range, "split_with_sizes"),
))

define(OpDef(
    name="chunk",
    doc="One of torch.chunk's parts of a per-sample axis (ceil(L / chunks) each, the last "
        "shorter; torch.chunk(x, chunks, axis + 1)[index]), a view: zero cost.",
    family="shape",
    attrs={"chunks": Attr("int", doc="how many parts torch.chunk is asked for"),
           "index": _INDEX, "axis": _AXIS},
    infer=_range_infer(_chunk_range),
    zero_cost="a view of the input", fvcore=_zero, connections=_zero,
    memory=_range_memory(_chunk_range, "split"),
))


# -- permute, transpose ----------------------------------------------------------------------------

def _permutation(ctx: OpContext, op: str) -> list[int]:
    """The permutation of the per-sample axes that ``permute`` / ``transpose`` applies."""
    rank, dims = len(ctx.in_shape), list(ctx.attrs["dims"])
    if op == "transpose":
        if len(dims) != 2 or any(not 0 <= d < rank for d in dims):
            raise OpArgumentError(
                f"transpose swaps two per-sample axes in [0, {rank}), got dims {dims}")
        order = list(range(rank))
        order[dims[0]], order[dims[1]] = order[dims[1]], order[dims[0]]
        return order
    if sorted(dims) != list(range(rank)):
        raise OpArgumentError(
            f"permute needs a permutation of the {rank} per-sample axes {list(range(rank))} "
            f"(the batch axis stays first; torch's permute(0, 2, 3, 1) is dims [1, 2, 0]), got "
            f"{dims}")
    return dims


def _permuted_infer(op: str) -> Any:
    def infer(ctx: OpContext) -> Shape:
        return tuple(ctx.in_shape[d] for d in _permutation(ctx, op))
    return infer


def permuted_contiguous(shape: Shape, order: list[int]) -> bool:
    """Whether a permutation leaves the axes longer than 1 in their order (still a plain
    layout: a later reshape is a view)."""
    moved = [d for d in order if shape[d] != 1]
    return moved == sorted(moved)


def _permute_memory(op: str) -> Any:
    def rule(p: Prog) -> Val:
        x, order = p.inputs[0], _permutation(p.ctx, op)
        if permuted_contiguous(p.ctx.in_shape, order):
            return p.view(x, label=op)
        return p.view(x, label=op, layout="permuted" if x.contiguous else "strided")
    return rule


define(OpDef(
    name="permute",
    doc="Reorders the per-sample axes (x.permute(0, *[d + 1 for d in dims])), a view: zero "
        "cost. [1, 2, 0] makes a (C, H, W) map channels-last (H, W, C).",
    family="shape",
    attrs={"dims": Attr("ints", doc="the new order of the per-sample axes")},
    infer=_permuted_infer("permute"),
    zero_cost="a view of the input", fvcore=_zero, connections=_zero,
    memory=_permute_memory("permute"),
))

define(OpDef(
    name="transpose",
    doc="Swaps two per-sample axes (x.transpose(a + 1, b + 1)), a view: zero cost.",
    family="shape",
    attrs={"dims": Attr("ints", doc="the two per-sample axes [a, b] to swap")},
    infer=_permuted_infer("transpose"),
    zero_cost="a view of the input", fvcore=_zero, connections=_zero,
    memory=_permute_memory("transpose"),
))
