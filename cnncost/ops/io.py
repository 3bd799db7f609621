"""Graph inputs: the ``input`` operator (arity 0). Must not import torch."""

from __future__ import annotations

from cnncost.ops.kinds import define
from cnncost.ops.registry import Attr, OpContext, OpDef, Shape, positive


def _input_infer(ctx: OpContext) -> Shape:
    shape = tuple(ctx.attrs["shape"])
    for size in shape:
        positive("every input dimension", size)
    return shape


define(OpDef(
    name="input",
    doc="A model input of the given per-sample shape ((C, H, W) or (F,)), batch excluded: zero "
        "cost.",
    family="io",
    attrs={"shape": Attr("ints", doc="per-sample shape, e.g. [3, 224, 224]")},
    infer=_input_infer,
    arity=(0, 0),
    fvcore=lambda ctx: 0, connections=lambda ctx: 0,
    zero_cost="the input tensor is given, not computed",
    memory=lambda p: p.inputs[0],
))
