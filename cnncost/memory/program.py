"""The micro-program of one node: what its torch module allocates, in order. Must not import torch.

A memory rule (``OpDef.memory``) receives a ``Prog`` and replays, at the level of ATen operators,
what the torch bridge's module of that node does in eager PyTorch (``cnncost.bridge``): every
operator call that allocates a new tensor (``op``), the views that allocate nothing (``view``),
the in-place updates (``inplace``), the casts autocast inserts (``autocast``), and the point where
a Python name dies (``drop``; every other local dies when the module returns). In a training
forward each differentiable call also records what autograd saves for the backward (``save=``)
and a backward rule (``grad=``): a function of a ``Back`` that allocates the gradients PyTorch's
derivative formula allocates, in order.

Sizes are element counts for the whole batch; bytes follow from the dtype
(``ELEMENT_BYTES``) and the allocator model of the engine (CUDA rounds every allocation up to a
multiple of 512 bytes). Nothing here knows about shapes beyond what a rule computes from its
``OpContext``: the rules live with their operators (``cnncost/ops``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from math import prod
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cnncost.memory.engine import Simulator
    from cnncost.ops.registry import OpContext

#: Bytes per element of every dtype a tensor of the simulation can have.
ELEMENT_BYTES: dict[str, int] = {"float64": 8, "float32": 4, "float16": 2, "bfloat16": 2,
                                 "int64": 8, "int32": 4, "int8": 1, "uint8": 1, "bool": 1}

#: Floating dtypes, narrowest last (autocast's "promote" picks the widest of its inputs).
_WIDTH = {"float64": 3, "float32": 2, "float16": 1, "bfloat16": 1}


class Storage:
    """One allocation. ``holders`` are the references that keep it alive (see ``Simulator``)."""

    __slots__ = ("category", "freed", "holders", "label", "layer", "nbytes", "producer")

    def __init__(self, nbytes: int, layer: str, label: str, category: str) -> None:
        self.nbytes, self.layer, self.label, self.category = nbytes, layer, label, category
        self.holders: set[tuple[Any, ...]] = set()
        self.freed = False
        self.producer: str | None = None  # the graph node whose output it holds


class Val:
    """A tensor: its element count and dtype, the storage it lives in (a view shares one),
    whether it requires grad and the autograd node that produced it (``grad_fn``; None for a
    leaf: the input, a parameter, a buffer, a tensor made without grad).

    ``layout`` is ``contiguous``, ``permuted`` (a permutation of a contiguous tensor: dense, its
    axes out of order) or ``strided`` (a slice of a height or width: with gaps). A flatten or a
    reshape of anything but a contiguous tensor copies it; a cast keeps a permuted layout and
    makes a strided one contiguous (``preserve_format``). A new tensor counts as contiguous (an
    element-wise operator on a permuted input keeps the input's strides in PyTorch; the model
    does not follow strides through such operators)."""

    __slots__ = ("dtype", "grad_fn", "layout", "numel", "param", "requires_grad", "storage",
                 "view_of")

    def __init__(self, numel: int, dtype: str, storage: Storage, requires_grad: bool = False,
                 grad_fn: GradNode | None = None, param: Param | None = None,
                 view_of: Val | None = None, layout: str = "contiguous") -> None:
        self.numel, self.dtype, self.storage = numel, dtype, storage
        self.requires_grad, self.grad_fn, self.param = requires_grad, grad_fn, param
        self.view_of = view_of
        self.layout = layout

    @property
    def contiguous(self) -> bool:
        """Whether its per-sample axes merge without a copy (a reshape is a view)."""
        return self.layout == "contiguous"

    @property
    def nbytes(self) -> int:
        return self.numel * ELEMENT_BYTES[self.dtype]

    def __repr__(self) -> str:
        return f"Val({self.numel} x {self.dtype}, {self.storage.label}@{self.storage.layer})"


@dataclass(eq=False)
class Param:
    """A parameter (trainable) or buffer of a layer; ``val`` is its tensor, ``grad`` its
    ``.grad`` once the backward produced one, ``cast`` autocast's cached lower-precision copy."""

    layer: str
    numel: int
    dtype: str
    trainable: bool
    val: Val | None = None
    grad: Val | None = None
    cast: Val | None = None


Backward = Callable[["Back"], None]


@dataclass(eq=False)
class GradNode:
    """An autograd node: ``inputs`` are the forward inputs (the edges of the backward),
    ``outputs`` the forward outputs whose gradients it receives, ``saved`` what it keeps."""

    seq: int
    label: str
    layer: str
    inputs: list[Val]
    outputs: list[Val]
    saved: list[Val]
    backward: Backward
    #: for AccumulateGrad nodes: the parameter whose .grad it writes
    param: Param | None = None
    dependencies: int = 0
    buffer: list[Val | None] = field(default_factory=list)


@dataclass(frozen=True)
class AutocastPolicy:
    """Which operators autocast runs in lower precision, in float32, or at the widest input
    dtype (PyTorch's CUDA and CPU policies differ: ``policy_for``)."""

    lower: frozenset[str]
    fp32: frozenset[str]
    promote: frozenset[str]


_CUDA_POLICY = AutocastPolicy(
    lower=frozenset({"convolution", "linear", "addmm", "mm", "matmul"}),
    fp32=frozenset({"softmax", "layer_norm", "pow", "sum", "nll_loss", "exp", "log", "rsqrt",
                    "reciprocal", "upsample_nearest2d", "upsample_bilinear2d"}),
    promote=frozenset({"addcmul", "addcdiv"}),  # cat promotes by itself on CUDA: no casts
)
_CPU_POLICY = AutocastPolicy(
    lower=frozenset({"convolution", "linear", "addmm", "mm", "matmul"}),
    fp32=frozenset({"avg_pool3d", "cross_entropy", "reflection_pad2d", "replication_pad2d"}),
    promote=frozenset({"cat", "stack"}),
)


def policy_for(device: str) -> AutocastPolicy:
    """PyTorch's autocast lists for ``device`` (the operators the zoo uses)."""
    return _CUDA_POLICY if device == "cuda" else _CPU_POLICY


class Prog:
    """What a memory rule writes with: one node's forward, replayed (see the module docstring).

    Attributes:
        ctx: the node's evaluated attributes and per-sample shapes.
        layer: the node's dotted name.
        inputs: the node's input tensors, in argument order.
        batch: samples in the batch.
        dtype: the module's parameter dtype.
        training: a training forward (autograd records) rather than ``no_grad`` inference.
        device: ``cuda`` or ``cpu`` (the kernels PyTorch dispatches to differ in a few places).
    """

    def __init__(self, sim: Simulator, layer: str, ctx: OpContext, inputs: list[Val]) -> None:
        self.sim = sim
        self.layer = layer
        self.ctx = ctx
        self.inputs = inputs
        self.batch = sim.config.batch
        self.dtype = sim.config.param_dtype
        self.training = sim.config.training
        self.device = sim.config.device
        self.autocast_dtype = sim.config.autocast
        self._locals: dict[int, Val] = {}

    # -- sizes -------------------------------------------------------------------------------
    def numel(self, shape: Sequence[int]) -> int:
        """Elements of a per-sample ``shape`` over the batch."""
        return self.batch * prod(shape)

    @property
    def out_numel(self) -> int:
        return self.numel(self.ctx.out_shape)

    # -- leaves --------------------------------------------------------------------------------
    def param(self, numel: int, trainable: bool = True, dtype: str | None = None) -> Val:
        """A parameter (or, with ``trainable=False``, a buffer) of this layer."""
        return self.sim.new_param(self.layer, numel, dtype or self.dtype, trainable)

    def const(self, label: str, numel: int, dtype: str | None = None) -> Val:
        """A small tensor made in the forward from Python numbers (``x.new_tensor``, ``new_ones``)."""
        v = self._keep(self.sim.alloc_val(self.layer, label, numel, dtype or self.dtype,
                                          "activation"))
        self.sim.after_op()
        return v

    # -- operators -----------------------------------------------------------------------------
    def op(self, label: str, ins: Sequence[Val], outs: Sequence[tuple[int, str]] | None = None,
           *, save: Iterable[Val | int] = (), grad: Backward | None = None,
           differentiable: Sequence[int] | None = None, record: bool = True) -> Val:
        """An operator that allocates its outputs (default: one, ``out_numel`` in the dtype of
        its first floating input). ``save`` lists the inputs (Vals) or outputs (ints, by index)
        that autograd keeps; ``grad`` is the backward rule; ``differentiable`` are the output
        indices with gradients (default: the first). Returns the first output; the others are
        in ``self.last_outputs``. ``record=False``: a copy autograd makes for itself (no node)."""
        outs = list(outs) if outs is not None else [(self.out_numel, _float_dtype(ins))]
        vals = [self.sim.alloc_val(self.layer, label, n, d, "activation") for n, d in outs]
        self.sim.after_op()
        for v in vals:
            self._keep(v)
        self.last_outputs = vals
        if record:
            self._record(label, ins, vals, save, grad, differentiable)
        return vals[0]

    def view(self, src: Val, numel: int | None = None, label: str = "view",
             grad: Backward | None = None, layout: str | None = None) -> Val:
        """A view of ``src`` (flatten, reshape of a contiguous tensor, slice, permute): no
        allocation; its gradient is a view of the incoming one unless ``grad`` says otherwise
        (a slice's backward allocates the unsliced gradient). ``layout``: see ``Val`` (default:
        ``src``'s)."""
        v = Val(src.numel if numel is None else numel, src.dtype, src.storage, view_of=src,
                layout=src.layout if layout is None else layout)
        self._keep(v)
        if self.training and src.requires_grad:
            self._node(label, [src], [v], [], grad or view_grad, (0,))
        return v

    def inplace(self, label: str, target: Val, others: Sequence[Val] = (), *,
                save: Iterable[Val | int] = (), grad: Backward | None = None) -> Val:
        """An in-place update of ``target`` (``relu_``, ``add_``): no allocation; the result
        shares ``target``'s storage. Saving index 0 saves the result."""
        self.sim.check_inplace(self.layer, label, target)
        v = Val(target.numel, target.dtype, target.storage, view_of=None)
        self._keep(v)
        self.last_outputs = [v]
        self._record(label, [target, *others], [v], save, grad, None)
        return v

    def cast(self, src: Val, dtype: str, label: str = "_to_copy") -> Val:
        """``src.to(dtype)``: a copy (autocast's casts of parameters to lower precision are
        cached until the autocast region ends)."""
        if src.dtype == dtype:
            return src
        param = src.param
        cacheable = (param is not None and param.trainable and dtype == self.autocast_dtype
                     and src.dtype == "float32" and self.training)
        if cacheable and param is not None and param.cast is not None:
            return param.cast
        v = self.op(label, [src], [(src.numel, dtype)], grad=cast_grad)
        if src.layout == "permuted":  # preserve_format keeps a dense tensor's strides
            v.layout = "permuted"
        if cacheable and param is not None:
            param.cast = v
            self.sim.hold(v, ("autocast-cache", id(param)))
        return v

    def autocast(self, kind: str, vals: Sequence[Val]) -> list[Val]:
        """The inputs of an operator as autocast hands them to it: cast to lower precision
        (``lower``: conv, linear), to float32 (``fp32``: softmax, layer norm, losses... on the
        device's list) or to the widest input dtype (``promote``: cat). Casts happen in reverse
        argument order (the order the CUDA/CPU autocast wrappers evaluate their arguments in).
        Outside autocast, or for an operator not on the device's list, nothing changes."""
        if self.autocast_dtype is None:
            return list(vals)
        policy = policy_for(self.device)
        if kind in policy.lower:
            target = self.autocast_dtype
            wanted = [v.dtype == "float32" for v in vals]
        elif kind in policy.fp32:
            target = "float32"
            wanted = [v.dtype in ("float16", "bfloat16") for v in vals]
        elif kind in policy.promote:
            floats = [v.dtype for v in vals if v.dtype in _WIDTH]
            target = max(floats, key=_WIDTH.__getitem__) if floats else vals[0].dtype
            wanted = [v.dtype in _WIDTH and v.dtype != target for v in vals]
        else:
            return list(vals)
        out = list(vals)
        for i in reversed(range(len(vals))):
            if wanted[i]:
                out[i] = self.cast(vals[i], target)
        return out

    def lowered(self, kind: str) -> str:
        """The dtype an operator of ``kind`` computes in under autocast (its output dtype)."""
        if self.autocast_dtype is None:
            return self.dtype
        policy = policy_for(self.device)
        if kind in policy.lower:
            return self.autocast_dtype
        return "float32" if kind in policy.fp32 else self.dtype

    def drop(self, *vals: Val) -> None:
        """The Python names of ``vals`` die here (a rebinding, ``del``, a temporary)."""
        for v in vals:
            if self._locals.pop(id(v), None) is not None:
                self.sim.release(v, ("local", id(self), id(v)))

    def finish(self, result: Val) -> None:
        """The module returns ``result``: every other local dies."""
        for key, v in list(self._locals.items()):
            if v is not result:
                self._locals.pop(key)
                self.sim.release(v, ("local", id(self), key))

    def release_result(self, result: Val) -> None:
        if self._locals.pop(id(result), None) is not None:
            self.sim.release(result, ("local", id(self), id(result)))

    # -- internals -----------------------------------------------------------------------------
    def _keep(self, v: Val) -> Val:
        if id(v) not in self._locals:
            self._locals[id(v)] = v
            self.sim.hold(v, ("local", id(self), id(v)))
        return v

    def _record(self, label: str, ins: Sequence[Val], outs: list[Val],
                save: Iterable[Val | int], grad: Backward | None,
                differentiable: Sequence[int] | None) -> None:
        if not self.training or not any(v.requires_grad for v in ins):
            return
        if grad is None:
            raise AssertionError(f"{self.layer}: {label} has no backward rule")
        saved = [outs[s] if isinstance(s, int) else s for s in save]
        self._node(label, list(ins), outs, saved, grad,
                   tuple(differentiable) if differentiable is not None else (0,))

    def _node(self, label: str, ins: list[Val], outs: list[Val], saved: list[Val],
              grad: Backward, differentiable: tuple[int, ...]) -> None:
        node = self.sim.new_grad_node(label, self.layer, ins, outs, saved, grad)
        for i in differentiable:
            outs[i].requires_grad = True
            outs[i].grad_fn = node


def _float_dtype(vals: Sequence[Val]) -> str:
    for v in vals:
        if v.dtype in _WIDTH:
            return v.dtype
    return vals[0].dtype if vals else "float32"


class Back:
    """What a backward rule writes with: the incoming gradients of one autograd node, and the
    gradients it allocates and hands to its inputs (``give``)."""

    def __init__(self, sim: Simulator, node: GradNode, grads: list[Val | None]) -> None:
        self.sim, self.node = sim, node
        self.inputs = node.inputs
        self._grads = grads
        self._locals: dict[int, Val] = {}
        self.given: list[tuple[int, Val]] = []
        self._incoming = {id(g) for g in grads if g is not None}
        for g in grads:
            if g is not None:
                self._keep(g)

    def grad(self, i: int = 0) -> Val | None:
        """The gradient of output ``i`` (None where none flowed)."""
        return self._grads[i] if i < len(self._grads) else None

    def needs(self, k: int) -> bool:
        """Whether input ``k`` requires a gradient."""
        return self.inputs[k].requires_grad

    def alloc(self, label: str, numel: int, dtype: str) -> Val:
        v = self.sim.alloc_val(self.node.layer, label, numel, dtype, "backward")
        return self._keep(v)

    def op(self, label: str, outs: Sequence[tuple[int, str]]) -> list[Val]:
        """One ATen call of the derivative formula allocating ``outs`` at once."""
        vals = [self.sim.alloc_val(self.node.layer, label, n, d, "backward") for n, d in outs]
        self.sim.after_op()
        return [self._keep(v) for v in vals]

    def like(self, k: int, label: str) -> Val:
        """A new tensor shaped as input ``k`` (most derivative formulas)."""
        v = self.alloc(label, self.inputs[k].numel, self.inputs[k].dtype)
        self.sim.after_op()
        return v

    def view(self, src: Val, numel: int | None = None) -> Val:
        return self._keep(Val(src.numel if numel is None else numel, src.dtype, src.storage,
                              view_of=src))

    def give(self, k: int, v: Val) -> None:
        """``v`` is the gradient of input ``k``."""
        if self.needs(k):
            self.given.append((k, v))

    def drop(self, *vals: Val) -> None:
        for v in vals:
            if self._locals.pop(id(v), None) is not None:
                self.sim.release(v, ("back", id(self), id(v)))

    def finish_apply(self) -> None:
        """``apply`` returns: its temporaries die (the incoming gradients live on until the
        engine's ``call_function`` returns, after ``validate_outputs``)."""
        for key, v in list(self._locals.items()):
            if key not in self._incoming:
                self._locals.pop(key)
                self.sim.release(v, ("back", id(self), key))

    def finish(self) -> None:
        for key, v in list(self._locals.items()):
            self._locals.pop(key)
            self.sim.release(v, ("back", id(self), key))

    def _keep(self, v: Val) -> Val:
        if id(v) not in self._locals:
            self._locals[id(v)] = v
            self.sim.hold(v, ("back", id(self), id(v)))
        return v


# ---------------------------------------------------------------------------------------------
# Backward rules shared by many operators.

def grads_like(*inputs: int, label: str = "grad") -> Backward:
    """One new gradient per listed input that needs one, shaped as that input, allocated by one
    ATen call (``threshold_backward``, ``convolution_backward``...)."""

    def rule(b: Back) -> None:
        wanted = [k for k in inputs if b.needs(k)]
        vals = b.op(label, [(b.inputs[k].numel, b.inputs[k].dtype) for k in wanted])
        for k, v in zip(wanted, vals):
            b.give(k, v)
    return rule


def pass_grad(*inputs: int) -> Backward:
    """The incoming gradient itself goes to each listed input (add, clone, identity-like)."""

    def rule(b: Back) -> None:
        g = b.grad(0)
        if g is not None:
            for k in inputs:
                b.give(k, g)
    return rule


def view_grad(b: Back) -> None:
    """A view's backward: a view of the incoming gradient (no allocation)."""
    g = b.grad(0)
    if g is not None:
        b.give(0, b.view(g, b.inputs[0].numel))


def cast_grad(b: Back) -> None:
    """``_to_copy``'s backward: the gradient cast back to the source dtype."""
    b.give(0, b.like(0, "_to_copy"))


def promote(a: str, b: str) -> str:
    """The dtype of a binary operation on ``a`` and ``b`` (PyTorch's type promotion)."""
    if a in _WIDTH and b in _WIDTH:
        return a if _WIDTH[a] >= _WIDTH[b] else b
    return a if a in _WIDTH else b


def reshape_memory(p: Prog, x: Val, label: str) -> Val:
    """``reshape`` / ``flatten``: a view of a tensor whose per-sample axes merge; of any other
    (a permuted view) ``_unsafe_view(x.clone(contiguous))``: a copy, whose backward passes the
    gradient through (a view of it)."""
    if x.contiguous:
        return p.view(x, label=label)
    copy = p.op("clone", [x], [(x.numel, x.dtype)], grad=pass_grad(0))
    return p.view(copy, label="_unsafe_view")


def mul_memory(p: Prog, a: Val, b: Val, numel: int, label: str = "mul") -> Val:
    """``a * b`` (broadcasting to ``numel`` elements): autograd saves each factor only where the
    other needs a gradient; the backward allocates ``grad * other`` and ``grad * self`` at the
    broadcast size, reduced to each input's size by the engine."""
    save = ([b] if a.requires_grad else []) + ([a] if b.requires_grad else [])
    return p.op(label, [a, b], [(numel, promote(a.dtype, b.dtype))], save=save,
                grad=_broadcast_grads)


def div_memory(p: Prog, a: Val, b: Val, numel: int) -> Val:
    """``a / b``: autograd saves the divisor (and the dividend where the divisor needs a
    gradient); ``grad / b`` for a, ``-grad * ((a / b) / b)`` for b."""
    save = ([b] if a.requires_grad or b.requires_grad else []) + ([a] if b.requires_grad else [])
    return p.op("div", [a, b], [(numel, promote(a.dtype, b.dtype))], save=save, grad=_div_grad)


def _broadcast_grads(b: Back) -> None:
    g = b.grad(0)
    assert g is not None
    for k in (0, 1):
        if b.needs(k):
            b.give(k, b.op("mul", [(g.numel, g.dtype)])[0])


def _div_grad(b: Back) -> None:
    g = b.grad(0)
    assert g is not None
    if b.needs(0):
        b.give(0, b.op("div", [(g.numel, g.dtype)])[0])
    if b.needs(1):
        ratio = b.op("div", [(g.numel, g.dtype)])[0]
        ratio2 = b.op("div", [(g.numel, g.dtype)])[0]
        b.drop(ratio)
        negated = b.op("neg", [(g.numel, g.dtype)])[0]
        result = b.op("mul", [(g.numel, g.dtype)])[0]
        b.drop(negated, ratio2)
        b.give(1, result)


def cat_grad(b: Back) -> None:
    """``cat``'s backward: one narrow view of the incoming gradient per input."""
    g = b.grad(0)
    if g is not None:
        for k, v in enumerate(b.inputs):
            b.give(k, b.view(g, v.numel))


def slice_grad(b: Back) -> None:
    """``slice_backward``: a zero tensor of the sliced input's size holding the gradient."""
    b.give(0, b.like(0, "slice_backward"))


def pow_grad(b: Back) -> None:
    """``pow_backward`` of ``x ** k`` (a number): ``grad * (k * x.pow(k - 1))``; the expression's
    two temporaries die after the product exists."""
    power = b.like(0, "pow")
    scaled = b.like(0, "mul")
    out = b.like(0, "mul")
    b.drop(scaled, power)
    b.give(0, out)


def scalar_grad(b: Back) -> None:
    """Backward of an operation with a Python number (``x * s``, ``x + k``): a new gradient for
    ``x`` (``grad * s``), or the incoming one where the derivative is 1 (``x + k``)."""
    b.give(0, b.like(0, "mul"))
