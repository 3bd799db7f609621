"""The torch -> cnncost mapping table: every module class, function and tensor method the
importer knows, each with the function that turns one call into cnncost layers, or the reason
it cannot. Imports torch (only the importer imports this module).

Three tables, one key space each:

- ``MODULES``: ``module.QualName`` of a module class (``torch.nn.modules.conv.Conv2d``). A class
  in this table is a leaf of the trace (one call, mapped as a whole); a class that is not, and
  is not a torch.nn module, is traced through (its ``forward`` becomes calls of its own).
- ``FUNCTIONS``: ``module.name`` of a function (``torch.nn.functional.relu``, ``_operator.add``).
- ``METHODS``: ``Tensor.name`` of a tensor method (``Tensor.mean``, ``Tensor.__add__``).

An entry is a mapping (``Call -> list[Emit] | Alias``, see ``cnncost.importer.calls``) or
``unsupported("why")``. A new cnncost operator plugs in by adding or replacing entries here.
Calls that return no tensor (``x.size()``, shape arithmetic) need no entry: their values are
recorded by the trace and read by the mappings that use them.
"""

from __future__ import annotations

from collections.abc import Callable
from math import prod
from typing import Any

from cnncost.importer.calls import Alias, Call, Emit, Unsupported, Value, emitted
from cnncost.importer.ir import Expr

Mapping = Callable[[Call], "list[Emit] | Alias"]


def unsupported(why: str) -> Mapping:
    """An entry for something cnncost cannot express (yet): the mapping raises with ``why``."""

    def mapping(call: Call) -> list[Emit] | Alias:
        raise Unsupported(why)

    mapping.unsupported = why  # type: ignore[attr-defined]  # read by the documentation test
    return mapping


# --------------------------------------------------------------------------- value helpers


def _pair(value: Any) -> Any:
    """torch's int or (h, w) as a spec pair: ``k`` when square, else ``[h, w]``."""
    if isinstance(value, int):
        return value
    h, w = (int(v) for v in value)
    return h if h == w else [h, w]


def _padding(value: Any) -> Any:
    """A conv / pool padding: ``same``, ``valid``, ``p`` or ``[ph, pw]`` (both sides)."""
    if isinstance(value, str):
        return value
    return _pair(value)


def _first(value: Any) -> Any:
    return value[0] if isinstance(value, (list, tuple)) and len(value) == 1 else value


def _one(op: str, call: Call, **attrs: Any) -> list[Emit]:
    return [Emit(op, attrs, (call.tensor(0),))]


def _inplace(call: Call, index: int = 1) -> bool:
    return bool(call.get(index, "inplace", False)) or bool(call.extra.get("inplace_method"))


# --------------------------------------------------------------------------- torch.nn modules


def conv2d_module(call: Call) -> list[Emit]:
    m = call.module
    if m.padding_mode != "zeros":
        raise Unsupported(f"padding_mode={m.padding_mode!r}: cnncost convolutions pad with zeros")
    return [Emit("conv2d", {
        "out": m.out_channels, "kernel": _pair(m.kernel_size), "stride": _pair(m.stride),
        "padding": _padding(m.padding), "dilation": _pair(m.dilation), "groups": m.groups,
        "bias": m.bias is not None}, (call.tensor(0),))]


def conv2d_same_module(call: Call) -> list[Emit]:
    """timm's Conv2dSame: TensorFlow's 'same' padding computed per input (cnncost's ``same``)."""
    [emit] = conv2d_module(call)
    return [Emit("conv2d", {**emit.attrs, "padding": "same"}, emit.inputs)]


def batch_norm_module(call: Call) -> list[Emit]:
    m = call.module
    if not m.track_running_stats or m.running_mean is None:
        raise Unsupported("batch norm without running statistics (track_running_stats=False): "
                          "cnncost's batch_norm holds them")
    attrs = {"epsilon": float(m.eps), "center": m.affine, "scale": m.affine,
             "counter": getattr(m, "num_batches_tracked", None) is not None}
    return [Emit("batch_norm", attrs, (call.tensor(0),))]


def layer_norm_2d_module(call: Call) -> list[Emit]:
    """torchvision's LayerNorm2d: layer norm over the channels at each position."""
    m = call.module
    if tuple(m.normalized_shape) != (call.tensor(0).shape[0],):
        raise Unsupported(f"layer norm over {tuple(m.normalized_shape)}, not the channels")
    affine = m.elementwise_affine
    return [Emit("layer_norm", {"epsilon": float(m.eps), "scale": affine,
                                "center": affine and m.bias is not None}, (call.tensor(0),))]


def _activation(module: Any) -> tuple[str, dict[str, Any]] | None:
    """(op, attrs) of an activation module; None for nn.Identity.

    Raises:
        Unsupported: not an activation cnncost has.
    """
    from torch import nn

    kinds: dict[type, tuple[str, tuple[str, ...]]] = {
        nn.ReLU: ("relu", ("inplace",)), nn.ReLU6: ("relu6", ("inplace",)),
        nn.SiLU: ("swish", ("inplace",)), nn.Hardswish: ("hard_swish", ("inplace",)),
        nn.Hardsigmoid: ("hard_sigmoid", ("inplace",)), nn.Sigmoid: ("sigmoid", ()),
        nn.Tanh: ("tanh", ()),
    }
    if isinstance(module, nn.Identity):
        return None
    for cls, (op, keys) in kinds.items():
        if type(module) is cls:
            return op, {k: bool(getattr(module, k)) for k in keys}
    if type(module) is nn.LeakyReLU:
        return "leaky_relu", {"alpha": float(module.negative_slope), "inplace": module.inplace}
    if type(module) is nn.GELU:
        return "gelu", {"approximate": module.approximate}
    raise Unsupported(f"activation {type(module).__name__} has no cnncost operator")


def activation_module(call: Call) -> list[Emit] | Alias:
    found = _activation(call.module)
    if found is None:
        return Alias(call.tensor(0))
    op, attrs = found
    return [Emit(op, attrs, (call.tensor(0),))]


def softmax_module(call: Call) -> list[Emit]:
    return _softmax(call, call.module.dim)


def _softmax(call: Call, dim: int | None) -> list[Emit]:
    x = call.tensor(0)
    if dim is None or x.axis(dim) != 0:
        raise Unsupported(f"softmax over dim {dim}: cnncost's softmax is over the channels")
    return [Emit("softmax", {}, (x,))]


def batch_norm_act_module(call: Call) -> list[Emit]:
    """timm's BatchNormAct2d: batch norm, then its activation (``<name>_act``)."""
    from torch import nn

    m = call.module
    if not isinstance(getattr(m, "drop", nn.Identity()), nn.Identity):
        raise Unsupported("BatchNormAct2d with a dropout inside")
    [bn] = batch_norm_module(call)
    act = _activation(m.act)
    if act is None:
        return [bn]
    return [bn, Emit(act[0], act[1], (emitted(0, call.out_value.shape),), suffix="act")]


def _pool(op: str, call: Call, kernel: Any, stride: Any, padding: Any, dilation: Any,
          ceil_mode: bool, count_include_pad: bool | None = None,
          divisor_override: Any = None) -> list[Emit]:
    if _pair(dilation) != 1:
        raise Unsupported(f"{op} with dilation {dilation}: cnncost's pools have none")
    if divisor_override is not None:
        raise Unsupported(f"{op} with divisor_override={divisor_override}")
    attrs: dict[str, Any] = {"kernel": _pair(kernel),
                             "stride": _pair(stride) if stride not in (None, [], ()) else None,
                             "padding": _padding(padding), "ceil_mode": bool(ceil_mode)}
    if attrs["stride"] == attrs["kernel"]:
        attrs["stride"] = None
    if count_include_pad is not None:
        attrs["count_include_pad"] = bool(count_include_pad)
    return [Emit(op, attrs, (call.tensor(0),))]


def max_pool_module(call: Call) -> list[Emit]:
    m = call.module
    if m.return_indices:
        raise Unsupported("max pooling that returns indices")
    return _pool("max_pool2d", call, m.kernel_size, m.stride, m.padding, m.dilation, m.ceil_mode)


def max_pool_same_module(call: Call) -> list[Emit]:
    """timm's MaxPool2dSame: TensorFlow 'same' padding (with -inf)."""
    [emit] = max_pool_module(call)
    return [Emit("max_pool2d", {**emit.attrs, "padding": "same", "ceil_mode": False},
                 emit.inputs)]


def avg_pool_module(call: Call) -> list[Emit]:
    m = call.module
    return _pool("avg_pool2d", call, m.kernel_size, m.stride, m.padding, 1, m.ceil_mode,
                 m.count_include_pad, m.divisor_override)


def adaptive_avg_pool_module(call: Call) -> list[Emit]:
    return _adaptive_avg(call, call.module.output_size)


def _adaptive_avg(call: Call, size: Any) -> list[Emit]:
    x = call.tensor(0)
    if isinstance(size, (list, tuple)) and None in size:
        size = [x.shape[1 + i] if s is None else s for i, s in enumerate(size)]
    return [Emit("adaptive_avg_pool2d", {"size": _pair(size)}, (x,))]


def adaptive_max_pool_module(call: Call) -> list[Emit]:
    if _pair(call.module.output_size) != 1:
        raise Unsupported(f"adaptive max pooling to {call.module.output_size}: cnncost has "
                          "global max pooling only")
    return [Emit("global_max_pool", {"keepdims": True}, (call.tensor(0),))]


def dropout_module(call: Call) -> list[Emit]:
    m = call.module
    return [Emit("dropout", {"rate": float(m.p), "inplace": bool(m.inplace)}, (call.tensor(0),))]


def flatten_module(call: Call) -> list[Emit] | Alias:
    m = call.module
    return _flatten(call, m.start_dim, m.end_dim)


def zero_pad_module(call: Call) -> list[Emit]:
    left, right, top, bottom = (call.module.padding if isinstance(call.module.padding, tuple)
                                else (call.module.padding,) * 4)
    return [Emit("zero_pad2d", {"padding": [top, bottom, left, right]}, (call.tensor(0),))]


def lrn_module(call: Call) -> list[Emit]:
    m = call.module
    return [Emit("lrn", {"size": m.size, "alpha": float(m.alpha), "beta": float(m.beta),
                         "k": float(m.k)}, (call.tensor(0),))]


def channel_shuffle_module(call: Call) -> list[Emit]:
    return [Emit("channel_shuffle", {"groups": call.module.groups}, (call.tensor(0),))]


def identity_module(call: Call) -> Alias:
    return Alias(call.tensor(0))


# --------------------------------------------------------------------------- functions, methods


def _reshaped(call: Call, x: Value) -> list[Emit] | Alias:
    """A view or reshape as what it does per sample: nothing, a flatten, or a reshape."""
    out = call.out_value
    if out.shape == x.shape:
        return Alias(x)
    if out.shape == (prod(x.shape),):
        return [Emit("flatten", {}, (x,))]
    return [Emit("reshape", {"shape": list(out.shape)}, (x,))]


def _flatten(call: Call, start: int, end: int) -> list[Emit] | Alias:
    x = call.tensor(0)
    if start == 0 or (start < 0 and start + x.rank == 0):
        raise Unsupported("flattening the batch dimension into the features")
    return _reshaped(call, x)


def flatten_function(call: Call) -> list[Emit] | Alias:
    return _flatten(call, call.get(1, "start_dim", 0), call.get(2, "end_dim", -1))


def flatten_method(call: Call) -> list[Emit] | Alias:
    return _flatten(call, call.get(1, "start_dim", 0), call.get(2, "end_dim", -1))


def view_method(call: Call) -> list[Emit] | Alias:
    return _reshaped(call, call.tensor(0))


def _binary(call: Call) -> tuple[Any, Any]:
    return call.get(0, "input"), call.get(1, "other")


def add_function(call: Call) -> list[Emit]:
    a, b = _binary(call)
    if not (isinstance(a, Value) and isinstance(b, Value)):
        raise Unsupported("adding a constant to a tensor: cnncost's add sums tensors")
    if a.param or b.param:
        raise Unsupported("adding a parameter of the model to a tensor (a learned bias or "
                          "position embedding): no cnncost operator")
    if a.shape != b.shape:
        raise Unsupported(f"adding tensors of per-sample shapes {list(a.shape)} and "
                          f"{list(b.shape)}: cnncost's add needs equal shapes")
    attrs: dict[str, Any] = {"inplace": bool(call.extra.get("inplace"))}
    alpha = call.kwargs.get("alpha", 1)
    if alpha != 1:
        attrs["scales"] = [1.0, float(alpha)]
    return [Emit("add", attrs, (a, b))]


def _gate(a: Value, b: Value) -> bool:
    """``a`` broadcasts over ``b`` as a per-channel gate: (C, 1, 1) or (C,) against (C, H, W)."""
    return len(b.shape) == 3 and a.shape in ((b.shape[0], 1, 1), (b.shape[0],))


def mul_function(call: Call) -> list[Emit]:
    a, b = _binary(call)
    if isinstance(a, (int, float)) and isinstance(b, Value):
        a, b = b, a
    if isinstance(a, Value) and isinstance(b, (int, float)) and not isinstance(b, bool):
        if a.param:
            raise Unsupported("scaling a parameter of the model: no cnncost operator")
        return [Emit("scale", {"factor": float(b)}, (a,))]
    if not (isinstance(a, Value) and isinstance(b, Value)):
        raise Unsupported("multiplying a tensor by a non-number")
    if a.param or b.param:
        raise Unsupported("multiplying a tensor by a parameter of the model (a learned scale "
                          "such as a layer scale): no cnncost operator")
    if a.shape != b.shape and not (_gate(a, b) or _gate(b, a)):
        raise Unsupported(f"multiplying tensors of per-sample shapes {list(a.shape)} and "
                          f"{list(b.shape)}: cnncost's multiply needs equal shapes or a "
                          "per-channel gate")
    return [Emit("multiply", {}, (a, b))]


def div_function(call: Call) -> list[Emit]:
    a, b = _binary(call)
    if isinstance(a, Value) and not a.param and isinstance(b, (int, float)) and b != 0:
        return [Emit("scale", {"factor": 1.0 / float(b)}, (a,))]
    raise Unsupported("dividing by a tensor: no cnncost operator")


def cat_function(call: Call) -> list[Emit]:
    tensors = call.get(0, "tensors")
    if not all(isinstance(t, Value) and not t.param for t in tensors):
        raise Unsupported("concatenating something other than tensors computed by the model")
    dim = call.get(1, "dim", 0)
    return [Emit("concat", {"axis": tensors[0].axis(dim)}, tuple(tensors))]


def mean_method(call: Call) -> list[Emit]:
    x = call.tensor(0)
    dims = call.get(1, "dim", None)
    keepdim = bool(call.get(2, "keepdim", False))
    dims = (dims,) if isinstance(dims, int) else tuple(dims or ())
    axes = sorted(x.axis(d) for d in dims)
    if len(x.shape) != 3 or axes != [1, 2]:
        raise Unsupported(f"a mean over dims {list(dims)} of a {x.rank}-dimensional tensor: "
                          "cnncost has the mean over the spatial axes (global average pooling)")
    return [Emit("global_avg_pool", {"keepdims": keepdim, "torch_op": "mean"}, (x,))]


def adaptive_avg_pool_function(call: Call) -> list[Emit]:
    return _adaptive_avg(call, call.get(1, "output_size"))


def max_pool_function(call: Call) -> list[Emit]:
    if call.get(6, "return_indices", False):
        raise Unsupported("max pooling that returns indices")
    kernel = call.get(1, "kernel_size")
    return _pool("max_pool2d", call, kernel, call.get(2, "stride", None),
                 call.get(3, "padding", 0), call.get(4, "dilation", 1),
                 call.get(5, "ceil_mode", False))


def avg_pool_function(call: Call) -> list[Emit]:
    return _pool("avg_pool2d", call, call.get(1, "kernel_size"), call.get(2, "stride", None),
                 call.get(3, "padding", 0), 1, call.get(4, "ceil_mode", False),
                 call.get(5, "count_include_pad", True), call.get(6, "divisor_override", None))


def dropout_function(call: Call) -> list[Emit]:
    return [Emit("dropout", {"rate": float(call.get(1, "p", 0.5)),
                             "inplace": bool(call.get(3, "inplace", False))}, (call.tensor(0),))]


def stochastic_depth_function(call: Call) -> list[Emit]:
    mode = call.get(2, "mode")
    if mode != "row":
        raise Unsupported(f"stochastic depth in mode {mode!r}: cnncost's drops whole samples "
                          "('row')")
    return [Emit("stochastic_depth", {"rate": float(call.get(1, "p"))}, (call.tensor(0),))]


def channel_shuffle_function(call: Call) -> list[Emit]:
    return [Emit("channel_shuffle", {"groups": int(call.get(1, "groups"))}, (call.tensor(0),))]


def getitem_function(call: Call) -> list[Emit] | Alias:
    """An item of a list, tuple or dict a module returned (a tensor's slice is
    ``tensor_index``'s)."""
    container, key = call.get(0, "a"), call.get(1, "b")
    value = container[key]
    if isinstance(value, Value):
        return Alias(value)
    raise Unsupported(f"indexing {type(container).__name__} gives {type(value).__name__}")


def _index_text(key: Any) -> str:
    keys = key if isinstance(key, tuple) else (key,)
    parts = []
    for k in keys:
        if isinstance(k, slice):
            parts.append(":".join("" if v is None else str(v)
                                  for v in (k.start, k.stop, k.step)).rstrip(":") or ":")
        else:
            parts.append("..." if k is Ellipsis else str(k))
    return ", ".join(parts)


def contiguous_method(call: Call) -> Alias:
    return Alias(call.tensor(0))


def _act(op: str, inplace_index: int | None = 1, **fixed: Any) -> Mapping:
    """A functional or method activation; ``inplace`` from its argument or a ``*_`` method."""

    def mapping(call: Call) -> list[Emit]:
        attrs = dict(fixed)
        if inplace_index is not None:
            attrs["inplace"] = _inplace(call, inplace_index)
        return [Emit(op, attrs, (call.tensor(0),))]

    return mapping


def gelu_function(call: Call) -> list[Emit]:
    return [Emit("gelu", {"approximate": call.get(1, "approximate", "none")}, (call.tensor(0),))]


def leaky_relu_function(call: Call) -> list[Emit]:
    return [Emit("leaky_relu", {"alpha": float(call.get(1, "negative_slope", 0.01)),
                                "inplace": _inplace(call, 2)}, (call.tensor(0),))]


def softmax_function(call: Call) -> list[Emit]:
    return _softmax(call, call.get(1, "dim", None))


# --------------------------------------------------------------------------- views, resampling


def _parts(call: Call, op: str, attrs: dict[str, Any], x: Value) -> list[Emit]:
    out = call.out
    if not isinstance(out, tuple):
        raise Unsupported(f"{call.target} returns {type(out).__name__}, not its parts")
    return [Emit(op, {**attrs, "index": k}, (x,), part=k) for k in range(len(out))]


def chunk_function(call: Call) -> list[Emit]:
    """``torch.chunk(x, n, dim)`` / ``x.chunk(n, dim)``: one ``chunk`` layer per part used."""
    x = call.tensor(0)
    return _parts(call, "chunk", {"chunks": int(call.get(1, "chunks")),
                                  "axis": x.axis(call.get(2, "dim", 0))}, x)


def split_function(call: Call) -> list[Emit]:
    """``torch.split(x, size_or_sizes, dim)`` / ``x.split(...)``: one ``split`` per part used."""
    x = call.tensor(0)
    axis = x.axis(call.get(2, "dim", 0))
    given = call.get(1, "split_size_or_sections")
    length = x.shape[axis]
    if isinstance(given, int):
        sizes = [given] * (length // given) + ([length % given] if length % given else [])
    else:
        sizes = [int(v) for v in given]
    return _parts(call, "split", {"sizes": sizes, "axis": axis}, x)


def _slice(call: Call, x: Value, axis: int, start: int | None, stop: int | None) -> list[Emit]:
    size = x.shape[axis]
    start = 0 if start is None else start + size if start < 0 else min(start, size)
    stop = None if stop is None or stop >= size else stop + size if stop < 0 else stop
    return [Emit("slice", {"start": start, "stop": stop, "axis": axis}, (x,))]


def tensor_index(call: Call) -> list[Emit]:
    """``x[:, a:b]`` (one axis cut, every other taken whole) as a ``slice``."""
    x, key = call.tensor(0), call.get(1, "b")
    keys = list(key) if isinstance(key, tuple) else [key]
    if Ellipsis in keys:
        at = keys.index(Ellipsis)
        keys[at:at + 1] = [slice(None)] * (x.rank - len(keys) + 1)
    whole = slice(None)
    if not keys or keys[0] != whole or not all(isinstance(k, slice) for k in keys):
        raise Unsupported(f"indexing a tensor ([{_index_text(key)}]): cnncost slices one axis "
                          "of each sample, keeping the batch and every dimension")
    cut = [(i, k) for i, k in enumerate(keys[1:]) if k != whole]
    if len(cut) != 1 or cut[0][1].step not in (None, 1):
        raise Unsupported(f"indexing a tensor ([{_index_text(key)}]): cnncost slices one axis "
                          "at a time, without a step")
    axis, part = cut[0]
    return _slice(call, x, axis, part.start, part.stop)


def getitem_with_slices(call: Call) -> list[Emit] | Alias:
    if isinstance(call.get(0, "a"), Value):
        return tensor_index(call)
    return getitem_function(call)


def narrow_method(call: Call) -> list[Emit]:
    x = call.tensor(0)
    start, length = int(call.get(2, "start")), int(call.get(3, "length"))
    return _slice(call, x, x.axis(call.get(1, "dim")), start, start + length)


def permute_function(call: Call) -> list[Emit] | Alias:
    x = call.tensor(0)
    dims = call.args[1:] if call.kind == "method" else (call.get(1, "dims"),)
    if len(dims) == 1 and isinstance(dims[0], (list, tuple)):
        dims = tuple(dims[0])
    dims = tuple(d + x.rank if d < 0 else d for d in dims)
    if not dims or dims[0] != 0:
        raise Unsupported(f"a permutation {list(dims)} that moves the batch dimension")
    per_sample = [d - 1 for d in dims[1:]]
    if per_sample == sorted(per_sample):
        return Alias(x)
    return [Emit("permute", {"dims": per_sample}, (x,))]


def transpose_function(call: Call) -> list[Emit]:
    x = call.tensor(0)
    a, b = x.axis(call.get(1, "dim0")), x.axis(call.get(2, "dim1"))
    return [Emit("transpose", {"dims": [min(a, b), max(a, b)]}, (x,))]


def mean_general(call: Call) -> list[Emit]:
    try:
        return mean_method(call)
    except Unsupported:
        x = call.tensor(0)
        dims = call.get(1, "dim", None)
        dims = (dims,) if isinstance(dims, int) else tuple(dims or range(1, x.rank))
        return [Emit("mean", {"axes": sorted(x.axis(d) for d in dims),
                              "keepdims": bool(call.get(2, "keepdim", False))}, (x,))]


def _upsample(call: Call, size: Any, scale: Any, mode: str, align_corners: Any) -> list[Emit]:
    x = call.tensor(0)
    if mode not in ("nearest", "bilinear"):
        raise Unsupported(f"resizing in mode {mode!r}: cnncost has nearest and bilinear")
    attrs: dict[str, Any] = {"mode": mode}
    if size is not None:
        size = [int(size)] * 2 if isinstance(size, int) else [int(v) for v in size]
        attrs["size"] = _resolution(call, size) or _pair(size)
    else:
        factors = [float(scale)] if isinstance(scale, (int, float)) else [float(v) for v in scale]
        attrs["scale"] = factors[:1] if len(set(factors)) == 1 else factors
    if mode == "bilinear":
        attrs["align_corners"] = bool(align_corners)
    return [Emit("upsample", attrs, (x,))]


def _resolution(call: Call, size: list[int]) -> Expr | None:
    """An upsampling back to the model's input size is written with its parameters."""
    shape = call.input_size
    if len(shape) == 3 and list(shape[1:]) == size:
        text = "resolution" if shape[1] == shape[2] else "[height, width]"
        return Expr(text, _pair(size))
    return None


def interpolate_function(call: Call) -> list[Emit]:
    if call.get(6, "antialias", False):
        raise Unsupported("resizing with antialias: cnncost's upsample has none")
    return _upsample(call, call.get(1, "size", None), call.get(2, "scale_factor", None),
                     call.get(3, "mode", "nearest"), call.get(4, "align_corners", None))


def upsample_module(call: Call) -> list[Emit]:
    m = call.module
    return _upsample(call, m.size, m.scale_factor, m.mode, m.align_corners)


def conv_transpose_module(call: Call) -> list[Emit]:
    m = call.module
    if m.padding_mode != "zeros":
        raise Unsupported(f"padding_mode={m.padding_mode!r}: cnncost convolutions pad with zeros")
    if call.args[1:] or call.kwargs.get("output_size") is not None:
        raise Unsupported("a transposed convolution given an output_size at the call")
    return [Emit("conv_transpose2d", {
        "out": m.out_channels, "kernel": _pair(m.kernel_size), "stride": _pair(m.stride),
        "padding": _pair(m.padding), "output_padding": _pair(m.output_padding),
        "dilation": _pair(m.dilation), "groups": m.groups, "bias": m.bias is not None},
        (call.tensor(0),))]


def pad_general(call: Call) -> list[Emit]:
    pads = [int(p) for p in call.get(1, "pad")]
    mode, value = call.get(2, "mode", "constant"), call.get(3, "value", None)
    x = call.tensor(0)
    if len(pads) != 4 or len(x.shape) != 3:
        raise Unsupported(f"padding {pads} of a {x.rank}-dimensional tensor: cnncost pads the "
                          "height and width")
    if mode not in ("constant", "reflect", "replicate"):
        raise Unsupported(f"padding in mode {mode!r}")
    left, right, top, bottom = pads
    attrs: dict[str, Any] = {"padding": [top, bottom, left, right], "mode": mode}
    if mode == "constant":
        attrs["value"] = float(value or 0.0)
    return [Emit("pad", attrs, (x,))]


def pad_module(mode: str) -> Mapping:
    def mapping(call: Call) -> list[Emit]:
        m = call.module
        left, right, top, bottom = (m.padding if isinstance(m.padding, tuple)
                                    else (m.padding,) * 4)
        attrs: dict[str, Any] = {"padding": [top, bottom, left, right], "mode": mode}
        if mode == "constant":
            attrs["value"] = float(getattr(m, "value", 0.0))
        return [Emit("pad", attrs, (call.tensor(0),))]
    return mapping


def linear_general(call: Call) -> list[Emit]:
    x, m = call.tensor(0), call.module
    attrs = {"out": m.out_features, "bias": m.bias is not None}
    if len(x.shape) > 1:
        attrs["channels_last"] = True
    return [Emit("linear", attrs, (x,))]


def layer_norm_module(call: Call) -> list[Emit]:
    """``nn.LayerNorm(C)`` on ``(N, ..., C)``: layer norm over the last axis."""
    x, m = call.tensor(0), call.module
    if tuple(m.normalized_shape) != (x.shape[-1],):
        raise Unsupported(f"layer norm over {list(m.normalized_shape)} of a tensor of "
                          f"per-sample shape {list(x.shape)}: cnncost normalises one axis")
    affine = bool(m.elementwise_affine)
    attrs = {"epsilon": float(m.eps), "scale": affine,
             "center": affine and getattr(m, "bias", None) is not None}
    if len(x.shape) > 1:
        attrs["channels_last"] = True
    return [Emit("layer_norm", attrs, (x,))]


def _scale_shape(gamma: Value, x: Value) -> bool:
    """A per-channel scale of ``x``: (C, 1, ...), (1, C, 1, ...) or (C,) against (C, ...)."""
    shape = gamma.shape[1:] if len(gamma.shape) == len(x.shape) + 1 and gamma.shape[0] == 1 \
        else gamma.shape
    channels = x.shape[0]
    return shape in ((channels,) + (1,) * (len(x.shape) - 1), (channels,)) and len(x.shape) > 1


def mul_with_scale(call: Call) -> list[Emit]:
    """``gamma * x`` with a parameter gamma per channel is a ``layer_scale`` named after it."""
    a, b = _binary(call)
    if isinstance(a, Value) and isinstance(b, Value) and (a.param or b.param) \
            and not (a.param and b.param):
        gamma, x = (a, b) if a.param else (b, a)
        if _scale_shape(gamma, x):
            vector = gamma.stored is not None and len(gamma.stored) == 1 and len(x.shape) > 1
            return [Emit("layer_scale", {"stored": "vector"} if vector else {}, (x,),
                         name=gamma.param)]
    return mul_function(call)


def layer_scale_module(call: Call) -> list[Emit]:
    """timm's LayerScale2d: ``x * gamma.view(1, -1, 1, 1)`` with gamma [C]."""
    x = call.tensor(0)
    vector = call.module.gamma.dim() == 1 and len(x.shape) > 1
    return [Emit("layer_scale", {"stored": "vector"} if vector else {}, (x,))]


# --------------------------------------------------------------------------- the tables

_ATTENTION = unsupported("attention: cnncost models convolutional networks, not attention")
_MATMUL = unsupported("a product of two computed tensors (matmul, bmm, einsum): no cnncost "
                      "operator")
_LAYER_NORM = unsupported("layer normalisation over the last dimension (channels-last): "
                          "cnncost's layer_norm normalises the channels of an NCHW tensor")

MODULES: dict[str, Mapping] = {
    "torch.nn.modules.conv.Conv2d": conv2d_module,
    "torch.nn.modules.linear.Linear": linear_general,
    "torch.nn.modules.batchnorm.BatchNorm2d": batch_norm_module,
    "torch.nn.modules.batchnorm.BatchNorm1d": batch_norm_module,
    "torch.nn.modules.activation.ReLU": activation_module,
    "torch.nn.modules.activation.ReLU6": activation_module,
    "torch.nn.modules.activation.SiLU": activation_module,
    "torch.nn.modules.activation.Hardswish": activation_module,
    "torch.nn.modules.activation.Hardsigmoid": activation_module,
    "torch.nn.modules.activation.Sigmoid": activation_module,
    "torch.nn.modules.activation.Tanh": activation_module,
    "torch.nn.modules.activation.LeakyReLU": activation_module,
    "torch.nn.modules.activation.GELU": activation_module,
    "torch.nn.modules.activation.Softmax": softmax_module,
    "torch.nn.modules.linear.Identity": identity_module,
    "torch.nn.modules.pooling.MaxPool2d": max_pool_module,
    "torch.nn.modules.pooling.AvgPool2d": avg_pool_module,
    "torch.nn.modules.pooling.AdaptiveAvgPool2d": adaptive_avg_pool_module,
    "torch.nn.modules.pooling.AdaptiveMaxPool2d": adaptive_max_pool_module,
    "torch.nn.modules.dropout.Dropout": dropout_module,
    "torch.nn.modules.dropout.Dropout2d": dropout_module,
    "torch.nn.modules.flatten.Flatten": flatten_module,
    "torch.nn.modules.padding.ZeroPad2d": pad_module("constant"),
    "torch.nn.modules.padding.ConstantPad2d": pad_module("constant"),
    "torch.nn.modules.padding.ReflectionPad2d": pad_module("reflect"),
    "torch.nn.modules.padding.ReplicationPad2d": pad_module("replicate"),
    "torch.nn.modules.normalization.LocalResponseNorm": lrn_module,
    "torch.nn.modules.channelshuffle.ChannelShuffle": channel_shuffle_module,
    "torch.nn.modules.conv.ConvTranspose2d": conv_transpose_module,
    "torch.nn.modules.upsampling.Upsample": upsample_module,
    "torch.nn.modules.upsampling.UpsamplingBilinear2d": upsample_module,
    "torch.nn.modules.upsampling.UpsamplingNearest2d": upsample_module,
    "torch.nn.modules.normalization.LayerNorm": layer_norm_module,
    "torch.nn.modules.normalization.GroupNorm": unsupported(
        "group normalisation: no cnncost operator"),
    "torch.nn.modules.activation.MultiheadAttention": _ATTENTION,
    # torchvision
    "torchvision.models.convnext.LayerNorm2d": layer_norm_2d_module,
    # timm (keys are strings: timm is imported only by the models that use it)
    "timm.layers.norm_act.BatchNormAct2d": batch_norm_act_module,
    "timm.layers.conv2d_same.Conv2dSame": conv2d_same_module,
    "timm.layers.pool2d_same.MaxPool2dSame": max_pool_same_module,
    "timm.layers.linear.Linear": linear_general,
    "timm.layers.norm.LayerNorm2d": layer_norm_2d_module,
    "timm.layers.norm.LayerNorm": layer_norm_module,
    "timm.layers.layer_scale.LayerScale2d": layer_scale_module,
}

_RELU = _act("relu")
_MUL = mul_with_scale
_PAD = pad_general
_SIGMOID = _act("sigmoid", None)

FUNCTIONS: dict[str, Mapping] = {
    "_operator.add": add_function, "_operator.iadd": add_function, "torch.add": add_function,
    "_operator.mul": _MUL, "_operator.imul": _MUL, "torch.mul": _MUL,
    "_operator.truediv": div_function, "torch.div": div_function,
    "_operator.getitem": getitem_with_slices,
    "torch.cat": cat_function, "torch.concat": cat_function, "torch.concatenate": cat_function,
    "torch.flatten": flatten_function,
    "torch.reshape": view_method,
    "torch.mean": mean_general,
    "torch.nn.functional.adaptive_avg_pool2d": adaptive_avg_pool_function,
    "torch.nn.functional.max_pool2d": max_pool_function,
    "torch.nn.functional._max_pool2d": max_pool_function,
    "torch.max_pool2d": max_pool_function,
    "torch._C._nn.avg_pool2d": avg_pool_function,
    "torch.nn.functional.avg_pool2d": avg_pool_function,
    "torch.nn.functional.dropout": dropout_function,
    "torch.nn.functional.relu": _RELU, "torch.relu": _act("relu", None),
    "torch.nn.functional.relu_": _act("relu", None, inplace=True),
    "torch.relu_": _act("relu", None, inplace=True),
    "torch.nn.functional.relu6": _act("relu6"),
    "torch.nn.functional.silu": _act("swish"),
    "torch.nn.functional.hardswish": _act("hard_swish"),
    "torch.nn.functional.hardsigmoid": _act("hard_sigmoid"),
    "torch.sigmoid": _SIGMOID, "torch.nn.functional.sigmoid": _SIGMOID,
    "torch.tanh": _act("tanh", None), "torch.nn.functional.tanh": _act("tanh", None),
    "torch._C._nn.gelu": gelu_function, "torch.nn.functional.gelu": gelu_function,
    "torch.nn.functional.leaky_relu": leaky_relu_function,
    "torch.softmax": softmax_function, "torch.nn.functional.softmax": softmax_function,
    "torch.nn.functional.pad": _PAD, "torch._C._nn.pad": _PAD,
    "torchvision.ops.stochastic_depth.stochastic_depth": stochastic_depth_function,
    "torchvision.models.shufflenetv2.channel_shuffle": channel_shuffle_function,
    "torch.chunk": chunk_function,
    "torch.split": split_function,
    "torch.functional.split": split_function,
    "torch.permute": permute_function,
    "torch.transpose": transpose_function,
    "torch.swapaxes": transpose_function,
    "torch.nn.functional.interpolate": interpolate_function,
    "torch.nn.functional.layer_norm": _LAYER_NORM,
    "torch.matmul": _MATMUL, "_operator.matmul": _MATMUL, "torch.bmm": _MATMUL,
    "torch.functional.einsum": _MATMUL, "torch.einsum": _MATMUL,
    "torch.nn.functional.scaled_dot_product_attention": _ATTENTION,
    "torch._C._nn.scaled_dot_product_attention": _ATTENTION,
}

METHODS: dict[str, Mapping] = {
    "Tensor.add": add_function, "Tensor.__add__": add_function, "Tensor.__radd__": add_function,
    "Tensor.add_": add_function, "Tensor.__iadd__": add_function,
    "Tensor.mul": _MUL, "Tensor.__mul__": _MUL, "Tensor.__rmul__": _MUL,
    "Tensor.mul_": _MUL, "Tensor.__imul__": _MUL,
    "Tensor.div": div_function, "Tensor.__truediv__": div_function,
    "Tensor.__getitem__": getitem_with_slices,
    "Tensor.narrow": narrow_method,
    "Tensor.flatten": flatten_method,
    "Tensor.view": view_method, "Tensor.reshape": view_method,
    "Tensor.mean": mean_general,
    "Tensor.contiguous": contiguous_method,
    "Tensor.relu": _act("relu", None), "Tensor.relu_": _act("relu", None, inplace=True),
    "Tensor.sigmoid": _SIGMOID, "Tensor.sigmoid_": _SIGMOID,
    "Tensor.tanh": _act("tanh", None),
    "Tensor.softmax": softmax_function,
    "Tensor.chunk": chunk_function,
    "Tensor.split": split_function,
    "Tensor.permute": permute_function,
    "Tensor.transpose": transpose_function,
    "Tensor.swapaxes": transpose_function,
}

#: Methods that modify their tensor in place (the layer's ``inplace`` where it has one).
INPLACE_METHODS = frozenset({"Tensor.add_", "Tensor.__iadd__", "_operator.iadd", "Tensor.mul_",
                             "Tensor.__imul__", "_operator.imul", "Tensor.relu_",
                             "Tensor.sigmoid_"})

#: Functions kept whole by the tracer (their bodies are shape arithmetic a trace cannot follow).
AUTOWRAP = ("torchvision.models.shufflenetv2.channel_shuffle",)


def module_entry(cls: type) -> Mapping | None:
    """The entry for a module class: its own, or an ancestor's when the class does not
    override ``forward`` (a subclass that only configures)."""
    from cnncost.importer.trace import class_path

    entry = MODULES.get(class_path(cls))
    if entry is not None:
        return entry
    for base in cls.__mro__[1:]:
        if base.__dict__.get("forward") is not None:
            if cls.forward is base.forward:  # type: ignore[attr-defined]
                return MODULES.get(class_path(base))
            return None
    return None


def function_name(fn: Any) -> str:
    """The FUNCTIONS key of a function (``torch.nn.functional.relu``, ``_operator.add``)."""
    module = getattr(fn, "__module__", None) or ""
    name = getattr(fn, "__name__", None) or repr(fn)
    return f"{module}.{name}" if module else name
