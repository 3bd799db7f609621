"""The arithmetic of a training step: forward in training mode, backward, per layer. Must not
import torch.

Two conventions define it (``fvcore`` and ``connections`` count an inference forward only):

- ``torchvision`` (what ``FlopCounterMode`` measures over forward + backward): conv and linear
  multiply-accumulates only. A layer's backward is the gradient of its input (a transposed
  convolution or matrix product: the forward's MACs, skipped where the input needs no gradient,
  as at the first layer) plus the gradient of its weights (the forward's MACs again). FLOPs are
  2 x MACs.
- ``cnncost`` (complete): those MACs, and every other elementary operation of the backward and of
  the training-mode forward, one FLOP each, per element of the tensor named in ``BACKWARD`` (bias
  gradients are sums over the batch and positions: one add per output element; batch-norm in
  training computes its statistics: mean 1, variance 3, normalise 2 per element, then its affine
  map; and so on).

``FlopCounterMode``'s ``convolution_backward`` formula counts the weight gradient of a grouped
(or depthwise) convolution as if it were dense: ``groups`` times cnncost's count.
``flop_counter_overcount`` gives that difference exactly, so ``cnncost check`` can name it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from math import prod

from cnncost.cost.conventions import ConventionUndefined
from cnncost.graph.layergraph import LayerGraph, LayerNode
from cnncost.ops.activation import _canonical
from cnncost.ops.registry import get_op

#: Conventions that define a training step.
TRAINING_CONVENTIONS = ("cnncost", "torchvision")

#: Backward FLOPs per element of the activation's tensor, by activation: relu selects (1);
#: relu6 compares twice; leaky_relu selects and scales; sigmoid y(1-y)g (3); hard_sigmoid a
#: compare and a scale; tanh (1-y^2)g (3); swish s(1+x(1-s))g (6); hard_swish 4; gelu 8 (erf
#: form) or 12 (tanh form); softmax y(g - sum(g y)) (4); scaled_tanh A S (1-t^2) g (4).
ACTIVATION_BACKWARD = {"relu": 1, "relu6": 2, "leaky_relu": 2, "sigmoid": 3, "hard_sigmoid": 2,
                       "tanh": 3, "swish": 6, "hard_swish": 4, "gelu": 8, "softmax": 4,
                       "scaled_tanh": 4}


@dataclass(frozen=True)
class LayerTraining:
    """One layer's training step (whole batch): the forward in training mode and the backward,
    split into the input's gradient and the weights' (MACs and the complete FLOPs)."""

    name: str
    op: str
    forward_macs: int
    forward_flops: int
    input_grad_macs: int
    weight_grad_macs: int
    backward_flops: int  # input and weight gradients together, complete (or 2 x MACs)

    @property
    def backward_macs(self) -> int:
        return self.input_grad_macs + self.weight_grad_macs

    @property
    def flops(self) -> int:
        return self.forward_flops + self.backward_flops


@dataclass(frozen=True)
class TrainingCost:
    convention: str
    batch: int
    layers: tuple[LayerTraining, ...]

    @property
    def forward_flops(self) -> int:
        return sum(r.forward_flops for r in self.layers)

    @property
    def backward_flops(self) -> int:
        return sum(r.backward_flops for r in self.layers)

    @property
    def flops(self) -> int:
        return self.forward_flops + self.backward_flops

    @property
    def macs(self) -> int:
        return sum(r.forward_macs + r.backward_macs for r in self.layers)

    def block_flops(self) -> dict[str, tuple[int, int]]:
        """(forward, backward) FLOPs per dotted-name prefix, in order of first appearance."""
        out: dict[str, list[int]] = {}
        for row in self.layers:
            parts = row.name.split(".")
            for level in range(1, len(parts)):
                acc = out.setdefault(".".join(parts[:level]), [0, 0])
                acc[0] += row.forward_flops
                acc[1] += row.backward_flops
        return {name: (f, b) for name, (f, b) in out.items()}


def _needs_grad(graph: LayerGraph) -> dict[str, bool]:
    """Whether each node's output requires a gradient: it depends on a trainable parameter."""
    needs: dict[str, bool] = {}
    for node in graph:
        params = node.opdef.params(node.context).trainable > 0
        needs[node.name] = params or any(needs[i] for i in node.inputs)
    return needs


def training_cost(graph: LayerGraph, convention: str = "cnncost", batch: int = 1) -> TrainingCost:
    """The training step's arithmetic of every layer under ``convention``.

    Raises:
        ConventionUndefined: the convention counts inference only (fvcore, connections).
    """
    if convention not in TRAINING_CONVENTIONS:
        raise ConventionUndefined(
            f"the {convention} convention counts an inference forward only; training FLOPs are "
            f"defined under {' and '.join(TRAINING_CONVENTIONS)}")
    needs = _needs_grad(graph)
    rows = []
    for node in graph:
        input_grad = any(needs[i] for i in node.inputs)
        fwd_macs, fwd_other, in_macs, w_macs, bwd_other = _layer(node, input_grad)
        if convention == "torchvision":
            if node.opdef.family not in ("conv", "linear"):
                fwd_macs = in_macs = w_macs = 0
            fwd_flops, bwd_flops = 2 * fwd_macs, 2 * (in_macs + w_macs)
        else:
            fwd_flops = 2 * fwd_macs + fwd_other
            bwd_flops = 2 * (in_macs + w_macs) + bwd_other
        rows.append(LayerTraining(node.name, node.op, fwd_macs * batch, fwd_flops * batch,
                                  in_macs * batch, w_macs * batch, bwd_flops * batch))
    return TrainingCost(convention, batch, tuple(rows))


def _layer(node: LayerNode, input_grad: bool) -> tuple[int, int, int, int, int]:
    """(forward MACs, forward other, input-grad MACs, weight-grad MACs, backward other), per
    sample."""
    op = node.opdef
    ctx = node.context
    arith = op.arithmetic(ctx)
    macs, other = arith.macs, arith.other_flops
    out_n, in_n = prod(node.out_shape), sum(prod(s) for s in node.in_shapes)
    params = op.params(ctx).trainable
    act = node.attrs.get("act")
    act_fwd = act_bwd = 0
    if act:
        from cnncost.ops.activation import activation_arithmetic

        act_fwd = activation_arithmetic(act, node.out_shape).other_flops
        act_bwd = ACTIVATION_BACKWARD[_canonical(act)] * out_n
    rule = BACKWARD.get(node.op) or BACKWARD.get(op.family)
    if rule is None:
        raise KeyError(f"no training rule for operator {node.op!r}")
    fwd_other, in_macs, w_macs, bwd_other = rule(node, macs, other, out_n, in_n, params,
                                                 input_grad)
    return macs, fwd_other + act_fwd, in_macs, w_macs, bwd_other + act_bwd


Rule = Callable[[LayerNode, int, int, int, int, int, bool], tuple[int, int, int, int]]


def _weighted(node: LayerNode, macs: int, other: int, out_n: int, in_n: int, params: int,
              input_grad: bool) -> tuple[int, int, int, int]:
    """conv / linear: input gradient = the forward's MACs (where needed), weight gradient = the
    forward's MACs, bias gradient = one add per output element. A separable conv's pointwise
    input (the depthwise output) always needs its gradient."""
    bias = other  # the forward's other work is the bias add: n*bias
    if node.op == "separable_conv2d":
        c = node.in_shapes[0][0] * node.attrs["multiplier"]
        positions = node.out_shape[1] * node.out_shape[2]
        kh, kw = (node.attrs["kernel"], node.attrs["kernel"]) if isinstance(
            node.attrs["kernel"], int) else node.attrs["kernel"]
        depthwise = positions * c * kh * kw
        return other, macs - depthwise + depthwise * input_grad, macs, bias
    if node.op == "rbf":  # fixed centres: no weight gradient; 2(x - c) g accumulated into x
        return other, macs * input_grad, 0, other * input_grad
    return other, macs * input_grad, macs, bias


def _elementwise(per_out: int, per_in: int = 0) -> Rule:
    def rule(node: LayerNode, macs: int, other: int, out_n: int, in_n: int, params: int,
             input_grad: bool) -> tuple[int, int, int, int]:
        return other, 0, 0, (per_out * out_n + per_in * in_n) * input_grad
    return rule


def _batch_norm(node: LayerNode, macs: int, other: int, out_n: int, in_n: int, params: int,
                input_grad: bool) -> tuple[int, int, int, int]:
    """Training forward: mean 1, variance 3, normalise 2, then scale and offset (1 each).
    Backward: scale gradient sum(g x^) 2, offset gradient sum(g) 1, input gradient 5 per
    element (g*scale, minus mean(g), minus x^ mean(g x^), times 1/std)."""
    scale, center = int(node.attrs["scale"]), int(node.attrs["center"])
    forward = in_n * (6 + scale + center)
    return forward, 0, 0, in_n * (2 * scale + center) + 5 * in_n * input_grad


def _layer_norm(node: LayerNode, macs: int, other: int, out_n: int, in_n: int, params: int,
                input_grad: bool) -> tuple[int, int, int, int]:
    scale, center = int(node.attrs["scale"]), int(node.attrs["center"])
    return other, 0, 0, in_n * (2 * scale + center) + 5 * in_n * input_grad


def _affine(node: LayerNode, macs: int, other: int, out_n: int, in_n: int, params: int,
            input_grad: bool) -> tuple[int, int, int, int]:
    """Scale gradient sum(g x) 2, bias gradient sum(g) 1, input gradient g w 1 (if a scale)."""
    scale, bias = int(node.attrs["scale"]), int(node.attrs["bias"])
    return other, 0, 0, in_n * (2 * scale + bias) + in_n * scale * input_grad


def _activation(node: LayerNode, macs: int, other: int, out_n: int, in_n: int, params: int,
                input_grad: bool) -> tuple[int, int, int, int]:
    per = ACTIVATION_BACKWARD[node.op]
    if node.op == "gelu" and node.attrs.get("approximate") == "tanh":
        per = 12
    return other, 0, 0, per * out_n * input_grad


def _layer_scale(node: LayerNode, macs: int, other: int, out_n: int, in_n: int, params: int,
                 input_grad: bool) -> tuple[int, int, int, int]:
    """gamma * x: gamma's gradient sum(g x) 2, the input's g gamma 1 per element."""
    return other, 0, 0, 2 * in_n + in_n * input_grad


def _upsample(node: LayerNode, macs: int, other: int, out_n: int, in_n: int, params: int,
              input_grad: bool) -> tuple[int, int, int, int]:
    """The backward adds each output gradient into the input elements it was made from:
    nearest 1 add per output element; bilinear 4 taps of 2 multiplies (both weights) and an
    add, 12 per output element."""
    per = 12 if node.attrs["mode"] == "bilinear" else 1
    return other, 0, 0, per * out_n * input_grad


def _same_as_forward(node: LayerNode, macs: int, other: int, out_n: int, in_n: int,
                     params: int, input_grad: bool) -> tuple[int, int, int, int]:
    """Pools, LRN, preprocessing: the backward does the forward's work again (an average pool
    spreads each gradient over its window, LRN's chain rule re-reads the same sums ...)."""
    return other, 0, 0, other * input_grad


def _dropout(node: LayerNode, macs: int, other: int, out_n: int, in_n: int, params: int,
             input_grad: bool) -> tuple[int, int, int, int]:
    """Training: a Bernoulli draw and a scaled multiply per element (2); backward g * mask (1).
    Stochastic depth draws per sample: the multiply only."""
    if node.attrs["rate"] == 0:
        return 0, 0, 0, 0
    draw = 2 if node.op == "dropout" else 1
    return out_n * draw, 0, 0, out_n * input_grad


def _multiply(node: LayerNode, macs: int, other: int, out_n: int, in_n: int, params: int,
              input_grad: bool) -> tuple[int, int, int, int]:
    """One product per input and output element (g times the others), a broadcast gate's
    gradient summed back over the positions it covered (out_n adds)."""
    k = len(node.in_shapes)
    gates = sum(1 for s in node.in_shapes if prod(s) < out_n)
    return other, 0, 0, (k * out_n * (k - 1) + gates * out_n) * input_grad


def _add(node: LayerNode, macs: int, other: int, out_n: int, in_n: int, params: int,
         input_grad: bool) -> tuple[int, int, int, int]:
    """The gradient passes to every input unchanged, times s where a scale is not 1."""
    scales = node.attrs.get("scales") or ()
    scaled = sum(1 for s in scales if s != 1)
    return other, 0, 0, scaled * out_n * input_grad


_ZERO: Rule = _elementwise(0)

#: The backward rule of every operator (by name, else by family). A test fails for an operator
#: that has none.
BACKWARD: dict[str, Rule] = {
    "conv": _weighted, "linear": _weighted, "distance": _weighted,
    "batch_norm": _batch_norm, "layer_norm": _layer_norm, "affine": _affine,
    "layer_scale": _layer_scale, "upsample": _upsample,
    "lrn": _same_as_forward, "pool": _same_as_forward, "preprocess": _same_as_forward,
    "activation": _activation,
    "add": _add, "multiply": _multiply, "scale": _elementwise(1), "concat": _ZERO,
    "channel_shuffle": _ZERO, "identity": _ZERO,
    "dropout": _dropout, "stochastic_depth": _dropout,
    "shape": _ZERO, "io": _ZERO,
}


def flop_counter_overcount(graph: LayerGraph, batch: int = 1) -> dict[str, int]:
    """What FlopCounterMode counts beyond cnncost's torchvision convention over a training step,
    per layer: its ``convolution_backward`` formula takes a grouped convolution's weight gradient
    for a dense one (``groups`` times the MACs; FLOPs = 2 x MACs)."""
    out = {}
    for node in graph:
        groups = 1
        if node.op in ("conv2d", "conv_transpose2d"):
            groups = node.attrs["groups"]
        elif node.op == "depthwise_conv2d":
            groups = node.in_shapes[0][0]
        elif node.op == "separable_conv2d":
            groups = node.in_shapes[0][0]  # its depthwise half
        if groups == 1:
            continue
        macs = get_op(node.op).arithmetic(node.context).macs
        if node.op == "separable_conv2d":
            c = node.in_shapes[0][0] * node.attrs["multiplier"]
            kernel = node.attrs["kernel"]
            kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
            macs = node.out_shape[1] * node.out_shape[2] * c * kh * kw
        out[node.name] = 2 * macs * (groups - 1) * batch
    return out
