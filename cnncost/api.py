"""The Python API, mirroring the CLI: load, override, expand, analyze. Must not import torch.

Example:
    >>> from cnncost import api
    >>> report = api.analyze("specs/inception_v1.yaml", overrides={"resolution": 160})
    >>> report.totals.macs
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from cnncost.cost.conventions import CONVENTIONS as _CONVENTIONS
from cnncost.cost.engine import DTYPES, ReportMeta, analyze_graph
from cnncost.cost.result import CostReport, DocumentedFigure
from cnncost.cost.training import TrainingCost
from cnncost.errors import UsageError
from cnncost.graph.expand import expand
from cnncost.graph.layergraph import LayerGraph
from cnncost.memory.models import MemoryConfig, analyze_memory
from cnncost.memory.report import MemoryReport
from cnncost.spec.loader import LoadedSpec, load_spec
from cnncost.spec.params import Bindings, resolve_params

#: Names of the counting conventions (``--convention``).
CONVENTIONS: tuple[str, ...] = tuple(_CONVENTIONS)

__all__ = ["CONVENTIONS", "DTYPES", "analyze", "build_graph", "json_schema", "load", "memory",
           "parse_overrides", "parse_spec_ref", "training", "validate", "variants"]


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
    return expand(loaded, bindings), bindings


def analyze(spec: str | Path | LoadedSpec, *, variant: str | None = None,
            overrides: Mapping[str, Any] | None = None, batch: int = 1, dtype: str = "float32",
            convention: str = "cnncost") -> CostReport:
    """Analyze a spec: per-layer rows, per-block sums and totals under ``convention``.

    Raises:
        UsageError: unknown convention or dtype, or batch < 1.
        FileAccessError: the file cannot be read.
        SpecError: the spec, variant or overrides are invalid.
    """
    if convention not in _CONVENTIONS:
        raise UsageError(f"unknown convention {convention!r}; choose from {', '.join(CONVENTIONS)}")
    if dtype not in DTYPES:
        raise UsageError(f"unknown dtype {dtype!r}; choose from {', '.join(DTYPES)}")
    if batch < 1:
        raise UsageError(f"batch must be at least 1, got {batch}")
    loaded = load(spec)
    graph, bindings = build_graph(loaded, variant=variant, overrides=overrides)
    meta = ReportMeta(
        model=loaded.spec.name, title=loaded.spec.title, variant=bindings.variant,
        overrides=dict(overrides or {}), params=bindings.params,
        documented=documented_figures(loaded, bindings.variant), spec_file=str(loaded.file))
    return analyze_graph(graph, meta, convention=convention, batch=batch, dtype=dtype)


def memory(spec: str | Path | LoadedSpec, config: MemoryConfig | None = None, *,
           variant: str | None = None,
           overrides: Mapping[str, Any] | None = None) -> MemoryReport:
    """What the network holds at inference or in a training step (``cnncost.memory.models``).

    Example:
        >>> api.memory("specs/resnet.yaml@resnet50", MemoryConfig(mode="training", batch=64,
        ...            optimizer="adam", precision="bfloat16-autocast")).peak_bytes

    Raises:
        UsageError: an invalid config.
        FileAccessError: the file cannot be read.
        SpecError: the spec, variant or overrides are invalid, or an in-place operator
            conflicts with another reader of its input.
    """
    path: str | Path | LoadedSpec = spec
    if isinstance(spec, (str, Path)):
        path, ref_variant = parse_spec_ref(str(spec))
        variant = variant or ref_variant
    graph, _ = build_graph(path, variant=variant, overrides=overrides)
    return analyze_memory(graph, config or MemoryConfig())


def training(spec: str | Path | LoadedSpec, *, variant: str | None = None,
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

    path: str | Path | LoadedSpec = spec
    if isinstance(spec, (str, Path)):
        path, ref_variant = parse_spec_ref(str(spec))
        variant = variant or ref_variant
    graph, _ = build_graph(path, variant=variant, overrides=overrides)
    try:
        return training_cost(graph, convention, batch)
    except ConventionUndefined as err:
        raise UsageError(str(err)) from None


def documented_figures(loaded: LoadedSpec, variant: str | None) -> tuple[DocumentedFigure, ...]:
    """The spec's documented figures that apply to ``variant`` (those without a variant apply to
    the spec's default configuration only)."""
    out = []
    for d in loaded.spec.documented:
        if d.variant == variant:
            out.append(DocumentedFigure(d.metric, d.value, d.source, d.variant, d.note,
                                        d.convention, d.unit))
    return tuple(out)


def validate(spec: str | Path) -> tuple[str, ...]:
    """Validate a spec and expand every variant (or the base spec if it has none).

    Returns:
        The variant names.

    Raises:
        FileAccessError, SpecError: as ``build_graph``; problems of all variants together.
    """
    from cnncost.errors import SpecError

    loaded = load(spec)
    names = tuple(loaded.spec.variants)
    problems = []
    for variant in names or (None,):
        try:
            build_graph(loaded, variant=variant)
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

    Values are parsed as YAML (numbers, booleans, lists such as ``[3,4,6,3]``).

    Raises:
        UsageError: an item without ``=`` or with an unparsable value.
    """
    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"--set expects name=value, got {item!r}")
        try:
            out[key] = yaml.safe_load(text) if text.strip() else ""
        except yaml.YAMLError as err:
            raise UsageError(f"--set {key}: cannot parse {text!r}: {err}") from None
    return out


def parse_spec_ref(text: str) -> tuple[Path, str | None]:
    """``"specs/resnet.yaml@resnet50"`` -> ``(Path("specs/resnet.yaml"), "resnet50")``."""
    path, sep, variant = text.rpartition("@")
    if sep and path and "/" not in variant:
        return Path(path), variant or None
    return Path(text), None


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the spec format (for editors)."""
    from cnncost.spec.schema import spec_json_schema

    return spec_json_schema()
