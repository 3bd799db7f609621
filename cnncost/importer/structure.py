"""An ImportedGraph as bodies of items: nested module scopes, blocks, repeats. Must not import
torch.

The module tree (each layer's chain of module scopes) is walked bottom-up. A module is a
*candidate* block when it is a class of its own (not a bare ``nn.Sequential``), its layers run
one after the other, it reads one or more tensors from outside and its last layer is the only
one read from outside. Candidates are decided in rounds, innermost first, so that a module's
items already hold its submodules' block calls; ``cnncost.importer.blocks`` turns each class's
instances into blocks. A candidate without a twin, and every other module, is written inline:
its layers are items of the enclosing body, named with their dotted path.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cnncost.importer.blocks import BlockDef, Instance, make_blocks
from cnncost.importer.ir import INPUT, Expr, ImportedGraph, Layer
from cnncost.importer.items import InputRef, Item, NodeRef, Ref
from cnncost.importer.repeats import compress
from cnncost.ops.registry import get_op

#: Containers that are not blocks of their own: their children are the structure.
GENERIC = frozenset({"torch.nn.modules.container.Sequential",
                     "torch.nn.modules.container.ModuleList",
                     "torch.nn.modules.container.ModuleDict"})


@dataclass
class _Scope:
    name: str
    cls: str
    children: list[_Scope] = field(default_factory=list)
    direct: list[int] = field(default_factory=list)
    all: list[int] = field(default_factory=list)
    candidate: bool = False
    height: int = 0
    instance: Instance | None = None


def _full_attrs(layer: Layer) -> dict[str, object]:
    """Every attribute of the operator (registry defaults where the mapping gave none), so
    that instances compare attribute by attribute."""
    if layer.op == "unknown":
        return dict(layer.attrs)
    op = get_op(layer.op)
    out: dict[str, object] = {}
    for key, attr in op.attrs.items():
        if key in layer.attrs:
            out[key] = layer.attrs[key]
        elif not attr.required:
            out[key] = list(attr.default) if isinstance(attr.default, tuple) else attr.default
    return out


class Structure:
    """Bodies of an ImportedGraph: ``items`` (the top level) and ``blocks``."""

    def __init__(self, graph: ImportedGraph) -> None:
        self.graph = graph
        self.layers = graph.layers
        self.position = {layer.name: i for i, layer in enumerate(self.layers)}
        self.shapes = {layer.name: layer.shape for layer in self.layers}
        self.shapes[INPUT] = graph.input_shape
        self.consumers: dict[str, set[str]] = {}
        for layer in self.layers:
            for src in layer.inputs:
                self.consumers.setdefault(src, set()).add(layer.name)
        self.blocks: list[BlockDef] = []
        self.root = self._tree()
        self.items: list[Item] = []

    # -- the module tree -----------------------------------------------------------------------
    def _tree(self) -> _Scope:
        root = _Scope("", "")
        scopes = {"": root}
        for i, layer in enumerate(self.layers):
            chain = list(layer.scopes)
            if chain and chain[-1].name == layer.name:
                chain = chain[:-1]
            parent = root
            parent.all.append(i)
            for s in chain:
                node = scopes.get(s.name)
                if node is None:
                    node = scopes[s.name] = _Scope(s.name, s.cls)
                    parent.children.append(node)
                node.all.append(i)
                parent = node
            parent.direct.append(i)
        self._mark(root)
        return root

    def _mark(self, scope: _Scope) -> int:
        heights = [0]
        for child in scope.children:
            h = self._mark(child)
            heights.append(h + 1 if child.candidate else h)
        scope.height = max(heights)
        scope.candidate = bool(scope.name) and self._is_candidate(scope)
        return scope.height

    def _is_candidate(self, scope: _Scope) -> bool:
        if scope.cls in GENERIC or not scope.all:
            return False
        names = [self.layers[i].name for i in scope.all]
        if any(not n.startswith(scope.name + ".") for n in names):
            return False
        if scope.all != list(range(scope.all[0], scope.all[0] + len(scope.all))):
            return False
        if any(self.layers[i].op == "unknown" for i in scope.all):
            return False
        inside = set(names)
        read_outside = [n for n in names if n in self.graph.outputs
                        or any(c not in inside for c in self.consumers.get(n, ()))]
        if read_outside != [names[-1]]:
            return False
        return any(src not in inside for n in names for src in self.layers[self.position[n]].inputs)

    # -- items ---------------------------------------------------------------------------------
    def _op_item(self, i: int) -> Item:
        layer = self.layers[i]
        attrs = _full_attrs(layer)
        first = self.shapes.get(layer.inputs[0]) if layer.inputs else None
        in_ch = first[0] if first else None
        groups = attrs.get("groups")
        if layer.op == "conv2d" and isinstance(groups, int) and groups > 1 and groups == in_ch:
            attrs["groups"] = Expr("in_channels", groups)
        return Item("op", layer.name, layer.op, attrs, [(NodeRef(s),) for s in layer.inputs],
                    layer.name, i, in_ch, nodes=frozenset({layer.name}))

    def items_of(self, scope: _Scope) -> list[Item]:
        """The items of a scope's body, full names, in execution order."""
        out = [self._op_item(i) for i in scope.direct]
        for child in scope.children:
            if child.instance is not None and child.instance.block is not None:
                out += [*child.instance.hoisted, child.instance.call_item()]
            else:
                out.extend(self.items_of(child))
        out.sort(key=lambda it: it.index)
        return out

    def _instance(self, scope: _Scope, hoist: bool = False) -> Instance:
        items = self.items_of(scope)
        inside = frozenset(self.layers[i].name for i in scope.all)
        hoisted = []
        if hoist:  # the merge of the inputs goes before the call (see _hoistable)
            hoisted, items = items[:1], items[1:]
            inside = inside - {hoisted[0].output}
        ext: list[str] = []
        for it in items:
            for slot in it.slots:
                ref = slot[0]
                if isinstance(ref, NodeRef) and ref.name not in inside and ref.name not in ext:
                    ext.append(ref.name)
        prefix = scope.name + "."
        rel_items = [_relative(it, prefix, inside, ext) for it in items]
        first = self.shapes.get(ext[0]) if ext else None
        return Instance(scope.name, scope.cls, rel_items, ext, self.layers[scope.all[-1]].name,
                        items[0].index if items else scope.all[0], first[0] if first else None,
                        inside, hoisted=hoisted)

    @staticmethod
    def _hoistable(instances: list[Instance]) -> set[str]:
        """The scopes whose first item merges all their inputs (a DenseNet layer's concat of
        every earlier feature map) where instances of their class merge different numbers:
        written before the call, the merge leaves one block with one input."""
        heads: dict[str, set[int]] = {}
        for inst in instances:
            head = inst.items[0] if inst.items else None
            if head is not None and head.kind == "op" and head.key in ("concat", "add") \
                    and len(inst.ext) > 1 \
                    and [s[0] for s in head.slots] == [InputRef(k) for k in range(len(inst.ext))] \
                    and not any(isinstance(r, InputRef) for it in inst.items[1:]
                                for slot in it.slots for r in slot):
                heads.setdefault(inst.cls, set()).add(len(inst.ext))
        classes = {cls for cls, arities in heads.items() if len(arities) > 1}
        return {inst.scope for inst in instances if inst.cls in classes and inst.items
                and inst.items[0].kind == "op" and inst.items[0].key in ("concat", "add")}

    # -- the pass ------------------------------------------------------------------------------
    def run(self) -> Structure:
        rounds: dict[int, list[_Scope]] = {}
        stack = [self.root]
        while stack:
            scope = stack.pop()
            stack.extend(scope.children)
            if scope.candidate:
                rounds.setdefault(scope.height, []).append(scope)
        taken: set[str] = set()
        channel_args: dict[str, frozenset[str]] = {}
        for height in sorted(rounds):
            scopes = sorted(rounds[height], key=lambda s: s.all[0])
            for scope in scopes:
                scope.instance = self._instance(scope)
            hoist = self._hoistable([s.instance for s in scopes if s.instance])
            for scope in scopes:
                if scope.name in hoist:
                    scope.instance = self._instance(scope, hoist=True)
            self.blocks += make_blocks([s.instance for s in scopes if s.instance], taken,
                                       channel_args, self.blocks)
        self.items = compress(self.items_of(self.root), {b.name: b for b in self.blocks})
        for block in self.blocks:
            block.items = compress(block.items, {b.name: b for b in self.blocks}, alike=True)
        return self


def _relative(item: Item, prefix: str, inside: frozenset[str], ext: list[str]) -> Item:
    """An item of a scope's body with names relative to the scope and outside inputs as
    InputRefs."""
    def ref(r: Ref) -> Ref:
        if isinstance(r, NodeRef):
            if r.name in inside:
                return NodeRef(r.name[len(prefix):])
            return InputRef(ext.index(r.name))
        return r

    out = Item(item.kind, item.name[len(prefix):], item.key, item.attrs,
               [tuple(ref(r) for r in slot) for slot in item.slots],
               item.output[len(prefix):], item.index, item.in_channels, item.when,
               item.times, item.start,
               frozenset(n[len(prefix):] for n in item.nodes), item.all_args)
    return out


def structure(graph: ImportedGraph) -> Structure:
    """The top-level items and the blocks of ``graph``."""
    return Structure(graph).run()
