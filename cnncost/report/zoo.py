"""The zoo table: one row per model / variant, and the committed reports. Must not import torch.

``cnncost table SPEC_OR_DIR...`` regenerates the seed's Keras Applications table from specs —
weights (with the documented HDF5 file size beside them), parameters, depth, documented accuracy —
plus the cost columns no table in the seeds has. ``python -m cnncost.report.zoo`` rewrites
``reports/zoo.md`` and ``reports/models/*.md``; a test keeps them up to date.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from cnncost.cost.result import CostReport
from cnncost.errors import FileAccessError
from cnncost.report.formats import json_text, md_table
from cnncost.report.table import format_bytes, format_count, format_shape

#: Convention of the committed zoo table: conv + linear MACs, comparable with papers' figures.
ZOO_CONVENTION = "torchvision"


@dataclass(frozen=True)
class ZooRow:
    spec: str
    model: str
    variant: str | None
    input_shape: tuple[int, ...]
    weight_bytes: int
    documented_size_mb: float | None  # the seed's "Size": an HDF5 file size, metadata only
    params_total: int
    params_trainable: int
    depth: int
    weighted_depth: int
    macs: int
    flops: int
    activation_bytes: int
    peak_activation_bytes: int
    top1: float | None
    top5: float | None

    @property
    def label(self) -> str:
        return f"{self.model}@{self.variant}" if self.variant else self.model


def spec_paths(items: Iterable[str | Path]) -> list[Path]:
    """Files as given; a directory stands for its ``*.yaml`` files (not its subfolders).

    Raises:
        FileAccessError: an item does not exist.
    """
    out: list[Path] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            out.extend(sorted(path.glob("*.yaml")))
        elif path.is_file():
            out.append(path)
        else:
            raise FileAccessError(f"no such spec file or directory: {path}")
    return out


def _documented(report: CostReport, metric: str) -> float | None:
    for figure in report.documented:
        if figure.metric == metric and isinstance(figure.value, (int, float)):
            return float(figure.value)
    return None


def row_of(report: CostReport, spec: Path) -> ZooRow:
    t = report.totals
    return ZooRow(
        spec=str(spec), model=report.model, variant=report.variant,
        input_shape=t.input_shapes[0] if t.input_shapes else (),
        weight_bytes=t.weight_bytes, documented_size_mb=_documented(report, "size_mb"),
        params_total=t.params_total, params_trainable=t.params_trainable, depth=t.depth,
        weighted_depth=t.weighted_depth, macs=t.macs, flops=t.flops,
        activation_bytes=t.activation_bytes, peak_activation_bytes=t.peak_activation_bytes,
        top1=_documented(report, "top1"), top5=_documented(report, "top5"))


def zoo_rows(paths: Sequence[Path], *, convention: str = ZOO_CONVENTION, dtype: str = "float32",
             batch: int = 1) -> list[ZooRow]:
    """One row per spec and variant (the bare spec when it has no variants).

    Raises:
        SpecError, FileAccessError, UsageError: as ``api.analyze``.
    """
    from cnncost import api

    rows = []
    for path in paths:
        loaded = api.load(path)
        for variant in tuple(loaded.spec.variants) or (None,):
            report = api.analyze(loaded, variant=variant, convention=convention, dtype=dtype,
                                 batch=batch, layers=False)
            rows.append(row_of(report, path))
    return rows


HEADER = ("model", "input", "weights", "documented size", "parameters", "trainable", "depth",
          "weighted depth", "MACs", "FLOPs", "activations", "peak", "top-1", "top-5")


def cells(row: ZooRow, exact: bool) -> list[str]:
    """The table's cells of one row, in HEADER's order."""
    size = f"{row.documented_size_mb:g} MB" if row.documented_size_mb is not None else ""
    acc = [f"{v:.3f}" if v is not None else "" for v in (row.top1, row.top5)]
    return [row.label, format_shape(row.input_shape), format_bytes(row.weight_bytes), size,
            f"{row.params_total:,}", f"{row.params_trainable:,}", str(row.depth),
            str(row.weighted_depth), format_count(row.macs, exact=exact),
            format_count(row.flops, exact=exact), format_bytes(row.activation_bytes),
            format_bytes(row.peak_activation_bytes), *acc]


def caption(convention: str, dtype: str, batch: int) -> str:
    return (f"convention {convention} · {dtype} · batch {batch} · weights = parameters × "
            "bytes per element; documented size = the Keras HDF5 file (seed 003), metadata")


def render_rich(rows: Sequence[ZooRow], *, convention: str, dtype: str, batch: int,
                exact: bool = False):  # -> rich Table
    from rich.table import Table

    table = Table(title="cnncost zoo", caption=caption(convention, dtype, batch),
                  header_style="bold", show_edge=False, pad_edge=False)
    for i, name in enumerate(HEADER):
        table.add_column(name, justify="left" if i < 2 else "right", no_wrap=i == 0)
    for row in rows:
        table.add_row(*cells(row, exact))
    return table


def to_markdown(rows: Sequence[ZooRow], *, convention: str, dtype: str, batch: int) -> str:
    body = md_table(HEADER, "ll" + "r" * (len(HEADER) - 2), (cells(r, True) for r in rows))
    return f"{body}\n{caption(convention, dtype, batch)}.\n"


def to_csv(rows: Sequence[ZooRow]) -> str:
    buffer = io.StringIO()
    fields = [*asdict(rows[0]).keys()] if rows else list(ZooRow.__dataclass_fields__)
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        data = asdict(row)
        data["input_shape"] = format_shape(row.input_shape)
        writer.writerow(data)
    return buffer.getvalue()


def to_json(rows: Sequence[ZooRow]) -> str:
    return json_text([asdict(r) for r in rows])


# ------------------------------------------------------------------ committed reports


def zoo_markdown(spec_dir: Path) -> str:
    """The text of ``reports/zoo.md``."""
    rows = zoo_rows(spec_paths([spec_dir]))
    return ("# The cnncost zoo\n\nGenerated by `python -m cnncost.report.zoo` (equivalently "
            "`cnncost table specs/ --convention torchvision --format markdown`); a test keeps it "
            "up to date.\nMACs and FLOPs: conv + linear only (the `torchvision` convention, "
            "comparable with papers and torchvision's GFLOPS column); per-model reports under "
            "`models/` use cnncost's complete count.\n\n"
            + to_markdown(rows, convention=ZOO_CONVENTION, dtype="float32", batch=1))


def model_reports(spec_dir: Path) -> dict[str, str]:
    """File name -> Markdown ``report`` of every spec and variant (blocks to depth 2)."""
    from cnncost import api
    from cnncost.report.formats import to_markdown as report_markdown

    out = {}
    for path in spec_paths([spec_dir]):
        loaded = api.load(path)
        for variant in tuple(loaded.spec.variants) or (None,):
            report = api.analyze(loaded, variant=variant)
            # the committed text names the spec as the repository does, wherever it runs
            report = replace(report, spec_file=str(Path(spec_dir.name) / path.name))
            name = f"{path.stem}@{variant}.md" if variant else f"{path.stem}.md"
            out[name] = report_markdown(report, depth=2)
    return out


def write_reports(spec_dir: Path, out_dir: Path) -> list[Path]:
    """Rewrite ``out_dir/zoo.md`` and ``out_dir/models/*.md``; stale model files are removed."""
    written = [out_dir / "zoo.md"]
    written[0].write_text(zoo_markdown(spec_dir), encoding="utf-8")
    models = out_dir / "models"
    models.mkdir(parents=True, exist_ok=True)
    texts = model_reports(spec_dir)
    for stale in models.glob("*.md"):
        if stale.name not in texts:
            stale.unlink()
    for name, text in texts.items():
        (models / name).write_text(text, encoding="utf-8")
        written.append(models / name)
    return written


if __name__ == "__main__":  # python -m cnncost.report.zoo [SPEC_DIR [OUT_DIR]]
    import sys

    spec_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("specs")
    out_dir = Path(sys.argv[2]) if len(sys.argv) > 2 else Path("reports")
    for written_path in write_reports(spec_dir, out_dir):
        print(f"wrote {written_path}")
