"""The pictures committed under ``reports/``: which, where, and how they are made. No torch.

``python -m cnncost.render.committed [--screenshots]`` rewrites ``reports/zoo.html``,
``reports/zoo.png`` and the HTML reports of ``REPORTS`` under ``reports/html/``; with
``--screenshots`` it also photographs each report in headless Chromium (``apt-get install
chromium``). Tests compare the committed files' data with the specs; the screenshots are looked
at, not compared.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

from cnncost.errors import UsageError
from cnncost.report.zoo import ZooRow

#: (spec file, variant, the view each screenshot opens: the address after '#').
REPORTS = (
    ("resnet.yaml", "resnet50", "node=layer1.0.downsample.0"),
    ("inception_v3.yaml", "keras", "node=Mixed_5b.branch5x5_2"),
)
#: Headless Chromium that reaches nothing: no host name resolves, no background service runs.
BROWSER_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--hide-scrollbars", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-extensions",
                 "--host-resolver-rules=MAP * ~NOTFOUND", "--virtual-time-budget=15000")


def find_browser() -> str | None:
    """The first Chromium-family browser on the PATH."""
    return next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")
                 if shutil.which(n)), None)


def report_name(spec: str, variant: str | None) -> str:
    return f"{Path(spec).stem}@{variant}" if variant else Path(spec).stem


def _as_in_repository(path: str, spec_dir: Path) -> str:
    """``/anywhere/specs/blocks/x.yaml`` -> ``specs/blocks/x.yaml``: the same text wherever the
    pictures are made."""
    try:
        return str(Path(spec_dir.name) / Path(path).resolve().relative_to(spec_dir.resolve()))
    except ValueError:
        return path


def report_html(spec_dir: Path, spec: str, variant: str | None) -> str:
    """The committed HTML report of one spec, naming the spec files as the repository does: what
    ``cnncost report SPEC --format html`` writes (the eager inference memory at batch 1)."""
    from cnncost import api
    from cnncost.render.html import report_page

    report = api.analyze(spec_dir / spec, variant=variant)
    memory = api.memory(spec_dir / spec, variant=variant)
    layers = tuple(replace(x, location=replace(
        x.location, file=_as_in_repository(x.location.file, spec_dir))) if x.location else x
        for x in report.layers)
    report = replace(report, spec_file=str(Path(spec_dir.name) / spec), layers=layers)
    return report_page(report, memory=memory)


def zoo_rows_as_in_repository(spec_dir: Path) -> list[ZooRow]:
    """The zoo rows of every spec in ``spec_dir``, their paths as the repository names them."""
    from cnncost.report.zoo import spec_paths, zoo_rows

    return [replace(row, spec=_as_in_repository(row.spec, spec_dir))
            for row in zoo_rows(spec_paths([spec_dir]))]


def write_reports(spec_dir: Path, out_dir: Path) -> list[Path]:
    """Rewrite ``out_dir/zoo.html``, ``out_dir/zoo.png`` and ``out_dir/html/<name>.html``."""
    from cnncost.render.zoo import write_zoo_pictures

    written = write_zoo_pictures(zoo_rows_as_in_repository(spec_dir), out_dir)
    folder = out_dir / "html"
    folder.mkdir(parents=True, exist_ok=True)
    for spec, variant, _ in REPORTS:
        path = folder / f"{report_name(spec, variant)}.html"
        path.write_text(report_html(spec_dir, spec, variant), encoding="utf-8")
        written.append(path)
    return written


def screenshot(page: Path, picture: Path, *, view: str = "", width: int = 1400,
               height: int = 1000) -> Path:
    """A picture of ``page`` in headless Chromium, opened at ``page#view``.

    Raises:
        UsageError: no Chromium is installed.
        subprocess.CalledProcessError: the browser failed.
    """
    browser = find_browser()
    if browser is None:
        raise UsageError("screenshots need Chromium: apt-get install chromium")
    subprocess.run([browser, *BROWSER_FLAGS, f"--window-size={width},{height}",
                    f"--screenshot={picture.resolve()}", f"{page.resolve().as_uri()}#{view}"],
                   capture_output=True, check=True, timeout=180)
    return picture


def write_screenshots(out_dir: Path) -> list[Path]:
    """Two pictures per committed report: the first screen (totals, graph) and the whole page
    down to the table's start, at 1400 pixels wide."""
    written = []
    for spec, variant, view in REPORTS:
        page = out_dir / "html" / f"{report_name(spec, variant)}.html"
        written.append(screenshot(page, page.with_suffix(".png"), view=view))
        written.append(screenshot(page, page.with_name(page.stem + ".page.png"), height=3000))
    return written


if __name__ == "__main__":  # python -m cnncost.render.committed [--screenshots]
    import sys

    out = Path("reports")
    paths = write_reports(Path("specs"), out)
    if "--screenshots" in sys.argv[1:]:
        paths += write_screenshots(out)
    for path in paths:
        print(f"wrote {path}")
