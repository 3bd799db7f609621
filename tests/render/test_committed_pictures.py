"""The committed pictures are current: their data equals what the specs give today.

The charts' pixels depend on the matplotlib version and fonts, so the tests compare what the
pictures were drawn from (the zoo page's table and data, the data written into zoo.png, the HTML
reports without their inline SVG); regenerate with ``python -m cnncost.render.committed``.
"""

from __future__ import annotations

import json
import re

import pytest

from cnncost.render.committed import (
    REPORTS,
    report_html,
    report_name,
    zoo_rows_as_in_repository,
)
from cnncost.render.html import ZOO_HEADER
from cnncost.render.zoo import DATA_KEY, zoo_data, zoo_points

from .conftest import ROOT, SPECS
from .htmltree import parse

STALE = "stale: run python -m cnncost.render.committed --screenshots"


def without_charts(text: str) -> str:
    """The page less its matplotlib SVGs (their text varies with matplotlib's version)."""
    return re.sub(r"<svg .*?</svg>", "<svg/>", text, flags=re.DOTALL)


@pytest.fixture(scope="module")
def rows() -> list:
    return zoo_rows_as_in_repository(SPECS)


@pytest.mark.slow
def test_zoo_page_is_current(rows) -> None:
    page = parse((ROOT / "reports/zoo.html").read_text(encoding="utf-8"))
    data = json.loads(page.by_id("cnncost-zoo").text)
    assert data["rows"] == zoo_data(rows), f"reports/zoo.html is {STALE}"
    assert [th.text for th in page.by_id("zoo-table").iter("th")] == list(ZOO_HEADER)
    names = [tr.attrs["data-name"] for tr in page.by_id("zoo-table").find("tbody").iter("tr")]
    assert names == [r.label for r in rows]
    assert page.by_id("chart-zoo") is not None


@pytest.mark.slow
def test_zoo_png_is_current(rows) -> None:
    from PIL import Image  # matplotlib's own dependency

    with Image.open(ROOT / "reports/zoo.png") as picture:
        drawn = json.loads(picture.text[DATA_KEY])
        assert picture.size == (1800, 1200)
    assert drawn == json.loads(json.dumps(zoo_points(rows), sort_keys=True)), \
        f"reports/zoo.png is {STALE}"
    assert len(drawn) >= 50  # the bubbles of every variant that documents a top-1 accuracy


@pytest.mark.parametrize(("spec", "variant"), [(s, v) for s, v, _ in REPORTS])
def test_committed_html_reports_are_current(spec, variant) -> None:
    name = report_name(spec, variant)
    committed = (ROOT / "reports/html" / f"{name}.html").read_text(encoding="utf-8")
    assert without_charts(committed) == without_charts(report_html(SPECS, spec, variant)), \
        f"reports/html/{name}.html is {STALE}"
    for picture in (f"{name}.png", f"{name}.page.png"):  # looked at when made, not compared
        assert (ROOT / "reports/html" / picture).read_bytes().startswith(b"\x89PNG")
