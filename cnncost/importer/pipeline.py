"""``import_model``: a model reference in, the spec's text out. Imports torch when called.

load (``source``) -> trace (``trace``, else ``hooks``) -> convert (``table``) -> measure the
original (``figures``) -> write (``document``) -> read the written spec back with cnncost and
check that it expands to the traced graph: the same layer names, each with the traced output
shape. The last step is what makes a written spec trustworthy without torch; the round trip
against torch and fvcore is ``cnncost.importer.roundtrip``.
"""

from __future__ import annotations

import importlib
import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from cnncost.errors import ModelImportError, SpecError, UsageError

# torch-dependent modules are imported inside the functions below


@dataclass
class ImportResult:
    """What ``cnncost import`` produced."""

    text: str
    ref: str
    name: str
    input_shape: tuple[int, ...]
    tracer: str
    layers: int
    blocks: int
    params_trainable: int
    flops: int
    notes: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    seconds: float = 0.0
    model: Any = field(default=None, repr=False)  # the LoadedModel (the round trip reuses it)

    @property
    def lines(self) -> int:
        return len(self.text.splitlines())


def _autowrap() -> tuple[Callable[..., Any], ...]:
    from cnncost.importer import table

    out = []
    for path in table.AUTOWRAP:
        module, _, name = path.rpartition(".")
        try:
            out.append(getattr(importlib.import_module(module), name))
        except (ImportError, AttributeError):
            continue
    return tuple(out)


def trace(model: Any, shape: tuple[int, ...], batch: int = 2) -> tuple[list[Any], str, list[str]]:
    """The model's trace, the tracer that made it and what to say about it.

    Raises:
        UsageError: the model rejects an input of ``shape``.
    """
    from cnncost.importer import table
    from cnncost.importer.hooks import trace_hooks
    from cnncost.importer.trace import InputRejected, TraceFailed, trace_fx

    def is_leaf(module: Any) -> bool:
        return table.module_entry(type(module)) is not None

    notes: list[str] = []
    try:
        return trace_fx(model, (batch, *shape), is_leaf, _autowrap()), "torch.fx", notes
    except TraceFailed as err:
        notes.append(f"torch.fx could not trace the model ({err}); traced by running it with "
                     "hooks on its leaf modules instead")
    except InputRejected as err:
        raise UsageError(f"the model rejects an input of shape {'x'.join(map(str, shape))} "
                         f"(batch {batch}): {err}") from None
    try:
        return trace_hooks(model, (batch, *shape), is_leaf), "hooks", notes
    except InputRejected as err:
        raise UsageError(f"the model rejects an input of shape {'x'.join(map(str, shape))} "
                         f"(batch {batch}): {err}") from None


def _unknown_error(ref: str, unknown: list[Any]) -> ModelImportError:
    lines = [u.format() for u in unknown]
    shown = lines[:20] + ([f"... and {len(lines) - 20} more"] if len(lines) > 20 else [])
    kinds = sorted({u.target for u in unknown})
    err = ModelImportError(
        f"cannot import {ref}: {len(unknown)} operation(s) cnncost has no operator for "
        f"({', '.join(kinds)}):\n  " + "\n  ".join(shown)
        + "\n(--allow-unknown writes the spec with them marked UNSUPPORTED)", tuple(lines))
    err.reasons = tuple(sorted({reason_kind(u.reason) for u in unknown}))
    return err


def reason_kind(reason: str) -> str:
    """A reason without its particulars (shapes, sizes): what the catalogue groups by."""
    head = reason.split(": ")[0]  # not a colon inside the particulars ("x[:, 0]")
    head = re.sub(r"\[[^\]]*\]|\([^)]*\d[^)]*\)|-?\d+(\.\d+)?", "…", head)
    return re.sub(r"\s+", " ", head).strip(" ,")


def _expanded(text: str) -> dict[str, tuple[int, ...]]:
    """Node name -> output shape of the spec ``text`` as cnncost expands it.

    Raises:
        SpecError: the text is not a valid spec.
    """
    from cnncost import api

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "imported.yaml"
        path.write_text(text, encoding="utf-8")
        graph, _ = api.build_graph(path)
    return {node.name: tuple(node.out_shape) for node in graph if node.op != "input"}


def _without_inplace(graph: Any, names: set[str]) -> Any:
    graph.layers = [replace(layer, attrs={**layer.attrs, "inplace": False})
                    if layer.name in names and "inplace" in layer.attrs else layer
                    for layer in graph.layers]
    return graph


def write_checked(graph: Any, meta: Any, ref: str) -> tuple[str, Any, list[str]]:
    """The spec text of ``graph``, read back and checked against it.

    A layer cnncost refuses to run in place (its input is still needed, which PyTorch allows
    at inference only) is written out of place, with a note.

    Raises:
        ModelImportError: the written spec does not expand to the traced graph.
    """
    from cnncost.importer.document import spec_text

    notes: list[str] = []
    for _ in range(4):
        text, built = spec_text(graph, meta)
        try:
            expanded = _expanded(text)
        except SpecError as err:
            inplace = {p.layer for p in err.problems if p.kind == "inplace" and p.layer}
            if inplace and len(inplace) == len(err.problems):
                graph = _without_inplace(graph, inplace)
                notes.append(f"{len(inplace)} layer(s) written out of place (their input is "
                             f"still needed): {', '.join(sorted(inplace)[:5])}")
                continue
            failed = ModelImportError(f"the spec written for {ref} is not valid (a bug of the "
                                      f"importer; please report it):\n{err}")
            failed.text = text
            raise failed from None
        break
    traced = {layer.name: tuple(layer.shape) for layer in graph.layers}
    if expanded != traced:
        missing = sorted(set(traced) - set(expanded))[:5]
        extra = sorted(set(expanded) - set(traced))[:5]
        wrong = sorted(n for n in set(traced) & set(expanded) if traced[n] != expanded[n])[:5]
        raise ModelImportError(
            f"the spec written for {ref} does not expand to the traced model (a bug of the "
            f"importer; please report it): missing {missing}, extra {extra}, other shapes "
            + ", ".join(f"{n} {expanded[n]} != {traced[n]}" for n in wrong))
    return text, built, notes


def import_model(ref: str, *, args: dict[str, Any] | None = None,
                 input_shape: tuple[int, ...] | None = None, allow_unknown: bool = False,
                 name: str | None = None) -> ImportResult:
    """Import the model ``ref`` as a spec (see the module docstring).

    Raises:
        UsageError: a bad reference, builder or input (``cnncost.importer.source``).
        FileAccessError: the model's file cannot be read.
        ModelImportError: operations cnncost has no operator for (all listed, each with its
            fx node and source line), unless ``allow_unknown``.
    """
    from cnncost.bridge import require_torch

    require_torch()
    from cnncost.importer.calls import Unsupported
    from cnncost.importer.convert import convert
    from cnncost.importer.figures import measure
    from cnncost.importer.source import load_model

    start = time.perf_counter()
    loaded = load_model(ref, args)
    shape = input_shape or loaded.input_shape
    nodes, tracer, notes = trace(loaded.model, shape)
    try:
        graph = convert(nodes, loaded.model, loaded.name, 2)
    except Unsupported as err:
        raise ModelImportError(f"cannot import {ref}: {err}") from None
    notes += graph.notes
    if graph.unknown and not allow_unknown:
        raise _unknown_error(ref, graph.unknown)
    figures = measure(loaded.model, shape, nodes)
    meta = _meta(loaded, shape, tracer, figures, name)
    if graph.unknown:
        from cnncost.importer.document import spec_text

        text, built = spec_text(graph, meta)
    else:
        text, built, more = write_checked(graph, meta, ref)
        notes += more
    if figures.unused:
        notes.append("parameters of modules the forward never calls are not in the spec: "
                     + ", ".join(f"{m} ({n:,})" for m, n in figures.unused))
    return ImportResult(text, loaded.ref, meta.name, shape, tracer, len(graph.layers),
                        len(built.blocks), figures.params_trainable, figures.flops, notes,
                        [u.format() for u in graph.unknown], time.perf_counter() - start, loaded)


def _meta(loaded: Any, shape: tuple[int, ...], tracer: str, figures: Any,
          name: str | None) -> Any:
    from cnncost.importer.document import SpecMeta

    size = "x".join(map(str, shape))
    versions = ", ".join(f"{k} {v}" for k, v in loaded.versions.items())
    source = f"{loaded.builder}, traced with {tracer} at input {size}"
    documented = [
        {"metric": "params_trainable", "value": figures.params_trainable,
         "source": f"{loaded.ref}, parameters()"},
        {"metric": "params_non_trainable", "value": figures.params_non_trainable,
         "source": f"{loaded.ref}, buffers without num_batches_tracked"},
        {"metric": "flops", "value": figures.flops, "convention": "torchvision",
         "source": f"{loaded.ref}, FlopCounterMode at 1x{size}"},
    ]
    if figures.unused:
        documented[0]["source"] += (", without modules the forward never calls: "
                                    + ", ".join(f"{m} ({n:,})" for m, n in figures.unused))
    return SpecMeta(
        name=name or loaded.name,
        title=f"{loaded.ref}, imported",
        description=(f"Imported from {loaded.ref} by cnncost import ({versions}), traced at "
                     f"{size}. Node names are the model's module names: cnncost check SPEC "
                     f"--against {loaded.ref} compares the two module by module."),
        sources={"model": source},
        documented=documented,
        header=[f"cnncost import {loaded.ref} --input {size}"])
