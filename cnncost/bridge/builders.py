"""One torch builder per registered operator: LayerNode -> nn.Module. Imports torch.

``BUILDERS`` must cover ``cnncost.ops.registry.all_ops()`` (a test fails otherwise, so the registry
and the bridge cannot drift). Builders read the node's normalised attributes and its input shapes
(``same`` padding and the pools' general path are resolved at build time for that shape) and
never look at the analytic formulas: the module is an independent witness of them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from torch import nn

from cnncost.bridge import layers as L
from cnncost.bridge import layout as V
from cnncost.bridge import pointwise as P
from cnncost.graph.layergraph import LayerNode
from cnncost.ops.registry import canonical_name, get_op, pair

Builder = Callable[[LayerNode], nn.Module]

BUILDERS: dict[str, Builder] = {}


def builds(*ops: str) -> Callable[[Builder], Builder]:
    def register(fn: Builder) -> Builder:
        for op in ops:
            assert op not in BUILDERS, f"two builders for {op}"
            BUILDERS[op] = fn
        return fn
    return register


def build_layer(node: LayerNode) -> nn.Module:
    """The module for one node.

    Raises:
        NotImplementedError: no builder for the node's operator (a bridge bug, not a user error).
    """
    try:
        builder = BUILDERS[node.op]
    except KeyError:
        raise NotImplementedError(
            f"the torch bridge has no builder for operator {node.op!r} (layer {node.name})"
        ) from None
    return builder(node)


# --------------------------------------------------------------------------- helpers


def _floats(value: Any) -> list[float]:
    return [float(value)] if isinstance(value, (int, float)) else [float(v) for v in value]


def activation(name: str | None, attrs: Mapping[str, Any] | None = None) -> nn.Module | None:
    """The module of activation ``name`` (an alias allowed) with ``attrs`` (defaults where
    absent); None for no activation.

    Raises:
        NotImplementedError: ``name`` is not an activation the bridge knows.
    """
    if not name:
        return None
    canonical = canonical_name(name)
    if canonical not in P.ACTIVATIONS:
        raise NotImplementedError(f"the torch bridge has no activation {name!r}")
    op = get_op(canonical)
    kwargs = {key: (attrs or {}).get(key, attr.default) for key, attr in op.attrs.items()}
    return P.ACTIVATIONS[canonical](**kwargs)


def _fused(attrs: Mapping[str, Any]) -> nn.Module | None:
    """The fused activation of a conv / linear node (in place with ``act_inplace``)."""
    name = attrs.get("act")
    if name and attrs.get("act_inplace"):
        return activation(name, {"inplace": True})
    return activation(name)


def window_pads(node: LayerNode, stride: tuple[int, int],
                dilation: tuple[int, int] = (1, 1)) -> tuple[int, int, int, int]:
    """Explicit (t, b, l, r) padding of a conv or pool node for its input shape."""
    padding = node.attrs.get("padding", 0)
    if padding == "valid":
        return (0, 0, 0, 0)
    if padding == "same":
        kh, kw = pair(node.attrs["kernel"])
        _, h, w = node.in_shapes[0]
        return (*L.tf_same_pads(h, kh, stride[0], dilation[0]),
                *L.tf_same_pads(w, kw, stride[1], dilation[1]))
    top, bottom, left, right = padding
    return (top, bottom, left, right)


def _conv_common(node: LayerNode) -> dict[str, Any]:
    stride = pair(node.attrs.get("stride", 1))
    dilation = pair(node.attrs.get("dilation", 1))
    return {"stride": stride, "dilation": dilation, "pads": window_pads(node, stride, dilation)}


# --------------------------------------------------------------------------- io, conv, linear


@builds("input")
def _input(node: LayerNode) -> nn.Module:
    return nn.Identity()


@builds("conv2d")
def _conv2d(node: LayerNode) -> nn.Module:
    a = node.attrs
    return L.Conv2d(node.in_shapes[0][0], a["out"], pair(a["kernel"]), groups=a["groups"],
                    bias=a["bias"], act=_fused(a), **_conv_common(node))


@builds("depthwise_conv2d")
def _depthwise(node: LayerNode) -> nn.Module:
    a, c = node.attrs, node.in_shapes[0][0]
    return L.Conv2d(c, c * a["multiplier"], pair(a["kernel"]), groups=c, bias=a["bias"],
                    act=_fused(a), **_conv_common(node))


@builds("separable_conv2d")
def _separable(node: LayerNode) -> nn.Module:
    a = node.attrs
    return L.SeparableConv2d(node.in_shapes[0][0], a["out"], pair(a["kernel"]),
                             multiplier=a["multiplier"], bias=a["bias"],
                             act=_fused(a), **_conv_common(node))


@builds("conv2d_table")
def _conv2d_table(node: LayerNode) -> nn.Module:
    a = node.attrs
    stride = pair(a.get("stride", 1))
    return L.TableConv2d(a["table"], pair(a["kernel"]), stride=stride, bias=a["bias"],
                         pads=window_pads(node, stride), act=_fused(a))


@builds("conv_transpose2d")
def _conv_transpose2d(node: LayerNode) -> nn.Module:
    a = node.attrs
    return L.ConvTranspose2d(node.in_shapes[0][0], a["out"], pair(a["kernel"]),
                             stride=pair(a["stride"]), padding=pair(a["padding"]),
                             output_padding=pair(a["output_padding"]),
                             dilation=pair(a["dilation"]), groups=a["groups"], bias=a["bias"],
                             act=_fused(a))


@builds("linear")
def _linear(node: LayerNode) -> nn.Module:
    a = node.attrs
    return L.Linear(node.in_shapes[0][-1], a["out"], bias=a["bias"], act=_fused(a))


@builds("rbf")
def _rbf(node: LayerNode) -> nn.Module:
    return L.RBF(node.in_shapes[0][0], node.attrs["out"])


# --------------------------------------------------------------------------- norm, preprocess


@builds("batch_norm")
def _batch_norm(node: LayerNode) -> nn.Module:
    a = node.attrs
    return P.BatchNorm(node.in_shapes[0][0], eps=a["epsilon"], center=a["center"],
                       scale=a["scale"], counter=bool(a.get("counter", False)))


@builds("layer_norm")
def _layer_norm(node: LayerNode) -> nn.Module:
    a = node.attrs
    shape = node.in_shapes[0]
    return P.ChannelLayerNorm(shape[-1] if a["channels_last"] else shape[0], eps=a["epsilon"],
                              center=a["center"], scale=a["scale"],
                              channels_last=a["channels_last"])


@builds("lrn")
def _lrn(node: LayerNode) -> nn.Module:
    a = node.attrs
    return P.LocalResponseNorm(a["size"], a["alpha"], a["beta"], a["k"])


@builds("affine")
def _affine(node: LayerNode) -> nn.Module:
    return P.Affine(node.in_shapes[0][0], scale=node.attrs["scale"], bias=node.attrs["bias"])


@builds("normalization")
def _normalization(node: LayerNode) -> nn.Module:
    return P.Normalization(node.in_shapes[0][0])


@builds("rescaling")
def _rescaling(node: LayerNode) -> nn.Module:
    return P.Rescaling(_floats(node.attrs["scale"]), _floats(node.attrs["offset"]))


# --------------------------------------------------------------------------- pooling


def _native_pads(pads: tuple[int, int, int, int], kernel: tuple[int, int]) -> tuple[int, int] | None:
    """(ph, pw) when torch's pools can pad natively: symmetric, at most half the kernel."""
    top, bottom, left, right = pads
    if top == bottom and left == right and 2 * top <= kernel[0] and 2 * left <= kernel[1]:
        return (top, left)
    return None


def _pool(node: LayerNode, kind: str) -> nn.Module:
    a = node.attrs
    kernel = pair(a["kernel"])
    stride = kernel if a["stride"] is None else pair(a["stride"])
    pads = window_pads(node, stride)
    ceil_mode = a["ceil_mode"] and a["padding"] != "same"  # TF's same has no ceil mode
    include = a.get("count_include_pad", True)
    native = None if a["padding"] == "same" else _native_pads(pads, kernel)
    if native is not None and kind == "max":
        return nn.MaxPool2d(kernel, stride, native, ceil_mode=ceil_mode)
    if native is not None:
        return nn.AvgPool2d(kernel, stride, native, ceil_mode=ceil_mode,
                            count_include_pad=include)
    _, h, w = node.in_shapes[0]
    return L.Pool2d(kind, (h, w), kernel, stride, pads, ceil_mode, include)


@builds("max_pool2d")
def _max_pool(node: LayerNode) -> nn.Module:
    return _pool(node, "max")


@builds("avg_pool2d")
def _avg_pool(node: LayerNode) -> nn.Module:
    return _pool(node, "avg")


@builds("global_avg_pool")
def _global_avg(node: LayerNode) -> nn.Module:
    return L.GlobalPool("avg", node.attrs["keepdims"], node.attrs["torch_op"])


@builds("global_max_pool")
def _global_max(node: LayerNode) -> nn.Module:
    return L.GlobalPool("max", node.attrs["keepdims"])


@builds("adaptive_avg_pool2d")
def _adaptive_avg(node: LayerNode) -> nn.Module:
    return nn.AdaptiveAvgPool2d(pair(node.attrs["size"]))


# --------------------------------------------------------------------------- element-wise, shape


@builds("add")
def _add(node: LayerNode) -> nn.Module:
    return P.Add(_floats(node.attrs["scales"]), bool(node.attrs.get("inplace", False)))


@builds("multiply")
def _multiply(node: LayerNode) -> nn.Module:
    return P.Multiply()


@builds("concat")
def _concat(node: LayerNode) -> nn.Module:
    return P.Concat(node.attrs["axis"])


@builds("scale")
def _scale(node: LayerNode) -> nn.Module:
    return P.Scale(node.attrs["factor"])


@builds("channel_shuffle")
def _channel_shuffle(node: LayerNode) -> nn.Module:
    return P.ChannelShuffle(node.attrs["groups"])


@builds("identity")
def _identity(node: LayerNode) -> nn.Module:
    return nn.Identity()


@builds("flatten")
def _flatten(node: LayerNode) -> nn.Module:
    return nn.Flatten()


@builds("reshape")
def _reshape(node: LayerNode) -> nn.Module:
    return P.Reshape(node.attrs["shape"])


@builds("dropout")
def _dropout(node: LayerNode) -> nn.Module:
    return nn.Dropout(node.attrs["rate"], bool(node.attrs.get("inplace", False)))  # the identity in eval mode


@builds("stochastic_depth")
def _stochastic_depth(node: LayerNode) -> nn.Module:
    return P.StochasticDepth(node.attrs["rate"])


@builds("zero_pad2d")
def _zero_pad(node: LayerNode) -> nn.Module:
    return P.ZeroPad2d(tuple(node.attrs["padding"]))


@builds("crop2d")
def _crop(node: LayerNode) -> nn.Module:
    _, h, w = node.in_shapes[0]
    return P.Crop2d(tuple(node.attrs["cropping"]), (h, w))


@builds("pad")
def _pad(node: LayerNode) -> nn.Module:
    a = node.attrs
    return V.Pad(tuple(a["padding"]), a["mode"], a["value"])


@builds("slice")
def _slice(node: LayerNode) -> nn.Module:
    a = node.attrs
    stop = node.in_shapes[0][a["axis"]] if a["stop"] is None else a["stop"]
    return V.Slice(a["axis"], a["start"], stop - a["start"])


@builds("split")
def _split(node: LayerNode) -> nn.Module:
    return V.Split(node.attrs["sizes"], node.attrs["index"], node.attrs["axis"])


@builds("chunk")
def _chunk(node: LayerNode) -> nn.Module:
    return V.Chunk(node.attrs["chunks"], node.attrs["index"], node.attrs["axis"])


@builds("permute")
def _permute(node: LayerNode) -> nn.Module:
    return V.Permute(node.attrs["dims"])


@builds("transpose")
def _transpose(node: LayerNode) -> nn.Module:
    return V.Transpose(node.attrs["dims"])


@builds("upsample")
def _upsample(node: LayerNode) -> nn.Module:
    a = node.attrs
    size = None if a["size"] is None else pair(a["size"])
    return V.Upsample(size, a["scale"], a["mode"], a["align_corners"])


@builds("mean")
def _mean(node: LayerNode) -> nn.Module:
    return V.Mean(node.attrs["axes"], node.attrs["keepdims"])


@builds("layer_scale")
def _layer_scale(node: LayerNode) -> nn.Module:
    shape = node.in_shapes[0]
    return V.LayerScale(shape[0], len(shape), vector=node.attrs["stored"] == "vector")


def _activation_builder(name: str) -> Builder:
    def build(node: LayerNode) -> nn.Module:
        module = activation(name, node.attrs)
        assert module is not None
        return module
    return build


for _name in P.ACTIVATIONS:
    builds(_name)(_activation_builder(_name))
