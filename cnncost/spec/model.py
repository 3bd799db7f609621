"""Pydantic models of the spec format, generated from the operator registry. Must not import torch.

A layer item is a one-key mapping: ``{conv2d: {...}}`` (an operator), ``{repeat: {...}}``,
``{parallel: {...}}``, or ``{my_block: {...}}`` (a call of a block defined in the spec or in an
imported block file). Numeric fields accept a number or an expression string. Models are frozen
and forbid unknown keys; they only exist in the spec layer. An operator item validates to an
``OpItem`` holding ``OpArgs`` (checked without building the operator's model where the arguments
are plainly valid; the model decides and reports otherwise: see ``OpArgs``).
"""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any, ClassVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    create_model,
    model_validator,
)

from cnncost.ops.registry import Attr, all_ops, canonical_name
from cnncost.spec.expr import parse


def _check_expression(text: str) -> str:
    parse(text)  # raises ExpressionError (a ValueError: pydantic reports it, located)
    return text


Expr = Annotated[str, AfterValidator(_check_expression)]
Number = StrictInt | StrictFloat | Expr
Int = StrictInt | Expr
Bool = StrictBool | Expr

STRUCTURAL = ("repeat", "parallel")
COMMON_KEYS = ("name", "input", "inputs", "when")


class _Frozen(BaseModel):
    # built on first use, not at import: a spec without blocks, repeats or figures never
    # builds the models of those (each costs ~1 ms; cnncost starts a process per command)
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class Common(_Frozen):
    """Keys every layer item accepts."""

    name: str | None = Field(None, description="local name; dotted names nest; '{expr}' interpolates")
    input: str | None = Field(None, description="reference to the input (default: previous item)")
    inputs: list[str] | None = Field(None, description="references, for operators with several inputs")
    when: Bool | None = Field(None, description="include this item only if the expression is true")

    @model_validator(mode="after")
    def _one_input_form(self) -> Common:
        if self.input is not None and self.inputs is not None:
            raise ValueError("give either 'input' or 'inputs', not both")
        return self


def _attr_type(attr: Attr) -> Any:
    """The pydantic type of one operator attribute (expressions allowed in numeric places)."""
    kind = attr.kind
    if kind == "int":
        return Int
    if kind == "float":
        return Number
    if kind == "bool":
        return Bool
    if kind in ("str", "choice"):
        return str
    if kind == "act":
        return str | None
    if kind == "pair":
        return Int | list[Int]
    if kind in ("sides", "padding"):
        return Int | list[Int | list[Int]]
    if kind == "ints":
        return Expr | list[Int]
    if kind == "floats":
        return Number | list[Number]
    if kind == "table":
        return Expr | list[list[Int]]
    raise AssertionError(kind)  # pragma: no cover


@cache
def op_model(op_name: str) -> type[Common]:
    """The model of an operator's arguments (all optional here: defaults fill in at expansion)."""
    opdef = all_ops()[canonical_name(op_name) or op_name]
    fields: dict[str, Any] = {
        name: (_attr_type(attr) | None, Field(None, description=attr.doc or None))
        for name, attr in opdef.attrs.items()
    }
    return create_model(f"{op_name}_args", __base__=Common, __doc__=opdef.doc, **fields)


class OpArgs:
    """The validated arguments of one operator item (``{conv2d: {out: 64, kernel: 3}}``): what an
    instance of the operator's model (``op_model``) holds, read the same way: every key of the
    model an attribute (None where not given), ``model_fields_set`` the keys given. Frozen.

    Why not the model itself: pydantic builds a model class in ~1.5 ms, and a spec uses a dozen
    to two dozen operators, 20-25 ms of every ``cnncost`` process that loads one (a fifth of
    ``report``'s own time). ``op_args`` checks the plainly valid arguments itself (YAML integers,
    floats, booleans and strings where the model takes them, expressions that parse, lists of
    them) and hands anything else to the model, whose errors are then exactly pydantic's; the
    model stays the single definition of what is valid (tests/spec/test_op_args.py holds the
    two to agreeing)."""

    __slots__ = ("__dict__", "model_fields_set", "op")

    op: str
    model_fields_set: frozenset[str]
    name: str | None
    input: str | None
    inputs: list[str] | None
    when: bool | str | None

    def __init__(self, op: str, values: dict[str, Any], given: frozenset[str]) -> None:
        object.__setattr__(self, "op", op)
        object.__setattr__(self, "model_fields_set", given)
        self.__dict__.update(values)

    def __getattr__(self, name: str) -> Any:  # only for names that are not fields
        raise AttributeError(f"{self.op} has no argument {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"the arguments of {self.op} are frozen")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"the arguments of {self.op} are frozen")

    def __reduce__(self) -> tuple[Any, ...]:
        return OpArgs, (self.op, dict(self.__dict__), self.model_fields_set)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, OpArgs):
            return NotImplemented
        return (self.op == other.op and self.model_fields_set == other.model_fields_set
                and self.__dict__ == other.__dict__)

    def __hash__(self) -> int:
        return hash((self.op, self.model_fields_set))

    def __repr__(self) -> str:
        given = ", ".join(f"{k}={self.__dict__[k]!r}" for k in self.__dict__
                          if k in self.model_fields_set)
        return f"OpArgs({self.op}: {given})"


class OpItem:
    """A validated operator item: its key as written (an operator's name or alias) and its
    arguments (None for a bare ``- relu`` or ``{relu: null}``)."""

    __slots__ = ("body", "key")

    key: str
    body: OpArgs | None

    def __init__(self, key: str, body: OpArgs | None) -> None:
        object.__setattr__(self, "key", key)
        object.__setattr__(self, "body", body)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("a layer item is frozen")

    def __reduce__(self) -> tuple[Any, ...]:
        return OpItem, (self.key, self.body)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, OpItem):
            return NotImplemented
        return self.key == other.key and self.body == other.body

    def __hash__(self) -> int:
        return hash((self.key, self.body))

    def __repr__(self) -> str:
        return f"OpItem({self.key!r}, {self.body!r})"


#: What the expander reads from an item's arguments: an operator's, or a structure's model.
Body = Common | OpArgs


@cache
def _fields_of(op: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(every key of ``op``'s model -> None, key -> the check of a plainly valid value)."""
    attrs = all_ops()[op].attrs
    checks: dict[str, Any] = {**_COMMON_CHECKS, **{k: _KIND_CHECKS[a.kind] for k, a in attrs.items()}}
    return dict.fromkeys(checks), checks


def op_args(op_name: str, body: Any) -> OpArgs | None:
    """``body`` as the arguments of ``op_name`` (an operator's name or alias), or None when it is
    not plainly valid (then ``op_model`` decides, and reports)."""
    op = canonical_name(op_name) or op_name
    if body is None:
        return empty_args(op)
    if type(body) is not dict:
        return None
    template, checks = _fields_of(op)
    values = template.copy()
    for key, value in body.items():
        check = checks.get(key) if type(key) is str else None
        if check is None or not (value is None or check(value)):
            return None
        values[key] = _copied(value)
    if values["input"] is not None and values["inputs"] is not None:
        return None  # Common's rule: the model says which
    return OpArgs(op, values, frozenset(body))


def args_of(op_name: str, body: Any) -> OpArgs:
    """The validated arguments of ``op_name``: ``op_args``, else the model's.

    Raises:
        pydantic.ValidationError: the model rejects ``body``.
    """
    fast = op_args(op_name, body)
    if fast is not None:
        return fast
    return _from_model(op_name, op_model(op_name).model_validate(body))


def _from_model(op_name: str, model: Common) -> OpArgs:
    op = canonical_name(op_name) or op_name
    template, _ = _fields_of(op)
    return OpArgs(op, {k: getattr(model, k) for k in template}, frozenset(model.model_fields_set))


def _copied(value: Any) -> Any:
    """Lists copied, as the model's validation copies them (nested lists too)."""
    return [_copied(v) for v in value] if type(value) is list else value


def _is_expr(value: Any) -> bool:
    """A string that ``Expr`` accepts (an expression that parses)."""
    if type(value) is not str:
        return False
    try:
        parse(value)
    except Exception:  # noqa: BLE001 - anything the parser refuses goes to the model, which reports it
        return False
    return True


def _is_text(value: Any) -> bool:  # str (the model's lax str also takes bytes: it decides)
    return type(value) is str


def _is_int(value: Any) -> bool:  # Int
    return type(value) is int or _is_expr(value)


def _is_number(value: Any) -> bool:  # Number
    return type(value) is int or type(value) is float or _is_expr(value)


def _list_of(check: Any) -> Any:
    return lambda value: type(value) is list and all(check(v) for v in value)


def _either(*checks: Any) -> Any:
    return lambda value: any(check(value) for check in checks)


_INTS = _list_of(_is_int)
_SIDES = _either(_is_int, _list_of(_either(_is_int, _INTS)))
#: Per attribute kind, what ``_attr_type`` accepts without coercion (None aside).
_KIND_CHECKS: dict[str, Any] = {
    "int": _is_int,
    "float": _is_number,
    "bool": lambda value: type(value) is bool or _is_expr(value),
    "str": _is_text,
    "choice": _is_text,
    "act": _is_text,
    "pair": _either(_is_int, _INTS),
    "sides": _SIDES,
    "padding": _SIDES,
    "ints": _either(_is_expr, _INTS),
    "floats": _either(_is_number, _list_of(_is_number)),
    "table": _either(_is_expr, _list_of(_INTS)),
}
#: The keys every item accepts, as ``Common`` types them.
_COMMON_CHECKS: dict[str, Any] = {
    "name": _is_text,
    "input": _is_text,
    "inputs": _list_of(_is_text),
    "when": _KIND_CHECKS["bool"],
}


@cache
def empty_args(op_name: str) -> OpArgs:
    """The arguments of an operator item that gives none (``- relu``): one shared instance per
    operator (frozen), not a validation per layer."""
    op = canonical_name(op_name) or op_name
    return OpArgs(op, _fields_of(op)[0].copy(), frozenset())


class BlockCall(Common):
    """Arguments of a block call: the block's declared args (checked at expansion)."""

    model_config = ConfigDict(extra="allow", frozen=True)


class RepeatBody(Common):
    times: Int = Field(description="number of iterations (an expression)")
    index: str = Field("i", description="name of the iteration index in expressions (from 0)")
    layers: list[Item] | None = Field(None, description="the body, one scope per iteration")
    block: str | None = Field(None, description="instead of layers: a block called per iteration")
    args: dict[str, Any] | None = Field(None, description="the block's arguments")

    @model_validator(mode="after")
    def _one_body(self) -> RepeatBody:
        if (self.layers is None) == (self.block is None):
            raise ValueError("a repeat needs exactly one of 'layers' or 'block'")
        if self.args is not None and self.block is None:
            raise ValueError("'args' goes with 'block'")
        return self


class ParallelBody(Common):
    branches: dict[str, list[Item]] = Field(
        description="named branches, each a list of layers read from the same input; [] = identity")
    merge: str | dict[str, Any] = Field(
        "concat", description="merge operator (concat, add, multiply) or a one-key operator item")


def _reject(value: Any) -> Any:
    raise ValueError(
        "a layer item is a one-key mapping such as {conv2d: {out: 64, kernel: 3}}, "
        "{repeat: {...}}, {parallel: {...}} or {my_block: {...}}, or a bare operator name")


@cache
def item_model(key: str) -> type[BaseModel]:
    """The model of a one-key layer item, built on first use (most specs use a dozen operators;
    building all of them up front would cost most of a second)."""
    if key == "repeat":
        return create_model("repeat_item", __base__=_Frozen, repeat=(RepeatBody, ...))
    if key == "parallel":
        return create_model("parallel_item", __base__=_Frozen, parallel=(ParallelBody, ...))
    field: Any = (op_model(key) | None, None)  # a union type: create_model's stubs want a type
    return create_model(f"{key}_item", __base__=_Frozen, **{key: field})


def _validate_item(value: Any) -> BaseModel | OpItem:
    """Dispatch a raw layer item on its key; nested errors keep their locations."""
    if isinstance(value, (BaseModel, OpItem)):
        return value
    if not (isinstance(value, dict) and len(value) == 1):
        _reject(value)
    key = next(iter(value))
    if key in STRUCTURAL:
        return item_model(key).model_validate(value)
    name = str(key)
    if canonical_name(name):
        fast = op_args(name, value[key])
        if fast is not None:
            return OpItem(name, fast)
        body = getattr(item_model(name).model_validate(value), name)  # raises, located
        return OpItem(name, None if body is None else _from_model(name, body))
    return _CallItem.model_validate(value)


class _CallItem(_Frozen):
    """A block call: ``{block_name: {args...}}`` (one dynamic key)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _validate(cls, value: Any) -> Any:
        ((key, body),) = value.items()
        if not isinstance(key, str):
            raise ValueError(f"layer item key must be a name, got {key!r}")  # noqa: TRY004 - see _reject
        if body is not None and not isinstance(body, dict):
            raise ValueError(f"the arguments of {key!r} must be a mapping")
        return {key: BlockCall.model_validate(body or {})}

    @property
    def block_name(self) -> str:
        return next(iter(self.__pydantic_extra__ or {}))

    @property
    def call(self) -> BlockCall:
        return next(iter((self.__pydantic_extra__ or {}).values()))


class _ItemSchema:
    """JSON-schema hook: a placeholder that ``schema.py`` replaces by ``#/$defs/LayerItem``."""

    PLACEHOLDER: ClassVar[dict[str, str]] = {"x-cnncost": "LayerItem"}

    def __get_pydantic_json_schema__(self, core_schema: Any, handler: Any) -> dict[str, Any]:
        return dict(self.PLACEHOLDER)


class FunctionDef(_Frozen):
    args: list[str] = Field(description="parameter names")
    expr: Expr = Field(description="the function's value, an expression over its args and params")


class BlockDef(_Frozen):
    doc: str | None = None
    args: list[str] | dict[str, Any] = Field(
        default_factory=dict, description="argument names, or names with defaults (null = required)")
    inputs: list[str] = Field(["input"], description="names of the block's inputs, in call order")
    defaults: dict[str, dict[str, Any]] = Field(default_factory=dict,
                                                description="per-operator defaults inside the block")
    layers: list[Item]
    output: str | None = Field(None, description="reference to the block's output (default: last)")

    @property
    def arg_defaults(self) -> dict[str, Any]:
        """Argument name -> default value (``None`` for required)."""
        if isinstance(self.args, list):
            return {name: None for name in self.args}
        return dict(self.args)


class InputSpec(_Frozen):
    name: str = "input"
    channels: Int | None = None
    height: Int | None = None
    width: Int | None = None
    shape: list[Int] | None = Field(None, description="any per-sample shape instead of C, H, W")

    @model_validator(mode="after")
    def _one_form(self) -> InputSpec:
        image = (self.channels, self.height, self.width)
        if self.shape is None and any(v is None for v in image):
            raise ValueError("give channels, height and width, or shape")
        if self.shape is not None and any(v is not None for v in image):
            raise ValueError("give either shape or channels/height/width")
        return self


UNITS = {"K": 10**3, "M": 10**6, "G": 10**9}
METRICS = ("params_total", "params_trainable", "params_non_trainable", "macs", "flops",
           "connections", "depth", "weighted_depth", "top1", "top5", "size_mb", "weight_bytes")


class Documented(_Frozen):
    metric: str = Field(description="one of: " + ", ".join(METRICS))
    value: StrictInt | StrictFloat | str
    source: str
    variant: str | None = None
    convention: str | None = Field(None, description="for macs/flops: the counting convention")
    unit: str | None = Field(None, description="K, M or G: the source rounds to this unit with "
                             "as many decimals as 'value' shows")
    checked: bool = Field(True, description="false: shown but not asserted (needs a note)")
    note: str | None = None

    @model_validator(mode="after")
    def _known_metric(self) -> Documented:
        if self.metric not in METRICS:
            raise ValueError(f"unknown metric {self.metric!r}; expected one of {', '.join(METRICS)}")
        if self.unit is not None and self.unit not in UNITS:
            raise ValueError(f"unknown unit {self.unit!r}; expected one of {', '.join(UNITS)}")
        if not self.checked and not self.note:
            raise ValueError("a figure with checked: false needs a note saying why")
        return self


class BlockFile(_Frozen):
    """A shared block file (``specs/blocks/*.yaml``) that specs import."""

    doc: str | None = None
    imports: list[str] = Field(default_factory=list,
                               description="other block files, relative to this one")
    functions: dict[str, FunctionDef] = Field(default_factory=dict)
    blocks: dict[str, BlockDef] = Field(default_factory=dict)


class ModelSpec(_Frozen):
    """One architecture, or a family of them selected by variants and parameters."""

    name: str
    title: str = ""
    description: str | None = None
    sources: dict[str, str] = Field(default_factory=dict)
    params: dict[str, Any] = Field(default_factory=dict,
                                   description="literal values, overridable with --set")
    let: dict[str, Any] = Field(default_factory=dict,
                                description="derived values: expressions, evaluated in order")
    functions: dict[str, FunctionDef] = Field(default_factory=dict)
    variants: dict[str, dict[str, Any]] = Field(default_factory=dict,
                                                description="named sets of parameter values")
    default_variant: str | None = None
    input: InputSpec
    defaults: dict[str, dict[str, Any]] = Field(default_factory=dict,
                                                description="per-operator default attributes")
    imports: list[str] = Field(default_factory=list,
                               description="block files, relative to this file or to specs/blocks")
    documented: list[Documented] = Field(default_factory=list)
    blocks: dict[str, BlockDef] = Field(default_factory=dict)
    layers: list[Item]
    outputs: list[str] | None = None


Item = Annotated[Any, BeforeValidator(_validate_item), _ItemSchema()]


def item_parts(item: BaseModel | OpItem) -> tuple[str, Any]:
    """(key, body) of a validated layer item; for a block call the key is the block's name."""
    if isinstance(item, OpItem):
        return item.key, item.body
    if isinstance(item, _CallItem):
        return item.block_name, item.call
    kind = type(item)
    key = _ITEM_KEYS.get(kind)
    if key is None:
        key = _ITEM_KEYS[kind] = next(iter(kind.model_fields))
    return key, getattr(item, key)


#: The one field of each structural item model (asked for every item of every expansion).
_ITEM_KEYS: dict[type, str] = {}
