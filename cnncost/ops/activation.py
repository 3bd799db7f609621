"""Activations and the arithmetic of fused ``act`` attributes. Must not import torch.

Shape-preserving, element-wise except softmax; the engine costs a conv's or linear's fused ``act``
through ``activation_arithmetic``.

Per element, elementary functions (exp, tanh, erf) count 1 FLOP each. Connections are 0 (LeCun
counts the squashing function as part of its layer); fvcore ignores activations (None).
"""

from __future__ import annotations

from collections.abc import Mapping
from math import prod
from typing import Any

from cnncost.errors import OpArgumentError, ShapeError
from cnncost.memory.program import Prog, Val, grads_like
from cnncost.ops.kinds import define
from cnncost.ops.registry import Arithmetic, Attr, OpContext, OpDef, Shape

_GELU_APPROXIMATE = ("none", "tanh")

# name: (FLOPs per element, attributes, doc)
_ACTIVATIONS: dict[str, tuple[int, dict[str, Attr], str]] = {
    "relu": (1, {}, "max(x, 0): 1 compare per element."),
    "relu6": (2, {}, "min(max(x, 0), 6): 2 compares per element."),
    "leaky_relu": (
        2, {"alpha": Attr("float", 0.01, "slope for x < 0")},
        "x if x > 0 else alpha*x: 1 compare + 1 multiply per element."),
    "sigmoid": (4, {}, "1 / (1 + exp(-x)): negate, exp, add, divide = 4 per element."),
    "hard_sigmoid": (
        4, {}, ("relu6(x + 3) / 6: add, 2 compares, divide = 4 per element (torch's "
                "Hardsigmoid; Keras 2's 0.2*x + 0.5 slope is not modelled separately).")),
    "tanh": (1, {}, "tanh(x): 1 per element."),
    "scaled_tanh": (
        3, {"amplitude": Attr("float", 1.7159, "A"), "slope": Attr("float", 0.6667, "S")},
        "LeCun's A*tanh(S*x): multiply, tanh, multiply = 3 per element."),
    "swish": (5, {}, "x * sigmoid(x) (alias silu): sigmoid 4 + multiply = 5 per element."),
    "hard_swish": (5, {}, "x * relu6(x + 3) / 6: hard_sigmoid 4 + multiply = 5 per element."),
    "gelu": (
        5, {"approximate": Attr("choice", "none", "erf form or tanh approximation",
                                choices=_GELU_APPROXIMATE)},
        ("x/2 * (1 + erf(x/sqrt(2))): 5 per element; approximate=tanh, "
         "x/2 * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3))): 9 per element.")),
    "softmax": (
        5, {}, ("exp(x - max) / sum over channels (axis 0): max, subtract, exp, add, divide = "
                "5 per element.")),
}
_ALIASES = {"silu": "swish"}


def _canonical(name: str) -> str:
    canonical = _ALIASES.get(name, name)
    if canonical not in _ACTIVATIONS:
        known = ", ".join(sorted((*_ACTIVATIONS, *_ALIASES)))
        raise OpArgumentError(f"unknown activation {name!r}; expected one of: {known}")
    return canonical


def check_activation(name: str | None, inplace: bool = False) -> None:
    """Validate a fused ``act`` attribute: an activation's name, or null / ``''`` for none (specs
    write ``act: "{'relu' if keras else ''}"``).

    Raises:
        OpArgumentError: ``name`` is not an activation.
    """
    if name is not None and not isinstance(name, str):
        raise OpArgumentError(f"act must be an activation's name or null, got {name!r}")
    if name:
        canonical = _canonical(name)
        if inplace and canonical not in INPLACE_ACTIVATIONS:
            raise OpArgumentError(
                f"{name} has no in-place form in torch; act_inplace needs one of "
                f"{', '.join(INPLACE_ACTIVATIONS)}")


def _per_element(name: str, attrs: Mapping[str, Any]) -> int:
    if name == "gelu":
        approximate = attrs.get("approximate", "none")
        if approximate not in _GELU_APPROXIMATE:
            raise OpArgumentError(f"approximate must be one of 'none', 'tanh', got {approximate!r}")
        return 9 if approximate == "tanh" else 5
    return _ACTIVATIONS[name][0]


def activation_arithmetic(name: str | None, shape: Shape,
                          attrs: Mapping[str, Any] | None = None) -> Arithmetic:
    """Arithmetic of activation ``name`` (alias allowed) on a tensor of ``shape``, with default
    arguments unless ``attrs`` are given: ``other = numel * per-element FLOPs``. A fused ``act``
    of null or ``''`` (none) costs nothing.

    Raises:
        OpArgumentError: ``name`` is not an activation.
    """
    if not name:
        return Arithmetic()
    canonical = _canonical(name)
    return Arithmetic(0, prod(shape) * _per_element(canonical, attrs or {}))


# -- memory: what torch allocates and what autograd saves ------------------------------------

#: name: (ATen operator, what its backward needs: "result" or "input")
_TORCH: dict[str, tuple[str, str]] = {
    "relu": ("relu", "result"), "relu6": ("hardtanh", "input"),
    "leaky_relu": ("leaky_relu", "input"), "sigmoid": ("sigmoid", "result"),
    "hard_sigmoid": ("hardsigmoid", "input"), "tanh": ("tanh", "result"),
    "swish": ("silu", "input"), "hard_swish": ("hardswish", "input"), "gelu": ("gelu", "input"),
}
#: ATen's backward of an activation where it is not ``<name>_backward``.
_BACKWARD = {"relu": "threshold_backward"}
#: Activations torch can run in place (``nn.ReLU(inplace=True)``...): those whose in-place
#: backward reads the result (relu, leaky_relu) keep it; the others make autograd save a clone of
#: the input first (the in-place kernel's ``original_self``), in a training forward only.
INPLACE_ACTIVATIONS = ("relu", "relu6", "leaky_relu", "hard_sigmoid", "swish", "hard_swish")
_INPLACE = Attr("bool", False, "modify the input in place (torch's inplace=True): no new "
                               "tensor at inference")


def activation_memory(p: Prog, name: str, x: Val, inplace: bool = False) -> Val:
    """Replay activation ``name`` (alias allowed) on ``x`` as the bridge's torch module runs it
    (see ``cnncost.memory.program``)."""
    name = _canonical(name)
    if name == "softmax":
        # CUDA autocast asks softmax for a float32 result (``dtype=float32``): at::softmax casts
        # its input to float32 first, except a float16 input, which _softmax(x,
        # half_to_float=True) reads as it is, writing float32 (no float32 copy of the input).
        if p.device == "cuda" and p.autocast_dtype is not None and x.dtype == "float16":
            out_dtype = "float32"
        else:
            (x,) = p.autocast("softmax", [x])
            out_dtype = x.dtype
        return p.op("_softmax", [x], [(x.numel, out_dtype)], save=[0],
                    grad=grads_like(0, label="_softmax_backward_data"))
    if name == "scaled_tanh":  # A * tanh(S * x): three calls, the temporaries die as they go
        inner = p.op("mul", [x], [(x.numel, x.dtype)], grad=grads_like(0))
        t = p.op("tanh", [inner], [(x.numel, x.dtype)], save=[0], grad=grads_like(0))
        p.drop(inner)
        out = p.op("mul", [t], [(x.numel, x.dtype)], grad=grads_like(0))
        p.drop(t)
        return out
    aten, needs = _TORCH[name]
    backward = grads_like(0, label=_BACKWARD.get(aten, aten + "_backward"))
    if inplace:
        if needs == "result":
            return p.inplace(aten + "_", x, save=[0], grad=backward)
        if p.training and x.requires_grad:
            original = p.op("clone", [x], [(x.numel, x.dtype)], record=False)
            out = p.inplace(aten + "_", x, save=[original], grad=backward)
            p.drop(original)
            return out
        return p.inplace(aten + "_", x)
    return p.op(aten, [x], [(x.numel, x.dtype)], save=[0] if needs == "result" else [x],
                grad=backward)


def _memory(name: str):
    def rule(p: Prog) -> Val:
        return activation_memory(p, name, p.inputs[0], bool(p.ctx.attrs.get("inplace", False)))
    return rule


def _register(name: str) -> None:
    _, attrs, doc = _ACTIVATIONS[name]
    if name in INPLACE_ACTIVATIONS:
        attrs = {**attrs, "inplace": _INPLACE}

    def infer(ctx: OpContext) -> Shape:
        if name == "softmax" and not ctx.in_shape:
            raise ShapeError("softmax needs a channel axis to normalise over, got a scalar")
        _per_element(name, ctx.attrs)  # validates gelu's approximate once
        return ctx.in_shape

    def arithmetic(ctx: OpContext) -> Arithmetic:
        return Arithmetic(0, ctx.out_numel * _per_element(name, ctx.attrs))

    define(OpDef(
        name=name,
        doc=f"{doc} Shape-preserving, no parameters.",
        family="activation",
        infer=infer,
        attrs=attrs,
        arithmetic=arithmetic,
        fvcore=None,
        connections=lambda ctx: 0,
        aliases=tuple(a for a, target in _ALIASES.items() if target == name),
        memory=_memory(name),
    ))


for _name in _ACTIVATIONS:
    _register(_name)
