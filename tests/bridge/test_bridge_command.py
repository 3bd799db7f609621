"""``run_check``, the body of ``cnncost check``: what it finds, exit codes, usage errors.

It prints nothing (the CLI prints its report); the text and JSON here are the renderers' of the
report it returns."""

from __future__ import annotations

import io
import json

import pytest
import torch
from rich.console import Console

from cnncost.bridge.command import run_check
from cnncost.bridge.render import check_text, check_to_json
from cnncost.errors import EXIT_CHECK_FAILED, EXIT_OK, UsageError

from .conftest import SPECS
from .test_bridge_check_fails import GROUPED, conv_ignoring_groups, patch

SMALL = SPECS / "examples" / "inception_5x5_bottleneck.yaml"


def console() -> Console:
    return Console(file=io.StringIO(), width=120, color_system=None)


def output(c: Console) -> str:
    file = c.file
    assert isinstance(file, io.StringIO)
    return file.getvalue()


def test_table_and_exit_ok() -> None:
    c = console()
    run = run_check(f"{SMALL}@bottleneck", progress=c)
    assert run.exit_code == EXIT_OK and run.profile is None and run.profile_line is None
    assert output(c) == ""  # a spinner at most, never on a file: nothing is printed
    text = check_text(run.report)
    assert "cnncost check inception_5x5_bottleneck@bottleneck" in text
    assert "12,443,648" in text and "OK: 3 layers" in text


def test_json_and_exit_code_of_a_mismatch(monkeypatch, write_spec) -> None:
    path = write_spec("grouped", [16, 12, 12], GROUPED)
    patch(monkeypatch, "conv2d", arithmetic=conv_ignoring_groups,
          fvcore=lambda ctx: conv_ignoring_groups(ctx).macs)
    run = run_check(path, fmt="json", batch=3, progress=console())
    assert run.exit_code == EXIT_CHECK_FAILED
    data = json.loads(check_to_json(run.report))
    assert data["ok"] is False and data["batch"] == 3
    assert data["mismatches"] == ["block.grouped", "block.depthwise"]


def test_all_layers_and_overrides() -> None:
    run = run_check(SMALL, variant="naive", overrides={"reduce": 8}, dtype="bfloat16")
    assert run.exit_code == EXIT_OK
    text = check_text(run.report, all_layers=True)
    assert "overrides reduce=8" in text and "reduce_1x1" in text and "bfloat16" in text


@pytest.mark.parametrize("kwargs, message", [
    ({"dtype": "int8"}, "cannot run torch in dtype 'int8'"),
    ({"device": "tpu"}, "device"),
    ({"fmt": "csv"}, "unknown format 'csv'"),
    ({"batch": 0}, "batch must be at least 1"),
    ({"variant": "naive", "spec": f"{SMALL}@bottleneck"}, "variant given twice"),
])
def test_usage_errors(kwargs, message) -> None:
    spec = kwargs.pop("spec", SMALL)
    with pytest.raises(UsageError, match=message):
        run_check(spec, progress=console(), **kwargs)


def test_cuda_without_cuda_is_a_usage_error(monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(UsageError, match="no CUDA device"):
        run_check(SMALL, device="cuda", progress=console())
