"""YAML bytes -> plain Python data plus a map of source positions. Must not import torch.

PyYAML follows YAML 1.1 (``1e-5`` is a string, ``on``/``yes`` are booleans); the loader keeps that
behaviour, pinned by tests, and the expression layer turns ``"1e-5"`` into a float where a number
is expected. No Python object is ever constructed: only the core scalar tags (str, int, float,
bool, null, timestamp) are built, with PyYAML's safe constructors. Duplicate keys, which PyYAML
silently overwrites, are an error here.

A spec is untrusted, so this module composes the document itself from the C parser's event
stream instead of calling ``yaml.compose``: libyaml's composer recurses on the C stack (a file of
100,000 nested ``[`` crashes the interpreter) and its parser slows quadratically with flow
nesting, while events come one at a time and composing stops at the first bound crossed
(``cnncost.limits``: nodes, nesting, values added by aliases and merge keys). Building the data
follows aliases with a guard against an alias inside its own anchor.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.resolver import Resolver

from cnncost.errors import Location, Problem, excerpt
from cnncost.limits import Limits, current

try:  # the C parser is several times faster; fall back to the pure-Python one
    from yaml._yaml import CParser as _Parser
except ImportError:  # pragma: no cover - depends on the PyYAML build
    from yaml import Loader as _Parser  # type: ignore[assignment]  # same get_event()

Path = tuple[Any, ...]
_MAP, _SEQ, _MERGE = "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq", "tag:yaml.org,2002:merge"
_PLAIN_TAGS = (_MAP, _SEQ, "tag:yaml.org,2002:omap")
#: The scalar tags a spec may hold, with PyYAML's safe constructor for each.
_SCALARS = {f"tag:yaml.org,2002:{name}": getattr(SafeConstructor, f"construct_yaml_{name}")
            for name in ("str", "int", "float", "bool", "null", "timestamp")}
_RESOLVER = Resolver()
#: Python refuses to convert longer digit strings (sys.get_int_max_str_digits); so do we.
_MAX_INT_CHARS = 4_000


@dataclass
class SourceMap:
    """Locations of every value (and mapping key) of one YAML file, by data path."""

    file: str
    values: dict[Path, Location] = field(default_factory=dict)
    keys: dict[Path, Location] = field(default_factory=dict)
    #: The text of every float as written (``0.70`` keeps its two decimals), by data path.
    float_texts: dict[Path, str] = field(default_factory=dict)
    _located: dict[tuple[Path, bool], Location] = field(default_factory=dict, repr=False,
                                                        compare=False)

    def locate(self, path: Path, *, key: bool = False) -> Location:
        """The location of ``path``, or of its deepest known ancestor.

        Path elements that are not part of the data (pydantic inserts union tags and validator
        names into error locations) are skipped.
        """
        memo = self._located.get((path, key))
        if memo is not None:
            return memo
        found: Path = ()
        for element in path:
            candidate = (*found, element)
            if candidate in self.values:
                found = candidate
        if key and found in self.keys:
            located = self.keys[found]
        else:
            located = self.values.get(found, Location(self.file, 1, 1))
        self._located[(path, key)] = located  # an expansion asks again for every iteration
        return located


class _Node:
    """A composed YAML node: kind 's' (scalar), 'q' (sequence), 'm' (mapping) or 'a' (an alias,
    whose value is its anchor's node)."""

    __slots__ = ("column", "kind", "line", "tag", "value")

    def __init__(self, kind: str, tag: str, value: Any, line: int, column: int) -> None:
        self.kind, self.tag, self.value, self.line, self.column = kind, tag, value, line, column


class _Stop(Exception):
    """Loading stops: ``problem`` says where and why."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.message)
        self.problem = problem


def decode(data: bytes, file: str) -> str:
    """UTF-8 bytes -> text (a leading byte-order mark dropped).

    Raises:
        SpecError: bytes that are not UTF-8, located at the first bad byte's line and column.
    """
    from cnncost.errors import SpecError

    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        start = err.start
        line_start = data.rfind(b"\n", 0, start) + 1
        line = data.count(b"\n", 0, start) + 1
        column = len(data[line_start:start].decode("utf-8", "replace")) + 1
        raise SpecError([Problem(
            "yaml", f"byte 0x{data[start]:02x} is not UTF-8: a spec is UTF-8 text",
            Location(file, line, column))]) from None


def load_yaml(text: str, file: str, limits: Limits | None = None
              ) -> tuple[Any, SourceMap, list[Problem]]:
    """Parse ``text``; returns (data, source map, problems): ``{}`` for an empty text, and None
    with the problem that stopped it when it cannot be read."""
    limits = limits or current()
    smap = SourceMap(file)
    try:
        root = _compose(text, file, limits)
    except _Stop as stop:
        return None, smap, [stop.problem]
    if root is None:
        return {}, smap, []  # an empty file, or one holding only comments

    builder = _Builder(file, smap, limits, _count(root))
    try:
        data = builder.build(root, (), 0)
    except _Stop as stop:
        return None, smap, [stop.problem]
    return data, smap, builder.problems


def _position(text: str, index: int) -> tuple[int, int]:
    line_start = text.rfind("\n", 0, index) + 1
    return text.count("\n", 0, index) + 1, index - line_start + 1


def _compose(text: str, file: str, limits: Limits) -> _Node | None:
    """The single document of ``text`` as a _Node tree (aliases share their anchor's node)."""
    anchors: dict[str, _Node] = {}
    stack: list[tuple[_Node, list[Any]]] = []  # open collections and their items so far
    root: _Node | None = None
    documents = nodes = 0
    try:
        parser = _Parser(text)
        while True:
            event: Any = parser.get_event()  # one of yaml.events' classes
            cls = type(event)
            node: _Node | None = None
            if cls is yaml.ScalarEvent or cls is yaml.SequenceStartEvent \
                    or cls is yaml.MappingStartEvent:
                nodes += 1
                mark: Any = event.start_mark
                if nodes > limits.max_yaml_nodes:
                    raise _Stop(Problem(
                        "yaml", f"more than {limits.max_yaml_nodes:,} YAML values (the limit "
                        f"CNNCOST_MAX_YAML_NODES)", _mark(file, mark)))
                tag = event.tag
                if cls is yaml.ScalarEvent:
                    if tag is None or tag == "!":
                        tag = _RESOLVER.resolve(yaml.ScalarNode, event.value, event.implicit)
                    node = _Node("s", tag, event.value, mark.line + 1, mark.column + 1)
                else:
                    kind = "q" if cls is yaml.SequenceStartEvent else "m"
                    if tag is None or tag == "!":
                        tag = _SEQ if kind == "q" else _MAP
                    node = _Node(kind, tag, None, mark.line + 1, mark.column + 1)
                if event.anchor is not None:
                    anchors[event.anchor] = node
                if node.kind != "s":
                    if len(stack) >= limits.max_yaml_depth:
                        raise _Stop(Problem(
                            "yaml", f"nested more than {limits.max_yaml_depth} levels deep (the "
                            "limit CNNCOST_MAX_YAML_DEPTH)", _mark(file, mark)))
                    stack.append((node, []))
                    continue
            elif cls is yaml.SequenceEndEvent or cls is yaml.MappingEndEvent:
                node, items = stack.pop()
                if node.kind == "m":
                    node.value = list(zip(items[::2], items[1::2]))
                else:
                    node.value = items
            elif cls is yaml.AliasEvent:
                target = anchors.get(event.anchor or "")
                if target is None:
                    raise _Stop(Problem("yaml", f"undefined alias *{excerpt(event.anchor)}",
                                        _mark(file, event.start_mark)))
                mark = event.start_mark
                node = _Node("a", target.tag, target, mark.line + 1, mark.column + 1)
            elif cls is yaml.StreamEndEvent:
                break
            elif cls is yaml.DocumentStartEvent:
                documents += 1
                if documents > 1:
                    raise _Stop(Problem("yaml", "a spec is one YAML document; found a second",
                                        _mark(file, event.start_mark)))
                continue
            else:  # the stream's start, a document's end
                continue
            if stack:
                stack[-1][1].append(node)
            else:
                root = node
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = _mark(file, mark) if mark else Location(file, 1, 1)
        message = " ".join(str(part) for part in (err.context, err.problem) if part)
        raise _Stop(Problem("yaml", message or "invalid YAML", where)) from None
    except yaml.reader.ReaderError as err:
        line, column = _position(text, err.position)
        code = err.character if isinstance(err.character, int) else ord(err.character)
        raise _Stop(Problem("yaml", f"character #x{code:04x} is not allowed in YAML (control "
                            "characters and NUL are not)",
                            Location(file, line, column))) from None
    except yaml.YAMLError as err:  # pragma: no cover - unmarked errors are rare
        raise _Stop(Problem("yaml", excerpt(str(err)), Location(file, 1, 1))) from None
    except UnicodeEncodeError as err:  # lone surrogates (from a command line, not a file)
        line, column = _position(text, err.start)
        raise _Stop(Problem("yaml", "text that is not valid Unicode (a lone surrogate)",
                            Location(file, line, column))) from None
    return root


def _mark(file: str, mark: Any) -> Location:
    return Location(file, mark.line + 1, mark.column + 1)


def _count(root: _Node) -> int:
    """Nodes of the tree as written (each anchored node once)."""
    seen: set[int] = set()
    todo = [root]
    while todo:
        node = todo.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if node.kind == "a":
            seen.discard(id(node))  # an alias adds no value as written; its anchor is counted
            todo.append(node.value)
        elif node.kind == "q":
            todo.extend(node.value)
        elif node.kind == "m":
            for key, value in node.value:
                todo += (key, value)
    return len(seen)


def _target(node: _Node) -> _Node:
    return node.value if node.kind == "a" else node


class _Builder:
    """Builds plain data from the node tree, recording every value's location."""

    def __init__(self, file: str, smap: SourceMap, limits: Limits, written: int) -> None:
        self.file, self.smap, self.limits = file, smap, limits
        self.problems: list[Problem] = []
        self.budget = written + limits.max_alias_values  # values an alias bomb cannot exceed
        self.active: set[int] = set()  # collections being built: an alias to one is a cycle
        self.aliases: list[_Node] = []  # the aliases being followed, outermost first
        self.constructor = SafeConstructor()

    def where(self, node: _Node) -> Location:
        return Location(self.file, node.line, node.column)

    def too_many(self, node: _Node) -> _Stop:
        """The alias bomb's problem, at the outermost alias being followed."""
        return _Stop(Problem(
            "yaml", f"aliases and merge keys add more than {self.limits.max_alias_values:,} "
            "values (an alias bomb?; the limit CNNCOST_MAX_ALIAS_VALUES)",
            self.where(self.aliases[0] if self.aliases else node)))

    def build(self, node: _Node, path: Path, depth: int) -> Any:
        if node.kind == "a":
            if id(node.value) in self.active:
                raise _Stop(Problem("yaml", "an alias refers to a collection that contains it "
                                    "(a recursive anchor)", self.where(node)))
            self.aliases.append(node)
            try:
                value = self.build(node.value, path, depth)
            finally:
                self.aliases.pop()
            self.smap.values[path] = self.where(node)  # where the value is used
            return value
        self.budget -= 1
        if self.budget < 0:
            raise self.too_many(node)
        self.smap.values[path] = self.where(node)
        if node.kind == "s":
            value = self.scalar(node)
            if isinstance(value, float):
                self.smap.float_texts[path] = node.value
            return value
        if node.tag not in _PLAIN_TAGS:
            raise _Stop(Problem("yaml", f"unsupported tag {excerpt(node.tag)!r}: a spec holds "
                                "plain data only", self.where(node)))
        if depth >= self.limits.max_yaml_depth:
            raise _Stop(Problem("yaml", f"nested more than {self.limits.max_yaml_depth} levels "
                                "deep through aliases (the limit CNNCOST_MAX_YAML_DEPTH)",
                                self.where(node)))
        self.active.add(id(node))
        try:
            if node.kind == "q":
                return [self.build(item, (*path, i), depth + 1)
                        for i, item in enumerate(node.value)]
            return self.mapping(node, path, depth)
        finally:
            self.active.discard(id(node))

    def scalar(self, node: _Node) -> Any:
        construct = _SCALARS.get(node.tag)
        if construct is None:
            raise _Stop(Problem("yaml", f"unsupported tag {excerpt(node.tag)!r}: a spec holds "
                                "plain data only", self.where(node)))
        if node.tag.endswith(":int") and len(node.value) > _MAX_INT_CHARS:
            raise _Stop(Problem("yaml", f"an integer of {len(node.value):,} characters is too long "
                                f"(at most {_MAX_INT_CHARS:,})", self.where(node)))
        try:
            return construct(self.constructor, yaml.ScalarNode(node.tag, node.value))
        except (ValueError, LookupError, TypeError, ArithmeticError, AttributeError,
                yaml.YAMLError):
            name = node.tag.rpartition(":")[2]
            raise _Stop(Problem("yaml", f"{excerpt(node.value)!r} is not a valid !!{name}",
                                self.where(node))) from None

    def mapping(self, node: _Node, path: Path, depth: int) -> dict[Any, Any]:
        # Merged pairs first, a later one overriding an earlier one (PyYAML's order: a merged
        # mapping's own merges before its keys; of a list of mappings the first wins); then the
        # explicit keys, which override them all and may not repeat.
        pairs: dict[Any, tuple[_Node, _Node]] = {}
        for key_node, value_node in self.merged(node, depth):
            key = self.key(key_node)
            if key is not _Stop:
                pairs[key] = (key_node, value_node)
        seen: set[Any] = set()
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                continue
            key = self.key(key_node)
            if key is _Stop:
                continue
            if key in seen:
                self.problems.append(Problem("yaml", f"duplicate key {excerpt(key)!r}",
                                             self.where(key_node)))
                continue
            seen.add(key)
            pairs.pop(key, None)
            pairs[key] = (key_node, value_node)
        data: dict[Any, Any] = {}
        for key, (key_node, value_node) in pairs.items():
            self.smap.keys[(*path, key)] = self.where(key_node)
            data[key] = self.build(value_node, (*path, key), depth + 1)
        return data

    def key(self, node: _Node) -> Any:
        """A mapping key's value, or ``_Stop`` (the class) after recording why it cannot be one."""
        node = _target(node)
        if node.kind != "s":
            self.problems.append(Problem("yaml", "mapping keys must be scalars", self.where(node)))
            return _Stop
        key = self.scalar(node)
        if not isinstance(key, (str, int, float, bool)):
            self.problems.append(Problem("yaml", "mapping keys must be text, numbers or booleans",
                                         self.where(node)))
            return _Stop
        return key

    def merged(self, node: _Node, depth: int) -> list[tuple[_Node, _Node]]:
        """The (key, value) pairs that ``<<`` merge keys bring into ``node``, in PyYAML's order:
        a merged mapping's own merges first, and of a list of mappings the last one first."""
        out: list[tuple[_Node, _Node]] = []
        for key, value in node.value:
            if key.tag != _MERGE:
                continue
            value = _target(value)
            sources = ([value] if value.kind == "m" else
                       [_target(s) for s in value.value] if value.kind == "q" else None)
            if sources is None or any(s.kind != "m" for s in sources):
                raise _Stop(Problem("yaml", "a merge key (<<) takes a mapping or a list of "
                                    "mappings", self.where(value)))
            if depth >= self.limits.max_yaml_depth or any(id(s) in self.active for s in sources):
                raise _Stop(Problem("yaml", "merge keys (<<) nest too deeply or merge a mapping "
                                    "into itself", self.where(value)))
            parts = []
            for source in sources:
                self.active.add(id(source))
                try:
                    pairs = self.merged(source, depth + 1)
                finally:
                    self.active.discard(id(source))
                pairs += [(k, v) for k, v in source.value if k.tag != _MERGE]
                self.budget -= len(pairs) + 1
                if self.budget < 0:
                    raise self.too_many(key)
                parts.append(pairs)
            for pairs in reversed(parts) if value.kind == "q" else parts:
                out.extend(pairs)
        return out
