"""YAML text -> plain Python data plus a map of source positions. Must not import torch.

PyYAML follows YAML 1.1 (``1e-5`` is a string, ``on``/``yes`` are booleans); the loader keeps that
behaviour, pinned by tests, and the expression layer turns ``"1e-5"`` into a float where a number
is expected. The safe (C when available) composer is used; no Python object is ever constructed.
Duplicate keys, which PyYAML silently overwrites, are an error here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from cnncost.errors import Location, Problem

try:  # the C composer is several times faster; fall back to the pure-Python one
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on the PyYAML build
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

Path = tuple[Any, ...]
_PLAIN_TAGS = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq", "tag:yaml.org,2002:omap")


@dataclass
class SourceMap:
    """Locations of every value (and mapping key) of one YAML file, by data path."""

    file: str
    values: dict[Path, Location] = field(default_factory=dict)
    keys: dict[Path, Location] = field(default_factory=dict)

    def locate(self, path: Path, *, key: bool = False) -> Location:
        """The location of ``path``, or of its deepest known ancestor.

        Path elements that are not part of the data (pydantic inserts union tags and validator
        names into error locations) are skipped.
        """
        found: Path = ()
        for element in path:
            candidate = (*found, element)
            if candidate in self.values:
                found = candidate
        if key and found in self.keys:
            return self.keys[found]
        return self.values.get(found, Location(self.file, 1, 1))


def _loc(file: str, mark: Any) -> Location:
    return Location(file, mark.line + 1, mark.column + 1)


def load_yaml(text: str, file: str) -> tuple[Any, SourceMap, list[Problem]]:
    """Parse ``text``; returns (data, source map, problems). Data is None on a syntax error."""
    smap = SourceMap(file)
    problems: list[Problem] = []
    try:
        root = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = _loc(file, mark) if mark else Location(file, 1, 1)
        message = " ".join(str(part) for part in (err.context, err.problem) if part)
        return None, smap, [Problem("yaml", message or "invalid YAML", where)]
    except yaml.YAMLError as err:  # pragma: no cover - non-marked errors are rare
        return None, smap, [Problem("yaml", str(err), Location(file, 1, 1))]
    if root is None:
        return {}, smap, problems
    constructor = yaml.constructor.SafeConstructor()

    def build(node: yaml.Node, path: Path) -> Any:
        smap.values[path] = _loc(file, node.start_mark)
        if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and node.tag not in _PLAIN_TAGS:
            raise yaml.constructor.ConstructorError(
                None, None, f"unsupported tag {node.tag!r}: a spec holds plain data only",
                node.start_mark)
        if isinstance(node, yaml.MappingNode):
            explicit = sum(k.tag != "tag:yaml.org,2002:merge" for k, _ in node.value)
            constructor.flatten_mapping(node)  # YAML merge keys (<<): merged pairs come first
            merged = len(node.value) - explicit
            data: dict[Any, Any] = {}
            seen: set[Any] = set()
            for index, (key_node, value_node) in enumerate(node.value):
                key = constructor.construct_object(key_node, deep=True)
                if not isinstance(key, (str, int, float, bool)):
                    problems.append(Problem("yaml", "mapping keys must be scalars",
                                            _loc(file, key_node.start_mark)))
                    continue
                if index >= merged:  # an explicit key overrides a merged one
                    if key in seen:
                        problems.append(Problem("yaml", f"duplicate key {key!r}",
                                                _loc(file, key_node.start_mark)))
                        continue
                    seen.add(key)
                elif key in data:
                    continue  # the first merged mapping wins, as in PyYAML
                smap.keys[(*path, key)] = _loc(file, key_node.start_mark)
                data[key] = build(value_node, (*path, key))
            return data
        if isinstance(node, yaml.SequenceNode):
            return [build(item, (*path, i)) for i, item in enumerate(node.value)]
        return constructor.construct_object(node, deep=True)

    try:
        return build(root, ()), smap, problems
    except yaml.YAMLError as err:  # e.g. an unknown tag such as !!python/object
        mark = getattr(err, "problem_mark", None)
        where = _loc(file, mark) if mark else Location(file, 1, 1)
        return None, smap, [Problem("yaml", str(getattr(err, "problem", err)), where)]
