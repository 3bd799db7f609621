"""The error contract: every bad spec gives a located, typed problem and never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cnncost import api
from cnncost.errors import EXIT_SPEC, SpecError

from .bad_specs import CASES


def write(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    return tmp_path / "s.yaml"


def problems_of(tmp_path: Path, text: str) -> list:
    """The problems of the spec ``text`` (it must not build)."""
    path = write(tmp_path, {"s.yaml": text})
    with pytest.raises(SpecError) as info:
        api.build_graph(path)
    return info.value.problems


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_error_contract(tmp_path: Path, case: tuple) -> None:
    _, files, variant, overrides, kind, layer, line, column, message, hint = case
    path = write(tmp_path, files)
    with pytest.raises(SpecError) as info:
        api.build_graph(path, variant=variant, overrides=overrides)
    matching = [p for p in info.value.problems if p.kind == kind]
    assert matching, [p.format() for p in info.value.problems]
    problem = matching[0]
    assert problem.location is not None
    assert (problem.location.line, problem.location.column) == (line, column), problem.format()
    assert Path(problem.location.file).name in files
    assert message in problem.message
    if layer is not None:
        assert problem.layer is not None and layer in problem.layer
    if hint is not None:
        assert problem.hint is not None and hint in problem.hint


def test_problems_inside_a_block_name_the_call_site(tmp_path: Path) -> None:
    case = next(c for c in CASES if c[0] == "error-inside-block")
    (problem, *_) = problems_of(tmp_path, case[1]["s.yaml"])
    assert "called from" in problem.message
    assert problem.message.endswith("s.yaml:9:11)")


def test_all_problems_are_reported_together(tmp_path: Path) -> None:
    text = ("name: t\ninput: {channels: 3, height: 8, width: 8}\nlayers:\n"
            "  - conv2d: {out: 16, kernal: 3}\n  - conv2: {out: 8}\n"
            '  - conv2d: {out: "16 *", kernel: 3}\n')
    problems = problems_of(tmp_path, text)
    kinds = [(p.kind, p.location.line) for p in problems]
    assert kinds == [("schema", 4), ("unknown-op", 5), ("expression", 6)]


def test_a_failed_layer_silences_what_depends_on_it(tmp_path: Path) -> None:
    text = ("name: t\ninput: {channels: 3, height: 8, width: 8}\nlayers:\n"
            "  - conv2d: {out: 16, kernel: 3, groups: 2}\n  - relu\n  - linear: {out: 3}\n")
    problems = problems_of(tmp_path, text)
    assert len(problems) == 1  # not also "linear needs a vector"


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_cli_reports_without_traceback(tmp_path: Path, case: tuple) -> None:
    _, files, variant, overrides, kind, _layer, line, column, *_ = case
    path = write(tmp_path, files)
    args = [sys.executable, "-m", "cnncost", "report", str(path)]
    if variant:
        args += ["--variant", variant]
    for key, value in (overrides or {}).items():
        args += ["--set", f"{key}={value}"]
    done = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == EXIT_SPEC, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert f":{line}:{column}: {kind}" in done.stderr


def test_an_error_in_a_repeated_block_is_reported_once(tmp_path: Path) -> None:
    # every iteration reads the top-level input, so each fails on its own, at the same place
    text = ("name: t\ninput: {channels: 3, height: 8, width: 8}\nlayers:\n"
            "  - repeat:\n      name: stage\n      times: 3\n      layers:\n"
            "        - conv2d: {name: conv, input: input, out: 4, kernel: 3, groups: 2}\n")
    (problem,) = problems_of(tmp_path, text)
    assert problem.layer == "stage.0.conv" and problem.location.line == 8
    assert problem.hint == "also in stage.1.conv, stage.2.conv"


def test_a_failed_input_does_not_cascade_into_unknown_in_channels(tmp_path: Path) -> None:
    # the batch-norm fails (a YAML 1.1 '1e-5' is text); the block argument default, the block's
    # layer and the next layer all read in_channels of what follows it: one problem, not four
    text = ("name: t\nparams: {eps: 1e-5}\ninput: {channels: 3, height: 8, width: 8}\n"
            "blocks:\n  b:\n    args: {width: \"in_channels * 2\"}\n    layers:\n"
            "      - conv2d: {name: c, out: width, kernel: 1}\n"
            "layers:\n  - conv2d: {name: stem, out: 8, kernel: 3}\n"
            "  - batch_norm: {name: bn, epsilon: eps}\n  - b: {name: blk}\n"
            '  - conv2d: {name: head, out: "in_channels", kernel: 1}\n')
    (problem,) = problems_of(tmp_path, text)
    assert problem.layer == "bn" and (problem.location.line, problem.location.column) == (11, 37)
    assert "expected a number, got '1e-5'" in problem.message
    assert "YAML 1.1 reads 1e-5 as a string; write 1.0e-5 or 0.00001" in problem.message


def test_a_misspelt_name_after_a_failed_input_is_still_reported(tmp_path: Path) -> None:
    # only the names bound to the failed input's shape are silenced, not a typo beside them
    text = ("name: t\ninput: {channels: 3, height: 8, width: 8}\nlayers:\n"
            "  - conv2d: {name: a, out: 4, kernel: 3, groups: 2}\n"
            '  - conv2d: {name: b, out: "in_chanels", kernel: 1}\n')
    problems = problems_of(tmp_path, text)
    assert [p.layer for p in problems] == ["a", None]
    assert "unknown name 'in_chanels'" in problems[1].message


def test_a_choice_attribute_names_its_choices(tmp_path: Path) -> None:
    text = ("name: t\ninput: {channels: 3, height: 8, width: 8}\nlayers:\n"
            "  - global_avg_pool: {torch_op: avg}\n")
    (problem,) = problems_of(tmp_path, text)
    assert "expected one of adaptive_avg_pool2d, mean, got 'avg'" in problem.message
    assert (problem.location.line, problem.location.column) == (4, 33)  # the value
