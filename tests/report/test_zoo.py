"""The zoo table and the committed reports (regenerate: python -m cnncost.report.zoo)."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path

import pytest

from cnncost import api
from cnncost.report import zoo

ROOT = Path(__file__).resolve().parents[2]


def test_rows_carry_the_analysis_and_the_documented_metadata() -> None:
    rows = {r.label: r for r in zoo.zoo_rows([ROOT / "specs/resnet.yaml"])}
    keras = rows["resnet@keras_resnet50"]
    report = api.analyze(ROOT / "specs/resnet.yaml", variant="keras_resnet50",
                         convention="torchvision")
    assert keras.params_total == 25_636_712  # Keras Applications table (seed 003)
    assert keras.weight_bytes == 4 * 25_636_712
    assert keras.macs == report.totals.macs and keras.depth == report.totals.depth
    assert keras.documented_size_mb == 98 and keras.top1 == 0.749  # seed 003
    assert rows["resnet@resnet50"].documented_size_mb is None


def test_directory_means_its_yaml_files(tmp_path: Path) -> None:
    paths = zoo.spec_paths([ROOT / "specs"])
    assert ROOT / "specs/resnet.yaml" in paths
    assert not any("blocks" in p.parts or "examples" in p.parts for p in paths)


def test_cli_table_csv_round_trip() -> None:
    done = subprocess.run([sys.executable, "-m", "cnncost", "table",
                           str(ROOT / "specs/inception_v1.yaml"), "--format", "csv",
                           "--convention", "torchvision"], capture_output=True, text=True,
                          check=True)
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    tv = next(r for r in rows if r["variant"] == "torchvision")
    assert int(tv["params_trainable"]) == 6_624_904  # torchvision GoogLeNet num_params
    assert int(tv["macs"]) == 1_498_376_192  # torchvision GFLOPS column: 1.498


def test_cli_table_missing_path_is_exit_4(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "cnncost", "table", str(tmp_path / "nope")],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 4 and "no such spec" in done.stderr


@pytest.mark.slow
def test_committed_zoo_table_is_up_to_date() -> None:
    committed = (ROOT / "reports/zoo.md").read_text(encoding="utf-8")
    assert committed == zoo.zoo_markdown(ROOT / "specs"), \
        "reports/zoo.md is stale: run python -m cnncost.report.zoo"


@pytest.mark.slow
def test_committed_model_reports_are_up_to_date() -> None:
    expected = zoo.model_reports(ROOT / "specs")
    folder = ROOT / "reports/models"
    assert {p.name for p in folder.glob("*.md")} == set(expected)
    for name, text in expected.items():
        assert (folder / name).read_text(encoding="utf-8") == text, \
            f"reports/models/{name} is stale: run python -m cnncost.report.zoo"
