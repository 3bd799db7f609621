"""Read a spec file and its imported block files into validated models. Must not import torch.

Pydantic validation errors are turned into located problems (``file:line:column``, the data path,
and a "did you mean" for a misspelt key); every problem of every file is collected and raised
together as one SpecError.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from cnncost.errors import FileAccessError, Location, Problem, SpecError, excerpt
from cnncost.gcpause import paused
from cnncost.limits import Limits, current, holding
from cnncost.ops.registry import all_ops, canonical_name, registered
from cnncost.spec import model as m
from cnncost.spec.yamlsource import SourceMap, decode, load_yaml

#: Where ``imports`` are looked up after the importing file's own folder.
BLOCKS_DIR = "blocks"
#: Folders (``os.pathsep``-separated) a spec may import from besides its own tree.
IMPORT_PATH_ENV = "CNNCOST_IMPORT_PATH"


@dataclass(frozen=True)
class Origin:
    """Where a block or function is defined: its file's source map and its data path there."""

    source: SourceMap
    path: tuple[Any, ...]


@dataclass(frozen=True)
class LoadedSpec:
    """A validated spec with everything it imports and the positions of every value."""

    spec: m.ModelSpec
    file: Path
    source: SourceMap
    blocks: dict[str, tuple[m.BlockDef, Origin]]
    functions: dict[str, tuple[m.FunctionDef, Origin]]
    #: What the stages after loading remember about this spec across analyses (the block calls
    #: ``graph.replay`` recorded): a cache, never part of the spec.
    memo: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


def read_text(path: Path, limits: Limits | None = None) -> str:
    """The text of a spec or block file, read up to the size limit.

    Raises:
        FileAccessError: the file cannot be opened or read.
        SpecError: it is larger than ``max_spec_bytes`` (``/dev/zero`` is), or not UTF-8.
    """
    limit = (limits or current()).max_spec_bytes
    try:
        with path.open("rb") as stream:  # in chunks: read(limit + 1) allocates the limit
            chunks, size = [], 0
            while size <= limit and (chunk := stream.read(min(2**16, limit + 1 - size))):
                chunks.append(chunk)
                size += len(chunk)
            data = b"".join(chunks)
    except OSError as err:
        raise FileAccessError(f"cannot read {path}: {err.strerror or err}") from None
    if len(data) > limit:
        raise SpecError([Problem("file", f"larger than {limit:,} bytes, the limit for a spec "
                                 "file (CNNCOST_MAX_SPEC_BYTES)", Location(str(path), 1, 1))])
    return decode(data, str(path))


def _normalise_items(data: Any) -> Any:
    """Bare operator names in layer lists (``- relu``) become one-key mappings (``{relu: {}}``)."""
    if isinstance(data, dict):
        out: dict[Any, Any] = {}
        for key, value in data.items():
            if key in ("layers",) and isinstance(value, list):
                out[key] = [{v: None} if isinstance(v, str) else _normalise_items(v) for v in value]
            elif key == "branches" and isinstance(value, dict):
                out[key] = {
                    b: ([{v: None} if isinstance(v, str) else _normalise_items(v) for v in items]
                        if isinstance(items, list) else items)
                    for b, items in value.items()
                }
            else:
                out[key] = _normalise_items(value)
        return out
    if isinstance(data, list):
        return [_normalise_items(v) for v in data]
    return data


def _path_text(path: tuple[Any, ...]) -> str:
    text = ""
    for element in path:
        text += f"[{element}]" if isinstance(element, int) else (f".{element}" if text else str(element))
    return text


def _vocabulary(loc: tuple[Any, ...]) -> list[str]:
    """Valid keys where a pydantic error points: an operator's attributes or the structural keys."""
    for element in reversed(loc):
        canonical = canonical_name(element) if isinstance(element, str) else None
        if canonical is not None:
            return [*all_ops()[canonical].attrs, *m.COMMON_KEYS]
    if loc and loc[-2:-1] == ("repeat",) or "repeat" in loc:
        return list(m.RepeatBody.model_fields)
    if "parallel" in loc:
        return list(m.ParallelBody.model_fields)
    if "blocks" in loc and len(loc) <= 3:
        return list(m.BlockDef.model_fields)
    if loc[:1] == ("input",):
        return list(m.InputSpec.model_fields)
    return list(m.ModelSpec.model_fields)


def _problems_from_validation(err: ValidationError, smap: SourceMap) -> list[Problem]:
    grouped: dict[tuple[Any, ...], list[Any]] = {}  # pydantic's ErrorDetails
    for e in err.errors():
        loc = tuple(e["loc"])
        if e["type"] == "extra_forbidden":
            grouped.setdefault((*_clean(loc, smap), "__extra__", loc[-1]), []).append(e)
        else:
            grouped.setdefault(_clean(loc, smap), []).append(e)
    problems = []
    for path, errors in grouped.items():
        if len(path) >= 2 and path[-2] == "__extra__":
            key, data_path = path[-1], (*path[:-2], path[-1])
            close = difflib.get_close_matches(str(key), _vocabulary(tuple(errors[0]["loc"])), n=1)
            problems.append(Problem(
                "schema", f"unknown key {excerpt(key)!r}", smap.locate(data_path, key=True),
                layer=_path_text(path[:-2]) or None,
                hint=f"did you mean {close[0]!r}?" if close else None))
            continue
        missing = [e for e in errors if e["type"] == "missing"]
        if missing:
            for e in missing:
                problems.append(Problem("schema", f"missing required key {e['loc'][-1]!r}",
                                        smap.locate(path), layer=_path_text(path) or None))
            continue
        value_errors = [e for e in errors if e["type"] in ("value_error", "assertion_error")]
        chosen = value_errors or errors
        messages = []
        for e in chosen:
            msg = str(e["msg"]).removeprefix("Value error, ")
            if msg not in messages:
                messages.append(msg)
        kind = "expression" if any("expression" in msg for msg in messages) else "schema"
        text = "; ".join(messages[:3])
        if not value_errors:
            text = f"invalid value {excerpt(repr(errors[0].get('input')))}: {text}"
        problems.append(Problem(kind, text, smap.locate(path), layer=_path_text(path) or None))
    return problems


def _clean(loc: tuple[Any, ...], smap: SourceMap) -> tuple[Any, ...]:
    found: tuple[Any, ...] = ()
    for element in loc:
        if (*found, element) in smap.values:
            found = (*found, element)
    return found


def _validate(model: type[BaseModel], data: Any, smap: SourceMap,
              problems: list[Problem]) -> Any:
    try:
        return model.model_validate(_normalise_items(data))
    except ValidationError as err:
        problems.extend(_problems_from_validation(err, smap))
        return None


def import_roots(spec_file: Path, allowed: Sequence[str | Path] = ()) -> tuple[Path, ...]:
    """The folders whose files a spec may import: its own folder (and everything below it), the
    ``blocks`` folder beside that folder (``specs/examples/x.yaml`` imports ``specs/blocks``), the
    folders in ``allowed`` and those of ``CNNCOST_IMPORT_PATH`` (separated by ``os.pathsep``)."""
    folder = spec_file.resolve().parent
    extra = [*allowed, *filter(None, os.environ.get(IMPORT_PATH_ENV, "").split(os.pathsep))]
    return (folder, folder.parent / BLOCKS_DIR, *(Path(p).resolve() for p in extra))


def _inside(path: Path, roots: tuple[Path, ...]) -> bool:
    return any(path == root or root in path.parents for root in roots)


def _find_import(name: str, importer: Path) -> Path | None:
    for candidate in (importer.parent / name, importer.parent / BLOCKS_DIR / name,
                      importer.parent.parent / BLOCKS_DIR / name):
        if candidate.is_file():
            return candidate
    return None


def load_spec(path: str | Path, *, allow_imports: Sequence[str | Path] = ()) -> LoadedSpec:
    """Load and validate a spec and its imports.

    ``imports:`` may only read files inside ``import_roots`` (the spec's folder tree, the
    ``blocks`` folder beside it, and the folders in ``allow_imports``).

    Raises:
        FileAccessError: the spec file cannot be read.
        SpecError: anything is wrong with it or its imports (all problems together).
    """
    limits = current()
    # validators that parse expressions read the same limits; the collector is off while the
    # file's nodes, its source map and its models are built (cnncost.gcpause)
    with holding(limits), paused():
        return _load(Path(path), limits, allow_imports)


#: Files parsed and validated, by file name, text, limits, model and operators registered: a
#: cache, never a source of truth (every file is still read, and a file whose text changed is
#: parsed again). The zoo's specs import the same block files; an analysis from a path in a
#: loop reads the same spec. Bounded in entries and in the text it holds.
_PARSED: dict[tuple[Any, ...], tuple[Any, SourceMap, tuple[Problem, ...], Any,
                                     tuple[Problem, ...]]] = {}
_PARSED_SIZE = 128
_PARSED_TEXT = 1 << 18  # longer files are parsed every time


def _parsed(file: str, text: str, limits: Limits, model: type[BaseModel]
            ) -> tuple[Any, SourceMap, tuple[Problem, ...], Any, tuple[Problem, ...]]:
    """``load_yaml`` of ``text``, and ``model`` validated on its data where it has no YAML
    problems: (data, source map, YAML problems, validated model or None, validation problems).
    The data, the map and the model are shared by every load of the same text: read them only
    (the models are frozen)."""
    key = (file, text, limits, model, registered()) if len(text) <= _PARSED_TEXT else None
    hit = _PARSED.get(key) if key is not None else None
    if hit is not None:
        return hit
    data, smap, yaml_problems = load_yaml(text, file, limits)
    problems: list[Problem] = []
    validated = None if yaml_problems else _validate(model, data, smap, problems)
    found = (data, smap, tuple(yaml_problems), validated, tuple(problems))
    if key is not None:
        if len(_PARSED) >= _PARSED_SIZE:
            _PARSED.clear()
        _PARSED[key] = found
    return found


def _load(file: Path, limits: Limits, allow_imports: Sequence[str | Path]) -> LoadedSpec:
    text = read_text(file, limits)
    problems: list[Problem] = []
    data, smap, yaml_problems, spec, spec_problems = _parsed(str(file), text, limits,
                                                             m.ModelSpec)
    if yaml_problems:
        raise SpecError(list(yaml_problems))
    if not isinstance(data, dict):
        raise SpecError([Problem("schema", "a spec is a mapping with at least name, input and "
                                 "layers", Location(str(file), 1, 1))])
    problems.extend(spec_problems)
    imports = _Imports(import_roots(file, allow_imports), limits, {file.resolve()}, problems)
    imports.load(data.get("imports"), file, smap, 0)
    blocks, functions = imports.blocks, imports.functions
    if spec is None:
        problems.extend(_raw_unknown_calls(data, smap, blocks))
        raise SpecError(problems)
    for bname, bdef in spec.blocks.items():
        blocks[bname] = (bdef, Origin(smap, ("blocks", bname)))
    for fname, fdef in spec.functions.items():
        functions[fname] = (fdef, Origin(smap, ("functions", fname)))
    loaded = LoadedSpec(spec, file, smap, blocks, functions)
    problems.extend(_static_checks(loaded))
    if problems:
        raise SpecError(problems)
    return loaded


@dataclass
class _Imports:
    """The block files of one spec, loaded once each, confined to ``roots``."""

    roots: tuple[Path, ...]
    limits: Limits
    seen: set[Path]
    problems: list[Problem]
    blocks: dict[str, tuple[m.BlockDef, Origin]] = field(default_factory=dict)
    functions: dict[str, tuple[m.FunctionDef, Origin]] = field(default_factory=dict)

    def load(self, names: Any, importer: Path, smap: SourceMap, depth: int) -> None:
        """Load the block files ``names`` (relative to ``importer``), their own imports first;
        each file once (a diamond or a cycle of imports is harmless)."""
        for i, name in enumerate(names if isinstance(names, list) else []):
            if not isinstance(name, str):
                continue
            where = smap.locate(("imports", i))
            target = self.target(name, importer, where)
            if target is None or target in self.seen:
                continue
            if depth >= self.limits.max_nesting:
                self.problems.append(Problem("file", f"imports nest more than "
                                             f"{self.limits.max_nesting} files deep", where))
                return
            self.seen.add(target)
            try:
                _, bmap, bproblems, bfile, invalid = _parsed(
                    str(target), read_text(target, self.limits), self.limits, m.BlockFile)
            except FileAccessError as err:
                self.problems.append(Problem("file", str(err), where))
                continue
            except SpecError as err:
                self.problems.extend(err.problems)
                continue
            self.problems.extend(bproblems)
            if bproblems:
                continue
            self.problems.extend(invalid)
            if bfile is None:
                continue
            self.load(bfile.imports, target, bmap, depth + 1)
            for bname, bdef in bfile.blocks.items():
                self.blocks[bname] = (bdef, Origin(bmap, ("blocks", bname)))
            for fname, fdef in bfile.functions.items():
                self.functions[fname] = (fdef, Origin(bmap, ("functions", fname)))

    def target(self, name: str, importer: Path, where: Location) -> Path | None:
        """The resolved file ``name`` names, or None after recording why it cannot be read."""
        shown = excerpt(name)
        if Path(name).is_absolute():
            self.problems.append(Problem(
                "file", f"import {shown!r} is an absolute path; imports are relative to the "
                "importing file", where))
            return None
        found = _find_import(name, importer)
        if found is None:
            self.problems.append(Problem(
                "file", f"imported block file {shown!r} not found (looked next to "
                f"{importer.name} and in {BLOCKS_DIR}/)", where))
            return None
        target = found.resolve()
        if target == importer.resolve():
            self.problems.append(Problem(
                "file", f"{shown!r} is this file itself; import a block file (e.g. "
                f"{BLOCKS_DIR}/{shown})", where))
            return None
        if not _inside(target, self.roots):
            self.problems.append(Problem(
                "file", f"import {shown!r} is outside the spec's folder and its {BLOCKS_DIR}/ "
                f"folder; allow its folder with {IMPORT_PATH_ENV} (or allow_imports)", where))
            return None
        return target


def _static_checks(loaded: LoadedSpec) -> list[Problem]:
    """Checks that need the whole spec: block names vs operators, defaults, variants."""
    problems: list[Problem] = []
    spec, smap = loaded.spec, loaded.source
    ops = all_ops()
    for bname, (_, origin) in loaded.blocks.items():
        if canonical_name(bname) or bname in m.STRUCTURAL:
            problems.append(Problem("duplicate-name", f"block {bname!r} shadows an operator of the "
                                    "same name; rename the block",
                                    origin.source.locate(origin.path, key=True)))
    known_calls = [*ops, *loaded.blocks, *m.STRUCTURAL]

    def walk(items: list[Any], path: tuple[Any, ...], source: SourceMap) -> None:
        for index, item in enumerate(items):
            key, body = m.item_parts(item)
            here = (*path, index)
            if key == "repeat":
                if body.layers is not None:
                    walk(body.layers, (*here, "repeat", "layers"), source)
                elif "{" not in str(body.block) and body.block not in loaded.blocks:
                    problems.append(_unknown_block(body.block, source.locate(
                        (*here, "repeat", "block")), known_calls, _path_text(here)))
            elif key == "parallel":
                for bname, branch in body.branches.items():
                    walk(branch, (*here, "parallel", "branches", bname), source)
            elif canonical_name(key) is None and key not in loaded.blocks:
                problems.append(_unknown_block(key, source.locate(here, key=True), known_calls,
                                               _path_text(here)))

    walk(spec.layers, ("layers",), smap)
    for bname, (bdef, origin) in loaded.blocks.items():
        walk(bdef.layers, (*origin.path, "layers"), origin.source)
        problems.extend(_check_defaults(bdef.defaults, origin.source, (*origin.path, "defaults")))
    problems.extend(_check_defaults(spec.defaults, smap, ("defaults",)))
    for vname, values in spec.variants.items():
        for pname in values:
            if pname not in spec.params:
                close = difflib.get_close_matches(str(pname), list(spec.params), n=1)
                problems.append(Problem(
                    "unknown-param", f"variant {vname!r} sets {pname!r}, which is not declared "
                    "under params", smap.locate(("variants", vname, pname), key=True),
                    hint=f"did you mean {close[0]!r}?" if close else "declare it under params"))
    if spec.default_variant is not None and spec.default_variant not in spec.variants:
        problems.append(Problem("unknown-variant", f"default_variant {spec.default_variant!r} is "
                                "not one of the variants", smap.locate(("default_variant",))))
    return problems


def _raw_unknown_calls(data: dict[str, Any], smap: SourceMap,
                       imported: dict[str, Any]) -> list[Problem]:
    """Unknown operators or blocks, found on the raw data when schema validation failed, so that
    they are reported together with the schema problems."""
    found = data.get("blocks")
    raw_blocks: dict[Any, Any] = found if isinstance(found, dict) else {}
    known = [*all_ops(), *raw_blocks, *imported, *m.STRUCTURAL]
    problems: list[Problem] = []

    def walk(items: Any, path: tuple[Any, ...]) -> None:
        if not isinstance(items, list):
            return
        for index, item in enumerate(items):
            here = (*path, index)
            key = item if isinstance(item, str) else (
                next(iter(item)) if isinstance(item, dict) and len(item) == 1 else None)
            if not isinstance(key, str):
                continue
            body = item.get(key) if isinstance(item, dict) else None
            if key == "repeat" and isinstance(body, dict):
                walk(body.get("layers"), (*here, "repeat", "layers"))
            elif key == "parallel" and isinstance(body, dict) and isinstance(
                    body.get("branches"), dict):
                for bname, branch in body["branches"].items():
                    walk(branch, (*here, "parallel", "branches", bname))
            elif canonical_name(key) is None and key not in known:
                problems.append(_unknown_block(key, smap.locate(here, key=True), known,
                                               _path_text(here)))

    walk(data.get("layers"), ("layers",))
    for bname, bdef in raw_blocks.items():
        if isinstance(bdef, dict):
            walk(bdef.get("layers"), ("blocks", bname, "layers"))
    return problems


def _unknown_block(name: str | None, where: Location, known: list[str],
                   layer: str | None = None) -> Problem:
    close = difflib.get_close_matches(str(name), known, n=1)
    return Problem("unknown-op", f"{name!r} is neither an operator nor a block", where, layer,
                   hint=f"did you mean {close[0]!r}?" if close else
                   "see `cnncost schema` for the operators; blocks are defined under blocks:")


def _check_defaults(defaults: dict[str, dict[str, Any]], source: SourceMap,
                    path: tuple[Any, ...]) -> list[Problem]:
    problems = []
    for op_name, values in defaults.items():
        canonical = canonical_name(op_name)
        if canonical is None:
            close = difflib.get_close_matches(op_name, list(all_ops()), n=1)
            problems.append(Problem("unknown-op", f"defaults for unknown operator {op_name!r}",
                                    source.locate((*path, op_name), key=True),
                                    hint=f"did you mean {close[0]!r}?" if close else None))
            continue
        attrs = all_ops()[canonical].attrs
        for attr in values:
            if attr not in attrs:
                close = difflib.get_close_matches(str(attr), list(attrs), n=1)
                problems.append(Problem("schema", f"{op_name} has no attribute {attr!r}",
                                        source.locate((*path, op_name, attr), key=True),
                                        hint=f"did you mean {close[0]!r}?" if close else None))
    return problems
