"""The Python API, mirroring the CLI: load, override, expand, analyze. Must not import torch.

Example:
    >>> from cnncost import api
    >>> report = api.analyze("specs/inception_v1.yaml", overrides={"resolution": 160})
    >>> report.totals.macs
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cnncost.cost import documented
from cnncost.cost.conventions import CONVENTIONS as _CONVENTIONS
from cnncost.cost.engine import DTYPES, ReportMeta, analyze_graph
from cnncost.cost.result import CostReport, DocumentedFigure
from cnncost.errors import UsageError, excerpt
from cnncost.gcpause import paused
from cnncost.graph.expand import expand as expand_graph
from cnncost.graph.layergraph import LayerGraph
from cnncost.memory.models import MemoryConfig, analyze_memory
from cnncost.memory.report import MemoryReport
from cnncost.spec.loader import LoadedSpec, load_spec
from cnncost.spec.params import Bindings, resolve_params

if TYPE_CHECKING:
    from cnncost.cost.training import TrainingCost

#: The largest batch (torch's sizes are int64).
MAX_BATCH = 2**63 - 1

#: Names of the counting conventions (``--convention``).
CONVENTIONS: tuple[str, ...] = tuple(_CONVENTIONS)

__all__ = ["CONVENTIONS", "DTYPES", "Expanded", "analyze", "build_graph", "check_documented",
           "documented_figures", "expand", "json_schema", "load", "memory", "parse_overrides",
           "parse_spec_ref", "training", "validate", "variants"]


@dataclass(frozen=True)
class Expanded:
    """A spec expanded once, under one variant and overrides: ``analyze``, ``memory`` and
    ``training`` take it in place of a spec, so that one graph serves all three (``cnncost
    report`` expands its spec once)."""

    loaded: LoadedSpec
    graph: LayerGraph
    bindings: Bindings
    overrides: Mapping[str, Any]


def load(spec: str | Path | LoadedSpec) -> LoadedSpec:
    """Load and validate a spec file (a LoadedSpec passes through)."""
    return spec if isinstance(spec, LoadedSpec) else load_spec(spec)


def build_graph(spec: str | Path | LoadedSpec, *, variant: str | None = None,
                overrides: Mapping[str, Any] | None = None) -> tuple[LayerGraph, Bindings]:
    """Expand a spec into its shape-inferred layer graph.

    Raises:
        FileAccessError: the file cannot be read.
        SpecError: the spec, variant or overrides are invalid (all problems, located).
    """
    loaded = load(spec)
    bindings = resolve_params(loaded, variant, overrides)
    return expand_graph(loaded, bindings), bindings


def expand(spec: str | Path | LoadedSpec, *, variant: str | None = None,
           overrides: Mapping[str, Any] | None = None) -> Expanded:
    """Expand a spec once, for ``analyze``, ``memory`` and ``training`` to share
    (``"spec.yaml@variant"`` names a variant).

    Raises:
        FileAccessError, SpecError: as ``build_graph``.
    """
    return _expanded(spec, variant, overrides)


def _expanded(spec: str | Path | LoadedSpec | Expanded, variant: str | None,
              overrides: Mapping[str, Any] | None) -> Expanded:
    """``spec`` itself when it is expanded already (no other variant or overrides may be
    asked for then), else its expansion; ``"spec.yaml@variant"`` names that variant unless ``variant``
    is given.

    Raises:
        UsageError: an expanded spec with another variant or other overrides.
    """
    if isinstance(spec, (str, Path)):
        spec, ref_variant = parse_spec_ref(str(spec))
        variant = variant or ref_variant
    if not isinstance(spec, Expanded):
        loaded = load(spec)
        graph, bindings = build_graph(loaded, variant=variant, overrides=overrides)
        return Expanded(loaded, graph, bindings, dict(overrides or {}))
    if (variant is not None and variant != spec.bindings.variant) or (
            overrides is not None and dict(overrides) != dict(spec.overrides)):
        raise UsageError("an expanded spec is analyzed with its own variant and overrides")
    return spec


def analyze(spec: str | Path | LoadedSpec | Expanded, *, variant: str | None = None,
            overrides: Mapping[str, Any] | None = None, batch: int = 1, dtype: str = "float32",
            convention: str = "cnncost", layers: bool = True) -> CostReport:
    """Analyze a spec: per-layer rows, per-block sums and totals under ``convention``
    (``layers`` False: the totals only, the report's layers and blocks empty: what a sweep
    needs, a tenth faster).

    Raises:
        UsageError: unknown convention or dtype, or batch < 1; an expanded spec with another
            variant or other overrides.
        FileAccessError: the file cannot be read.
        SpecError: the spec, variant or overrides are invalid.
    """
    if convention not in _CONVENTIONS:
        raise UsageError(f"unknown convention {convention!r}; choose from {', '.join(CONVENTIONS)}")
    if dtype not in DTYPES:
        raise UsageError(f"unknown dtype {dtype!r}; choose from {', '.join(DTYPES)}")
    if not 1 <= batch <= MAX_BATCH:
        raise UsageError(f"batch must be from 1 to {MAX_BATCH:,}, got {batch}")
    # the collector off for the whole analysis, and the graph dropped before it runs again:
    # what the expansion built is freed by reference counting (it holds no cycle), so the
    # collection that follows walks the report alone, not the graph (cnncost.gcpause)
    with paused():
        expanded = _expanded(spec, variant, overrides)
        loaded, bindings = expanded.loaded, expanded.bindings
        meta = ReportMeta(
            model=loaded.spec.name, title=loaded.spec.title, variant=bindings.variant,
            overrides=dict(expanded.overrides), params=bindings.params,
            documented=documented_figures(loaded, bindings.variant, expanded.overrides),
            spec_file=str(loaded.file))
        report = analyze_graph(expanded.graph, meta, convention=convention, batch=batch,
                               dtype=dtype, layers=layers)
        del expanded
        return report


def memory(spec: str | Path | LoadedSpec | Expanded, config: MemoryConfig | None = None, *,
           variant: str | None = None,
           overrides: Mapping[str, Any] | None = None) -> MemoryReport:
    """What the network holds at inference or in a training step (``cnncost.memory.models``).

    Example:
        >>> api.memory("specs/resnet.yaml@resnet50", MemoryConfig(mode="training", batch=64,
        ...            optimizer="adam", precision="bfloat16-autocast")).peak_bytes

    Raises:
        UsageError: an invalid config; an expanded spec with another variant or other
            overrides.
        FileAccessError: the file cannot be read.
        SpecError: the spec, variant or overrides are invalid, or an in-place operator
            conflicts with another reader of its input.
    """
    return analyze_memory(_expanded(spec, variant, overrides).graph, config or MemoryConfig())


def training(spec: str | Path | LoadedSpec | Expanded, *, variant: str | None = None,
             overrides: Mapping[str, Any] | None = None, batch: int = 1,
             convention: str = "cnncost") -> TrainingCost:
    """The arithmetic of a training step: per layer the training-mode forward and the backward
    (input and weight gradients), under ``cnncost`` or ``torchvision`` (``cost.training``).

    Raises:
        UsageError: a convention that counts inference only (fvcore, connections).
        FileAccessError, SpecError: as ``build_graph``.
    """
    from cnncost.cost.conventions import ConventionUndefined
    from cnncost.cost.training import training_cost

    graph = _expanded(spec, variant, overrides).graph
    try:
        return training_cost(graph, convention, batch)
    except ConventionUndefined as err:
        raise UsageError(str(err)) from None


def documented_figures(loaded: LoadedSpec, variant: str | None,
                       overrides: Mapping[str, Any] | None = None
                       ) -> tuple[DocumentedFigure, ...]:
    """The spec's documented figures that apply to ``variant`` (``cost.documented`` decides:
    those without a variant document the default configuration; none apply when overrides
    change a parameter)."""
    spec = loaded.spec
    chosen = variant if variant is not None else spec.default_variant
    base = {**spec.params, **spec.variants.get(chosen or "", {})}
    overridden = any(k not in base or base[k] != v for k, v in (overrides or {}).items())
    return documented.figures_for(loaded, chosen, overridden=overridden)


def check_documented(spec: str | Path | LoadedSpec, variant: str | None = None
                     ) -> list[tuple[str | None, documented.Verdict]]:
    """Every checked documented figure of ``variant`` (default: of every variant, and of the
    spec's default configuration), compared with the figure computed under its convention.

    Returns:
        (variant, verdict) pairs, in the spec's order; ``verdict.status`` is "mismatch" for a
        figure that does not match.

    Raises:
        FileAccessError, SpecError: as ``analyze``.
    """
    loaded = load(spec)
    names = (variant,) if variant is not None else documented.variants_to_check(loaded.spec)
    out = []
    for name in names:
        reports: dict[str, CostReport] = {}
        for figure in documented_figures(loaded, name):
            if not figure.checked or figure.metric not in documented.DOCUMENTED_METRICS:
                continue
            convention = documented.convention_of(figure) or "cnncost"
            if convention not in reports:
                reports[convention] = analyze(loaded, variant=name, convention=convention)
            v = documented.verdict(figure, reports[convention])
            if v.compared:
                out.append((name, v))
    return out


def validate(spec: str | Path, variant: str | None = None) -> tuple[str, ...]:
    """Validate a spec and expand every variant (or the base spec if it has none), or only
    ``variant``.

    Returns:
        The variant names expanded.

    Raises:
        FileAccessError, SpecError: as ``build_graph``; problems of all variants together.
    """
    from cnncost.errors import SpecError

    loaded = load(spec)
    names = (variant,) if variant is not None else tuple(loaded.spec.variants)
    problems = []
    for name in names or (None,):
        try:
            build_graph(loaded, variant=name)
        except SpecError as err:
            for p in err.problems:
                if p not in problems:
                    problems.append(p)
    if problems:
        raise SpecError(problems)
    return names


def variants(spec: str | Path | LoadedSpec) -> tuple[str, ...]:
    """The variant names of a spec."""
    return tuple(load(spec).spec.variants)


def parse_overrides(items: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """``["resolution=160", "flavor=keras"]`` -> ``{"resolution": 160, "flavor": "keras"}``.

    Values are parsed as YAML (numbers, booleans, lists such as ``[3,4,6,3]``), by the same
    bounded reader as spec files.

    Raises:
        UsageError: an item without ``=`` or with an unparsable value.
    """
    from cnncost.spec.yamlsource import load_yaml

    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"--set expects name=value, got {excerpt(item)!r}")
        if not text.strip():
            out[key] = ""
            continue
        value, _, problems = load_yaml(text, f"--set {key}")
        if problems:
            raise UsageError(f"--set {excerpt(key)}: cannot read {excerpt(text)!r}: "
                             f"{problems[0].message}")
        out[key] = value
    return out


def parse_spec_ref(text: str) -> tuple[Path, str | None]:
    """``"specs/resnet.yaml@resnet50"`` -> ``(Path("specs/resnet.yaml"), "resnet50")``; a file
    whose name holds an ``@`` (``v2@224.yaml``) is that file."""
    path, sep, variant = text.rpartition("@")
    if sep and path and "/" not in variant and not Path(text).is_file():
        return Path(path), variant or None
    return Path(text), None


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the spec format (for editors)."""
    from cnncost.spec.schema import spec_json_schema

    return spec_json_schema()
