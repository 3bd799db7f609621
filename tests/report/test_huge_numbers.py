"""Numbers past a float, NaN and infinity: every renderer still renders, JSON stays strict."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest

from cnncost.report import diff as diffs
from cnncost.report.formats import json_text, to_csv, to_json, to_markdown
from cnncost.report.table import format_bytes, format_count, render_report, render_text

HUGE = 10**320  # past the largest float (about 1.8e308)


def strict(text: str) -> object:
    return json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} in JSON"))


def test_formatting_counts_past_a_float() -> None:
    assert format_count(HUGE) == "1.00e320" and format_count(-HUGE) == "-1.00e320"
    assert format_count(999 * 10**18) == "999 E"
    assert format_count(10**21) == "1.00e21"  # a thousand E: scientific from there
    assert format_bytes(HUGE) == "1.00e320 B"
    assert format_count(HUGE, exact=True) == f"{HUGE:,}"


def test_a_report_with_counts_past_a_float_renders_everywhere(make_report) -> None:
    report = make_report("naive")
    layers = tuple(dataclasses.replace(x, macs=HUGE) if x.op == "conv2d" else x
                   for x in report.layers)
    huge = dataclasses.replace(report, layers=layers, totals=dataclasses.replace(
        report.totals, macs=HUGE), params={"x": math.nan, "y": math.inf})
    text = render_text(render_report(huge), 120)
    assert "1.00e320" in text
    data = strict(to_json(huge))
    assert data["totals"]["macs"] == HUGE and data["params"] == {"x": None, "y": None}
    assert str(HUGE) in to_csv(huge) and f"{HUGE:,}" in to_markdown(huge)
    result = diffs.diff_reports(report, huge)
    # B / A is past a float: an infinite ratio, shown as such, null in JSON
    assert result.totals.macs.ratio == math.inf
    assert "×∞" in render_text(diffs.render_diff(result), 160)
    assert strict(diffs.diff_to_json(result))["totals"]["macs"]["ratio"] is None


def test_json_text_is_strict() -> None:
    data = {"a": [1.5, math.nan, -math.inf], math.inf: 1, 2.5: "x", None: {1, 2}}
    assert strict(json_text(data)) == {"a": [1.5, None, None], "inf": 1, "2.5": "x",
                                       "null": [1, 2]}
