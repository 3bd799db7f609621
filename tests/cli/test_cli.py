"""The ``cnncost`` command end to end: every command and format, error exits, no torch.

Runs ``cnncost.cli.main`` in-process (so the top-level error handling is what is tested) and, for
the import and traceback checks, in a fresh interpreter.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from runcli import cli

ROOT = Path(__file__).resolve().parents[2]
SPEC = "specs/examples/inception_5x5_bottleneck.yaml"
V1 = "specs/inception_v1.yaml"
# seed 003: 28·28·32 · 5·5·192 = 120_422_400; 28·28·16·192 + 28·28·32·5·5·16 = 12_443_648
NAIVE_MACS, BOTTLENECK_MACS = 120_422_400, 12_443_648

BAD_SPEC = textwrap.dedent("""\
    name: bad
    input: {channels: 3, height: 32, width: 32}
    layers:
      - conv2d: {name: c1, out: 8, kernel: 3, stirde: 2}
      - conv2d: {name: c2, out: 8, kernal: 3}
    """)


@pytest.fixture(autouse=True)
def _at_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("COLUMNS", raising=False)


@pytest.fixture
def bad_spec(tmp_path: Path) -> Path:
    path = tmp_path / "bad.yaml"
    path.write_text(BAD_SPEC, encoding="utf-8")
    return path


def report_json(capsys, *args: str) -> dict:
    code, out, err = cli(capsys, "report", *args, "--format", "json")
    assert code == 0, err
    return json.loads(out)  # stdout holds the JSON and nothing else


# --------------------------------------------------------------------------- report


@pytest.mark.parametrize("convention", ["cnncost", "torchvision"])
@pytest.mark.parametrize(("variant", "macs"), [("naive", NAIVE_MACS),
                                               ("bottleneck", BOTTLENECK_MACS)])
def test_report_json_macs(capsys, variant: str, macs: int, convention: str) -> None:
    # bias-free convs and no activations: the complete count and torchvision's agree exactly
    data = report_json(capsys, f"{SPEC}@{variant}", "--convention", convention)
    assert data["variant"] == variant
    assert data["convention"]["name"] == convention
    assert data["totals"]["macs"] == macs
    assert data["totals"]["flops"] == 2 * macs
    assert sum(row["macs"] for row in data["layers"]) == macs


def test_variant_option_set_and_batch(capsys) -> None:
    at = report_json(capsys, f"{SPEC}@bottleneck")
    assert report_json(capsys, SPEC, "--variant", "bottleneck") == at
    assert report_json(capsys, SPEC)["totals"]["macs"] == NAIVE_MACS  # default_variant: naive
    override = report_json(capsys, SPEC, "--set", "reduce=16")
    assert override["totals"]["macs"] == BOTTLENECK_MACS and override["overrides"] == {"reduce": 16}
    doubled = report_json(capsys, f"{SPEC}@naive", "--batch", "2", "--dtype", "float16")
    assert doubled["totals"]["macs"] == 2 * NAIVE_MACS
    # 192·5·5·32 weights (no bias) at 2 bytes
    assert doubled["totals"]["weight_bytes"] == 153_600 * 2


def test_report_table(capsys) -> None:
    code, out, err = cli(capsys, "report", f"{SPEC}@bottleneck")
    assert code == 0 and err == ""
    assert re.search(r"reduce_1x1\s+conv2d\s+16×28×28\s+3\.07 k\s+2\.41 M", out)
    assert "12,443,648" in out and "documented 12,443,648" in out
    assert "convention: cnncost" in out
    assert max(len(line) for line in out.splitlines()) <= 120  # not a terminal: 120 columns
    assert "\x1b[" not in out


def test_report_table_width_and_exact(capsys) -> None:
    code, out, _ = cli(capsys, "report", f"{SPEC}@bottleneck", "--width", "90", "--exact")
    assert code == 0
    assert max(len(line) for line in out.splitlines()) <= 90
    assert re.search(r"conv_5x5\s+conv2d\s+32×28×28\s+12,800\s+10,035,200", out)


def test_report_csv(capsys) -> None:
    code, out, _ = cli(capsys, "report", f"{SPEC}@bottleneck", "--format", "csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["name"] for r in rows] == ["input", "reduce_1x1", "conv_5x5"]
    assert [int(r["macs"]) for r in rows] == [0, 2_408_448, 10_035_200]
    assert {r["kind"] for r in rows} == {"layer"}


def test_report_markdown(capsys) -> None:
    code, out, _ = cli(capsys, "report", f"{SPEC}@naive", "--format", "markdown")
    assert code == 0
    assert out.startswith("# inception_5x5_bottleneck @ naive")
    assert "| `conv_5x5` | conv2d | 32×28×28 | 153,600 | 120,422,400 | 100.0 % |" in out
    assert "## Convention: cnncost" in out


def test_report_output_files(capsys, tmp_path: Path) -> None:
    target = tmp_path / "r.json"
    code, out, err = cli(capsys, "report", f"{SPEC}@naive", "-f", "json", "--output", target)
    assert code == 0 and out == "" and str(target) in err
    assert json.loads(target.read_text())["totals"]["macs"] == NAIVE_MACS
    table = tmp_path / "r.txt"
    code, out, _ = cli(capsys, "report", f"{SPEC}@naive", "--output", table, "--width", "100")
    text = table.read_text()
    assert code == 0 and out == "" and "conv_5x5" in text and "\x1b[" not in text
    assert max(len(line) for line in text.splitlines()) <= 100


# --------------------------------------------------------------------------- diff


def diff_json(capsys, *args: str) -> dict:
    code, out, err = cli(capsys, "diff", *args, "--format", "json")
    assert code == 0, err
    return json.loads(out)


def test_diff_variants(capsys) -> None:
    data = diff_json(capsys, f"{SPEC}@naive", f"{SPEC}@bottleneck")
    assert data["a"]["label"] == "inception_5x5_bottleneck.yaml@naive"
    assert data["b"]["label"] == "inception_5x5_bottleneck.yaml@bottleneck"
    assert data["totals"]["macs"] == {"a": NAIVE_MACS, "b": BOTTLENECK_MACS,
                                      "delta": BOTTLENECK_MACS - NAIVE_MACS,
                                      "ratio": BOTTLENECK_MACS / NAIVE_MACS}
    status = {row["name"]: row["status"] for row in data["rows"]}
    assert status == {"input": "common", "reduce_1x1": "added", "conv_5x5": "common"}


def test_diff_with_set_b_equals_diff_of_variants(capsys) -> None:
    by_set = diff_json(capsys, SPEC, SPEC, "--set-b", "reduce=16")
    by_variant = diff_json(capsys, f"{SPEC}@naive", f"{SPEC}@bottleneck")
    assert by_set["rows"] == by_variant["rows"] and by_set["totals"] == by_variant["totals"]
    assert by_set["b"]["label"] == "inception_5x5_bottleneck.yaml [reduce=16]"
    both = diff_json(capsys, SPEC, SPEC, "--set-a", "reduce=16", "--set-b", "reduce=8")
    # conv_5x5 with 8 input channels: 28·28·32·25·8 = 5_017_600 vs 10_035_200
    conv = next(r for r in both["rows"] if r["name"] == "conv_5x5")
    assert conv["macs"]["a"] == 10_035_200 and conv["macs"]["b"] == 5_017_600


def test_diff_table_csv_markdown(capsys) -> None:
    refs = (f"{SPEC}@naive", f"{SPEC}@bottleneck")
    code, out, _ = cli(capsys, "diff", *refs)
    assert code == 0
    assert "A: inception_5x5_bottleneck.yaml@naive" in out and "×0.103" in out
    assert re.search(r"^\+\s+reduce_1x1", out, re.MULTILINE)
    code, out, _ = cli(capsys, "diff", *refs, "--format", "csv")
    rows = {r["name"]: r for r in csv.DictReader(io.StringIO(out))}
    assert rows["reduce_1x1"]["status"] == "added" and rows["reduce_1x1"]["macs_a"] == ""
    assert int(rows["conv_5x5"]["macs_delta"]) == 10_035_200 - NAIVE_MACS
    code, out, _ = cli(capsys, "diff", *refs, "--format", "markdown")
    assert out.startswith("# inception_5x5_bottleneck.yaml@naive → ")
    assert "| + | `reduce_1x1` | – | 3,072 | +3,072 |" in out


# --------------------------------------------------------------------------- validate, schema


def test_validate(capsys, bad_spec: Path) -> None:
    ok = f"ok  {SPEC} (2 variants, 2 of 2 documented figures match)\n"
    code, out, err = cli(capsys, "validate", SPEC)
    assert (code, out, err) == (0, ok, "")
    code, out, err = cli(capsys, "validate", SPEC, bad_spec)
    assert code == 3
    assert out == ok
    assert f"{bad_spec}:4:" in err and f"{bad_spec}:5:" in err and "did you mean 'stride'" in err
    assert err.rstrip().endswith(f"2 problems in {bad_spec}")
    code, _, err = cli(capsys, "validate", "missing.yaml")
    assert code == 4 and "missing.yaml" in err


def test_validate_one_variant_and_its_documented_figures(capsys, tmp_path: Path) -> None:
    code, out, _ = cli(capsys, "validate", f"{SPEC}@naive")
    assert (code, out) == (0, f"ok  {SPEC}@naive (1 variant, 1 of 1 documented figures match)\n")
    code, _, err = cli(capsys, "validate", f"{SPEC}@nope")
    assert code == 3 and "unknown variant 'nope'" in err
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("name: w\ninput: {channels: 3, height: 8, width: 8}\n"
                     "documented: [{metric: params_total, value: 225, source: typo}]\n"
                     "layers: [{conv2d: {out: 8, kernel: 3}}]\n")  # 3*8*9 + 8 = 224
    code, out, err = cli(capsys, "validate", str(wrong))
    assert code == 1 and out.startswith("BAD")
    assert err == (f"{wrong}: documented params_total 225 (typo) but computed 224 under "
                   "convention cnncost\n")


def test_schema(capsys, tmp_path: Path) -> None:
    code, out, _ = cli(capsys, "schema")
    schema = json.loads(out)
    assert code == 0 and isinstance(schema, dict) and "properties" in schema
    target = tmp_path / "schema.json"
    code, out, _ = cli(capsys, "schema", "--output", target)
    assert code == 0 and out == "" and json.loads(target.read_text()) == schema


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(("args", "code", "message"), [
    (["report", SPEC, "--set", "reduce"], 2, "--set expects name=value"),
    (["report", SPEC, "--dtype", "float64"], 2, "float32, float16, bfloat16, int8"),
    (["report", SPEC, "--convention", "flops"], 2, "cnncost, torchvision, fvcore, connections"),
    (["report", SPEC, "--format", "yaml"], 2, "table, json, csv, markdown, html"),
    (["diff", SPEC, SPEC, "--format", "pdf"], 2, "table, json, csv, markdown, html"),
    (["report", SPEC, "--depth", "-1"], 2, "--depth must be at least 0"),
    (["report", SPEC, "--depth", "0", "--format", "html"], 2, "applies to tables"),
    (["report", SPEC, "--batch", "0"], 2, "--batch"),
    (["report", SPEC, "--no-such-option"], 2, "--no-such-option"),
    (["report", f"{SPEC}@naive", "--variant", "bottleneck"], 2, "variant given twice"),
    (["report", "specs/nope.yaml"], 4, "specs/nope.yaml"),
    (["diff", SPEC, "specs/nope.yaml"], 4, "specs/nope.yaml"),
    (["report", f"{SPEC}@nope"], 3, "unknown variant 'nope'"),
    (["diff", SPEC, SPEC, "--set-b", "reduce=[1"], 2, "--set"),
])
def test_error_exits(capsys, args: list[str], code: int, message: str) -> None:
    got, out, err = cli(capsys, *args)
    assert got == code
    assert message in err
    assert out == ""
    assert "Traceback" not in err


def test_invalid_spec_lists_every_problem(capsys, bad_spec: Path) -> None:
    code, out, err = cli(capsys, "report", bad_spec)
    assert code == 3 and out == ""
    lines = err.strip().splitlines()
    assert re.match(rf"{re.escape(str(bad_spec))}:4:\d+: schema", lines[0])
    assert re.match(rf"{re.escape(str(bad_spec))}:5:\d+: schema", lines[1])
    assert lines[-1] == f"2 problems in {bad_spec}"


def test_output_to_unwritable_place(capsys, tmp_path: Path) -> None:
    code, out, err = cli(capsys, "report", SPEC, "--output", tmp_path / "no" / "such" / "f.txt")
    assert code == 4 and "cannot write" in err and out == ""


# --------------------------------------------------------------------------- fresh interpreter


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120, check=False)


def test_analytic_commands_never_import_torch() -> None:
    commands = [
        ["report", f"{SPEC}@bottleneck"], ["report", V1, "--format", "json"],
        ["report", SPEC, "--format", "markdown"], ["report", SPEC, "--format", "csv"],
        ["diff", f"{SPEC}@naive", f"{SPEC}@bottleneck"], ["validate", SPEC, V1], ["schema"],
    ]
    proc = run_python(textwrap.dedent(f"""
        import sys
        from cnncost.cli import main
        for argv in {commands!r}:
            try:
                main(argv)
            except SystemExit as exit:
                assert exit.code in (0, None), (argv, exit.code)
        heavy = sorted(m for m in ("torch", "torchvision", "fvcore") if m in sys.modules)
        print("HEAVY", heavy, file=sys.stderr)
        """))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "HEAVY []" in proc.stderr


@pytest.mark.parametrize("argv", [
    ["report", f"{SPEC}@bottleneck"], ["diff", f"{SPEC}@naive", f"{SPEC}@bottleneck"],
    ["table", SPEC], ["validate", SPEC], ["fit", SPEC, "--memory", "4GB"],
    ["report", "nope.yaml"]])
def test_analytic_commands_pause_the_collector_and_restore_it(capsys, monkeypatch,
                                                               argv: list[str]) -> None:
    """Inside an analytic command the cyclic collector is off (its full collections would walk
    every module the command imports and every node it builds); after it, on again, also when
    the command fails."""
    import gc

    from cnncost import api

    seen: list[bool] = []
    load_spec = api.load_spec

    def recording(*args, **kwargs):
        seen.append(gc.isenabled())
        return load_spec(*args, **kwargs)

    monkeypatch.setattr(api, "load_spec", recording)  # every command loads through api.load
    assert gc.isenabled()
    code, _, err = cli(capsys, *argv)
    assert code == (4 if "nope.yaml" in argv else 0), err
    assert seen and not any(seen)
    assert gc.isenabled()


def test_the_process_entry_point_freezes_what_is_left_however_main_ends(capsys,
                                                                        monkeypatch) -> None:
    """``run`` (the script, ``python -m cnncost``) is ``main`` and then ``gc.freeze``, so that the
    interpreter's last collection does not walk what the command built; ``main`` alone does not
    freeze (tests and embedding programs go on)."""
    import gc

    from cnncost import cli as cli_module

    def failing() -> None:
        raise SystemExit(3)

    monkeypatch.setattr(cli_module, "main", failing)
    gc.unfreeze()
    try:
        with pytest.raises(SystemExit) as exit_info:
            cli_module.run()
        assert exit_info.value.code == 3
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
    monkeypatch.undo()
    code, _, err = cli(capsys, "validate", SPEC)
    assert code == 0, err
    assert gc.get_freeze_count() == 0


def test_user_errors_print_no_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD_SPEC, encoding="utf-8")
    for argv, code in ((["report", str(bad)], 3), (["report", SPEC, "--set", "x"], 2),
                       (["report", "nope.yaml"], 4)):
        proc = run_python(f"from cnncost.cli import main; main({argv!r})")
        assert proc.returncode == code, proc.stderr
        assert "Traceback" not in proc.stderr and proc.stdout == ""


# --------------------------------------------------------------------------- inception v1


def test_inception_v1_report_invariants(capsys) -> None:
    data = report_json(capsys, V1)
    totals = data["totals"]
    for metric in ("macs", "flops", "params_total", "activation_bytes"):
        assert sum(row[metric] for row in data["layers"]) == totals[metric], metric
    for block in data["blocks"]:
        inside = [r for r in data["layers"] if r["name"].startswith(block["name"] + ".")]
        assert block["macs"] == sum(r["macs"] for r in inside)
        assert block["layers"] == len(inside)
    code, out, _ = cli(capsys, "report", V1, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0
    assert len(rows) == len(data["layers"]) + len(data["blocks"])


def test_inception_v1_depth_one_shows_only_top_level_rows(capsys) -> None:
    code, out, _ = cli(capsys, "report", V1, "--depth", "1", "--format", "markdown")
    assert code == 0
    table = out.split("## Totals")[0]
    assert "&emsp;" not in table  # nothing nested is shown
    assert re.search(r"\*\*`inception_3a`\*\* \(\d+ layers\)", table)


def test_depth_zero_shows_the_totals_only(capsys) -> None:
    code, out, _ = cli(capsys, "report", V1, "--depth", "0", "--format", "markdown")
    assert code == 0
    assert out.index("## Totals") < out.index("params, total")
    assert "inception_3a" not in out and "| name | op |" not in out
    code, out, _ = cli(capsys, "report", V1, "--depth", "0", "--width", "160")
    assert code == 0
    assert "params, total" in out and "6,998,552" in out
    assert "inception_3a" not in out and "max_pool2d" not in out  # no layer row
    code, out, _ = cli(capsys, "diff", f"{V1}@paper", f"{V1}@torchvision", "--depth", "0",
                       "--format", "markdown")
    assert code == 0
    assert "inception_3a" not in out and "params, total" in out


def test_inception_v1_documented_figures_under_torchvision(capsys) -> None:
    code, out, _ = cli(capsys, "report", f"{V1}@torchvision", "--convention", "torchvision",
                       "--depth", "1")
    assert code == 0
    # torchvision GoogLeNet num_params (batch-norm buffers are not parameters)
    assert re.search(r"params, trainable\s+6,624,904\s+6\.62 M\s+documented 6,624,904 ✓", out)
    assert "operators this convention does not count" in out


def test_inception_v1_diff_against_itself(capsys) -> None:
    data = diff_json(capsys, f"{V1}@paper", f"{V1}@paper", "--depth", "1")
    assert {row["status"] for row in data["rows"]} == {"common"}
    assert all(row["macs"]["delta"] == 0 for row in data["rows"])
    assert data["totals"]["params"]["delta"] == 0


def test_help_paragraphs_reflow_and_keep_brackets(capsys, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    code, out, _ = cli(capsys, "check", "--help")
    assert code == 0
    assert 'Needs the torch extras (pip install -e ".[torch]").' in " ".join(out.split())
    # the docstring's own line breaks are not kept (they cut lines short at 100 columns)
    assert not re.search(r"counts under the\s*\n\s*fvcore convention", out)
    code, out, _ = cli(capsys, "sweep", "--help")
    assert "Writes <stem>.json / .md per run" in " ".join(out.split())
