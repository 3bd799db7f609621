"""reports/import.md and reports/import.json are current, cheaply: they list exactly today's
catalogue (torchvision's classification and segmentation models and the timm list), every
model that is not clean says why, the committed specs are those of the imported models, and a
fresh import of a few models writes their committed spec to the byte with the recorded
figures. The catalogue itself (tens of minutes) is ``python -m cnncost.importer.catalogue``."""

from __future__ import annotations

import json

import pytest

from cnncost.importer.catalogue import REPORT_JSON, REPORT_MD, ROOT, SPEC_DIR, catalogue, spec_path
from cnncost.importer.pipeline import import_model

REPORT = json.loads(REPORT_JSON.read_text(encoding="utf-8"))
BY_REF = {r["ref"]: r for r in REPORT["models"]}


def test_the_report_lists_exactly_todays_catalogue() -> None:
    assert [r["ref"] for r in REPORT["models"]] == list(catalogue())
    markdown = REPORT_MD.read_text(encoding="utf-8")
    for ref in catalogue():
        assert f"\n| {ref} | " in markdown, ref
    clean = sum(r["status"] == "clean" for r in REPORT["models"])
    assert f"| checked clean | {clean} |" in markdown
    assert f"| in the catalogue | {len(REPORT['models'])} |" in markdown


def test_every_model_that_is_not_clean_says_why() -> None:
    for r in REPORT["models"]:
        if r["status"] == "clean":
            assert r["validate"] and r["check"] and r["against"], r["ref"]
        else:
            assert r["reasons"] and all(r["reasons"]), r["ref"]


def test_the_committed_specs_are_the_imported_models() -> None:
    committed = {str(p.relative_to(ROOT)) for p in SPEC_DIR.rglob("*.yaml")}
    assert committed == {r["spec"] for r in REPORT["models"] if "spec" in r}


@pytest.mark.parametrize("ref", ["torchvision:resnet18", "torchvision:mobilenet_v2",
                                 "timm:mobilenetv3_small_100"])
def test_a_fresh_import_writes_the_committed_spec(ref: str) -> None:
    entry = BY_REF[ref]
    result = import_model(ref, args=entry["args"])
    assert result.text == spec_path(ref).read_text(encoding="utf-8")
    assert (result.lines, result.layers, result.blocks, result.params_trainable,
            result.flops) == (entry["lines"], entry["layers"], entry["blocks"],
                              entry["params"], entry["flops"])
