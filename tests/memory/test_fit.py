"""``cnncost fit``: answers derivable by hand, the budget's arithmetic, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from runcli import cli

from cnncost import api
from cnncost.errors import UsageError
from cnncost.memory.fit import (
    Budget,
    NothingFits,
    fit_batch,
    fit_parameter,
    parse_fraction,
    parse_size,
)
from cnncost.memory.models import MemoryConfig, analyze_memory

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def linear(tmp_path: Path):
    # input (16,) -> linear 16 -> 16 without bias: 256 weights = 1,024 bytes. At inference on the
    # CPU (no rounding), batch b: the input (64 b bytes) and the product (64 b): the peak is
    # 1,024 + 128 b bytes exactly.
    path = tmp_path / "lin.yaml"
    path.write_text(yaml.safe_dump({"name": "lin", "input": {"shape": [16]},
                                    "layers": [{"linear": {"name": "fc", "out": 16,
                                                           "bias": False}}]}))
    return api.build_graph(path)[0]


CPU_INFERENCE = MemoryConfig(mode="inference", device="cpu")


@pytest.mark.parametrize("batch", [1, 2, 3, 7, 100, 1000, 12345])
def test_largest_batch_by_hand(linear, batch: int) -> None:
    # a budget of 1,024 + 128 b + 127 bytes fits b samples and not b + 1
    budget = Budget(1024 + 128 * batch + 127, reserve_bytes=0, headroom=0)
    result = fit_batch(linear, CPU_INFERENCE, budget)
    assert result.value == batch
    assert result.peak_bytes == 1024 + 128 * batch
    assert result.next_value == batch + 1
    assert result.next_peak_bytes == 1024 + 128 * (batch + 1) > budget.usable_bytes


def test_budget_subtracts_headroom_then_reserve(linear) -> None:
    budget = Budget(10_000, reserve_bytes=1_000, headroom=0.1)
    assert budget.usable_bytes == 9_000 - 1_000
    # (8,000 - 1,024) // 128 = 54
    assert fit_batch(linear, CPU_INFERENCE, budget).value == 54


def test_nothing_fits_says_why(linear) -> None:
    with pytest.raises(NothingFits, match=r"batch 1 needs 1,152 bytes .* more than the 1,100 "
                                          r"usable: nothing fits") as err:
        fit_batch(linear, CPU_INFERENCE, Budget(1_100, reserve_bytes=0, headroom=0))
    assert err.value.exit_code == 1


@pytest.mark.parametrize("kwargs, message", [
    ({"capacity_bytes": -1}, "must be positive"),
    ({"capacity_bytes": 100, "headroom": 1.0}, r"headroom must be in \[0, 1\)"),
    ({"capacity_bytes": 100, "reserve_bytes": -5}, "must not be negative"),
    ({"capacity_bytes": 100, "reserve_bytes": 200}, "nothing is left for the network"),
])
def test_impossible_budgets(kwargs, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        Budget(**kwargs)


@pytest.mark.parametrize("text, size", [
    ("80GiB", 80 * 2**30), ("80 GiB", 80 * 2**30), ("24GB", 24 * 10**9), ("512MiB", 2**29),
    ("1e9", 10**9), ("1.5gib", 3 * 2**29), ("100", 100)])
def test_sizes(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["-1GiB", "0", "lots", "12 parsecs", "GiB"])
def test_bad_sizes(text: str) -> None:
    with pytest.raises(UsageError):
        parse_size(text)


def test_fractions() -> None:
    assert parse_fraction("5%") == 0.05 and parse_fraction("0.25") == 0.25
    with pytest.raises(UsageError):
        parse_fraction("100%")


def test_largest_resolution_is_monotone_and_exact() -> None:
    loaded = api.load(ROOT / "specs/resnet.yaml")
    config = MemoryConfig(mode="inference", batch=8, device="cpu")

    def build(resolution: int):
        return api.build_graph(loaded, variant="resnet18",
                               overrides={"resolution": resolution})[0]

    at_224 = analyze_memory(build(224), config)
    budget = Budget(at_224.peak_bytes, reserve_bytes=0, headroom=0)
    result = fit_parameter(build, "resolution", 224, 32, config, budget)
    assert result.value == 224 and result.next_value == 256
    assert result.next_peak_bytes is not None and result.next_peak_bytes > budget.usable_bytes


def test_cli_fit_json_and_device_table(capsys, monkeypatch) -> None:
    monkeypatch.chdir(ROOT)
    code, out, _ = cli(capsys, "fit", "specs/resnet.yaml@resnet18", "--device-name", "t4",
                       "--format", "json")
    data = json.loads(out)
    assert code == 0 and data["axis"] == "batch" and data["value"] > 1
    assert data["budget"]["capacity_bytes"] == 16 * 2**30
    assert data["peak_bytes"] <= data["budget"]["usable_bytes"] < data["next_peak_bytes"]
    code, out, _ = cli(capsys, "fit", "", "--list-devices")
    assert code == 0 and "h100" in out and "rtx-4090" in out


@pytest.mark.parametrize("args, message", [
    (["--memory", "-1GiB"], "must be positive"),
    (["--device-name", "b200"], "unknown device 'b200'"),
    ([], "give exactly one of --device-name"),
    (["--memory", "1GiB", "--device-name", "t4"], "give exactly one of --device-name"),
    (["--memory", "10GiB", "--resolution", "--param", "depth_of_field"],
     "has no parameter 'depth_of_field'"),
    (["--memory", "10GiB", "--optimizer", "lion"], "unknown optimizer 'lion'"),
])
def test_cli_fit_bad_input(capsys, monkeypatch, args: list[str], message: str) -> None:
    monkeypatch.chdir(ROOT)
    code, _, err = cli(capsys, "fit", "specs/resnet.yaml@resnet18", *args)
    assert code == 2 and message in err and "Traceback" not in err


def test_cli_fit_weights_alone_exceed(capsys, monkeypatch) -> None:
    monkeypatch.chdir(ROOT)
    # VGG-16 holds 528 MiB of weights: nothing fits in 400 MiB
    code, _, err = cli(capsys, "fit", "specs/vgg.yaml@vgg16", "--memory", "400MiB", "--reserve",
                       "0", "--mode", "inference")
    assert code == 1 and "nothing fits" in err and "weights 553,431,040" in err
