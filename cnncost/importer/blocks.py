"""Blocks: instances of one module class become one block called with arguments. Must not import
torch.

Instances (a module's items, named relative to it) are grouped by class and exact structure
(items, operators, wiring); structures of one class merge when one is the other with items
left out (a ResNet bottleneck with and without its ``downsample``): the items some instances
lack exist ``when`` a flag argument says so, and an input that reads a missing item falls back
to what the others read (``downsample.1|input``). A group of two or more instances is a block.

A block's arguments come from the values its instances differ in, each written once: a value
that is the same everywhere is a literal; a channel count equal to the block's input channels,
or a multiple or a fraction of them, is an expression of ``c_in`` (an argument that defaults to
``in_channels``, never passed); a value equal to (or a multiple of) an argument already found
reuses it; anything else is a new argument, whose default is its most common value.
"""

from __future__ import annotations

import keyword
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from cnncost.importer.ir import Expr
from cnncost.importer.items import InputRef, Item, NodeRef, Ref, Slot
from cnncost.ops.registry import canonical_name

#: Attributes that count channels (relations between them and c_in are looked for).
CHANNEL_ATTRS = frozenset({"out", "groups"})
#: Names an argument may not take (parameters, expression names, the block's own).
RESERVED = frozenset({"c_in", "in_channels", "in_height", "in_width", "in_shape", "i", "input",
                      "num_classes", "resolution", "height", "width", "min", "max", "abs",
                      "round", "ceil", "floor", "int", "float", "bool", "str", "len", "sum",
                      "range", "sqrt", "make_divisible", "shape_of", "channels_of", "true",
                      "false", "null", "yes", "no", "on", "off"})


@dataclass
class Instance:
    """A candidate module: its items (names relative to it, inputs as InputRef / relative
    NodeRef), its external inputs, output and input channels."""

    scope: str
    cls: str
    items: list[Item]
    ext: list[str]
    output: str
    index: int
    in_channels: int | None
    nodes: frozenset[str]
    block: BlockDef | None = None
    args: dict[str, Any] = field(default_factory=dict)
    #: items written before the call, in the enclosing body (a merge of the inputs, hoisted)
    hoisted: list[Item] = field(default_factory=list)

    @property
    def signature(self) -> tuple[Any, ...]:
        return (len(self.ext), tuple((it.kind, it.name, it.key, tuple(s[0] for s in it.slots))
                                     for it in self.items))

    def call_item(self) -> Item:
        """The call of this instance's block, as an item of the enclosing body."""
        assert self.block is not None
        shown = {k: v for k, v in self.args.items() if self.block.args.get(k) != v}
        return Item("call", self.scope, self.block.name, shown,
                    [(NodeRef(e),) for e in self.ext], self.output, self.index,
                    nodes=self.nodes, all_args=dict(self.args))


@dataclass
class BlockDef:
    """A block of the spec: arguments (name -> default), its items (a template)."""

    name: str
    cls: str
    inputs: int
    args: dict[str, Any]
    items: list[Item]
    channel_args: frozenset[str] = frozenset()
    instances: int = 0


class _Absent:
    """The value of an attribute of an item an instance does not have."""

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Any = _Absent()


def _owner(items: list[Item], name: str) -> int | None:
    for k, item in enumerate(items):
        if item.name == name or name.startswith(item.name + "."):
            return k
    return None


class _Cluster:
    """Structures of one class that merge into one block (see the module docstring)."""

    def __init__(self, members: list[Instance]) -> None:
        base = members[0].items
        self.base = base
        self.keys = [(it.kind, it.name, it.key) for it in base]
        self.inputs = len(members[0].ext)
        self.alts: dict[tuple[int, int], list[Ref]] = {
            (p, s): [slot[0]] for p, it in enumerate(base) for s, slot in enumerate(it.slots)}
        #: per member instance: item position in the base -> its item
        self.members: list[tuple[Instance, dict[int, Item]]] = [
            (inst, dict(enumerate(inst.items))) for inst in members]

    def try_add(self, members: list[Instance]) -> bool:
        items = members[0].items
        if len(members[0].ext) != self.inputs:
            return False
        positions: list[int] = []
        p = 0
        for it in items:
            while p < len(self.keys) and self.keys[p] != (it.kind, it.name, it.key):
                p += 1
            if p == len(self.keys):
                return False
            positions.append(p)
            p += 1
        present = set(positions)
        alts = {k: list(v) for k, v in self.alts.items()}
        for it, pos in zip(items, positions):
            if len(it.slots) != len(self.base[pos].slots):
                return False
            for s, slot in enumerate(it.slots):
                ref, candidates = slot[0], alts[(pos, s)]
                found = next((a for a in candidates if self._exists(a, present)), None)
                if found is None:
                    candidates.append(ref)
                elif found != ref:
                    return False
        self.alts = alts
        self.members += [(inst, dict(zip(positions, inst.items))) for inst in members]
        return True

    def _exists(self, ref: Ref, present: set[int]) -> bool:
        if isinstance(ref, InputRef):
            return True
        owner = _owner(self.base, ref.name)
        return owner is not None and owner in present


@dataclass
class _Arg:
    key: str
    local: str
    values: list[Any]
    channels: bool
    flag: bool = False
    name: str = ""


@dataclass(frozen=True)
class _Use:
    """A template value that is an argument, times ``mul`` or divided by ``div``."""

    arg: _Arg | None  # None: c_in
    mul: int = 1
    div: int = 1

    def text(self) -> str:
        base = self.arg.name if self.arg is not None else "c_in"
        return f"{base} * {self.mul}" if self.mul != 1 else \
            f"{base} // {self.div}" if self.div != 1 else base


def _relation(values: list[Any], base: list[Any]) -> tuple[int, int] | None:
    """(mul, div) with values == base * mul // div at every position both define."""
    pairs = [(v, b) for v, b in zip(values, base) if v is not ABSENT]
    if not pairs or any(b is ABSENT or isinstance(v, bool) or not isinstance(v, int)
                        or not isinstance(b, int) or b <= 0 for v, b in pairs):
        return None
    v0, b0 = pairs[0]
    if v0 % b0 == 0 and all(v == b * (v0 // b0) for v, b in pairs):
        return (v0 // b0, 1)
    if v0 > 0 and b0 % v0 == 0 and all(b == v * (b0 // v0) for v, b in pairs):
        return (1, b0 // v0)
    return None


def _sanitize(text: str) -> str:
    name = re.sub(r"\W", "_", text).strip("_") or "arg"
    return f"x{name}" if name[0].isdigit() else name


class _Template:
    """The arguments and template values of one cluster."""

    def __init__(self, cluster: _Cluster, channel_args: dict[str, frozenset[str]]) -> None:
        self.cluster = cluster
        self.instances = [inst for inst, _ in cluster.members]
        self.args: list[_Arg] = []
        self.uses_c_in = False
        self.c_in = [inst.in_channels for inst in self.instances]
        self.channel_args = channel_args
        self.values: dict[tuple[int, str], Any] = {}

    def run(self) -> None:
        members = self.cluster.members
        for p, base in enumerate(self.cluster.base):
            keys: list[str] = []
            for _, by_pos in members:
                it = by_pos.get(p)
                if it is not None:
                    keys += [k for k in (it.all_args if it.kind == "call" else it.attrs)
                             if k not in keys]
            for key in keys:
                values = []
                for _, by_pos in members:
                    it = by_pos.get(p)
                    source = None if it is None else (it.all_args if it.kind == "call"
                                                      else it.attrs)
                    values.append(ABSENT if source is None else source.get(key))
                channels = (key in CHANNEL_ATTRS if base.kind == "op"
                            else key in self.channel_args.get(base.key, frozenset()))
                self.values[(p, key)] = self._value(base, key, values, channels)

    def _value(self, base: Item, key: str, values: list[Any], channels: bool) -> Any:
        present = [v for v in values if v is not ABSENT]
        if all(v == present[0] for v in present):
            return present[0]
        # an expression read where it is written (in_channels) cannot become an argument,
        # which the caller evaluates: its value goes instead
        values = [v.value if isinstance(v, Expr) and v.value is not None else v
                  for v in values]
        if channels:
            rel = _relation(values, self.c_in)
            if rel is not None:
                self.uses_c_in = True
                return _Use(None, *rel)
        for arg in self.args:
            if arg.flag:
                continue
            if all(a is ABSENT or v is ABSENT or a == v for a, v in zip(arg.values, values)):
                arg.values = [v if a is ABSENT else a for a, v in zip(arg.values, values)]
                return _Use(arg)
            if channels and arg.channels:
                rel = _relation(values, arg.values)
                if rel is not None:
                    return _Use(arg, *rel)
        arg = _Arg(key, base.name, list(values), channels)
        self.args.append(arg)
        return _Use(arg)

    def flags(self) -> dict[int, _Arg]:
        """The flag argument of each optional item position."""
        by_vector: dict[tuple[bool, ...], list[int]] = {}
        for p in range(len(self.cluster.base)):
            vector = tuple(p in by_pos for _, by_pos in self.cluster.members)
            if not all(vector):
                by_vector.setdefault(vector, []).append(p)
        out: dict[int, _Arg] = {}
        for vector, positions in by_vector.items():
            names = [self.cluster.base[p].name for p in positions]
            common = names[0].split(".")
            for n in names[1:]:
                parts = n.split(".")
                k = 0
                while k < min(len(common), len(parts)) and common[k] == parts[k]:
                    k += 1
                common = common[:k]
            label = ".".join(common)
            first = self.cluster.base[positions[0]]
            if not label or label.replace(".", "").isdigit():
                label = first.key
            label = "residual" if len(positions) == 1 and first.key == "add" else f"with_{label}"
            arg = _Arg("flag", label, list(vector), False, flag=True)
            self.args.append(arg)
            for p in positions:
                out[p] = arg
        return out


def _name_args(args: list[_Arg]) -> None:
    counts = Counter(a.key for a in args if not a.flag)
    taken: set[str] = set()
    for arg in args:
        if arg.flag:
            name = _sanitize(arg.local)
        elif counts[arg.key] == 1:
            name = arg.key
        else:
            name = f"{_sanitize(arg.local)}_{arg.key}"
        if name in RESERVED or keyword.iskeyword(name) or canonical_name(name) is not None:
            name = f"with_{name}" if arg.flag else f"{name}_arg"
        base, k = name, 1
        while name in taken:
            k += 1
            name = f"{base}_{k}"
        taken.add(name)
        arg.name = name


def _default(values: list[Any]) -> Any:
    present = [v for v in values if v is not ABSENT]
    counts = Counter(repr(v) for v in present)
    best = counts.most_common(1)[0][0]
    return next(v for v in present if repr(v) == best)


def block_name(cls: str, taken: set[str]) -> str:
    """snake_case of the class name, not an operator's or another block's name."""
    short = cls.rsplit(".", 1)[-1]
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", short).lower()
    name = _sanitize(snake)
    if canonical_name(name) is not None or name in ("repeat", "parallel") or name in RESERVED:
        name = f"{name}_block"
    base, k = name, 1
    while name in taken:
        k += 1
        name = f"{base}_{k}"
    taken.add(name)
    return name


def _template_value(value: Any) -> Any:
    return Expr(value.text(), None) if isinstance(value, _Use) else value


def _resolvable(slot: Slot, cluster: _Cluster, optional: bool) -> Slot:
    """An optional item's inputs must name something even where the item does not exist (a
    spec resolves references before it decides ``when``): the block's input closes the list."""
    last = slot[-1]
    if optional and isinstance(last, NodeRef):
        owner = _owner(cluster.base, last.name)
        everywhere = owner is not None and all(owner in by_pos for _, by_pos in cluster.members)
        if not everywhere:
            return (*slot, InputRef(0))
    return slot


def define(cluster: _Cluster, name: str, channel_args: dict[str, frozenset[str]],
           known: dict[str, BlockDef]) -> BlockDef:
    """The block of a cluster; sets each instance's ``block`` and ``args``."""
    template = _Template(cluster, channel_args)
    template.run()
    flags = template.flags()
    _name_args(template.args)
    defaults = {a.name: (_default(a.values) if not a.flag else Counter(a.values).most_common(1)[0][0])
                for a in template.args}
    items = []
    for p, base in enumerate(cluster.base):
        attrs = {key: _template_value(v) for (q, key), v in template.values.items() if q == p}
        flag = flags.get(p)
        slots: list[Slot] = [_resolvable(tuple(cluster.alts[(p, s)]), cluster, flag is not None)
                             for s in range(len(base.slots))]
        item = Item(base.kind, base.name, base.key, attrs if base.kind == "op" else {},
                    slots, base.output, base.index, base.in_channels,
                    when=flag.name if flag else None, nodes=base.nodes)
        if base.kind == "call":
            child = known[base.key].args
            item.all_args = attrs
            item.attrs = {k: v for k, v in attrs.items()
                          if isinstance(v, Expr) or k not in child or child[k] != v}
        items.append(item)
    args: dict[str, Any] = {}
    if template.uses_c_in:
        args["c_in"] = Expr("in_channels", None)
    args.update(defaults)
    channel = frozenset(a.name for a in template.args if a.channels)
    block = BlockDef(name, cluster.members[0][0].cls, cluster.inputs, args, items, channel,
                     len(cluster.members))
    for j, (inst, _) in enumerate(cluster.members):
        inst.block = block
        inst.args = {a.name: (a.values[j] if a.values[j] is not ABSENT else defaults[a.name])
                     for a in template.args}
    return block


def make_blocks(instances: list[Instance], taken: set[str],
                channel_args: dict[str, frozenset[str]],
                previous: list[BlockDef]) -> list[BlockDef]:
    """Blocks for the instances that have a twin (their ``block`` is set); the others stay
    single (``block`` None) and are written inline."""
    by_class: dict[str, dict[tuple[Any, ...], list[Instance]]] = {}
    for inst in instances:
        by_class.setdefault(inst.cls, {}).setdefault(inst.signature, []).append(inst)
    blocks = []
    known = {b.name: b for b in previous}
    for cls, structures in by_class.items():
        ordered = sorted(structures.values(), key=lambda m: (-len(m[0].items), -len(m)))
        clusters: list[_Cluster] = []
        for members in ordered:
            if not any(c.try_add(members) for c in clusters):
                clusters.append(_Cluster(members))
        for cluster in clusters:
            if len(cluster.members) >= 2:
                block = define(cluster, block_name(cls, taken), channel_args, known)
                blocks.append(block)
                known[block.name] = block
                channel_args[block.name] = block.channel_args
    return blocks
