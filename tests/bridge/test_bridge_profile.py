"""The GPU profiler: its timing and summary logic with a fake timer on CPU, a CPU dry run of the
whole profile with its JSON / Markdown output, and (marked ``gpu``, skipped without CUDA) the
real thing."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import torch
from rich.console import Console

from cnncost import api
from cnncost.bridge import profile as P
from cnncost.bridge.module import to_module

from .conftest import SPECS

SMALL = SPECS / "examples" / "inception_5x5_bottleneck.yaml"
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(),
                                reason="needs a CUDA device (torch.cuda.is_available() is False)")


class FakeTimer:
    """A timeline that advances by a scripted duration per call of each node: node ``i`` of the
    graph takes ``(i + 1) * scale`` ms at repeat ``scale`` (1, 2, 3, ... per repeat)."""

    def __init__(self, order: list[str]) -> None:
        self.now = 0.0
        self.order = order
        self.calls = 0
        self.syncs = 0

    def mark(self) -> float:
        self.calls += 1
        if self.calls % 2 == 0:  # an end mark: the node "took" its scripted time
            node = (self.calls // 2 - 1) % len(self.order)
            repeat = (self.calls // 2 - 1) // len(self.order) + 1
            self.now += (node + 1) * repeat
        return self.now

    def elapsed_ms(self, start: float, end: float) -> float:
        return end - start

    def synchronize(self) -> None:
        self.syncs += 1


def test_time_layers_keeps_one_sample_per_node_and_repeat() -> None:
    graph, _ = api.build_graph(SMALL, variant="bottleneck")
    model = to_module(graph).eval()
    order = list(graph.topo_order())
    timer = FakeTimer(order)
    ticks: list[int] = []
    samples = P.time_layers(model, (torch.randn(1, 192, 28, 28),), timer, warmup=2, repeats=5,
                            tick=lambda: ticks.append(1))
    assert list(samples) == order
    for i, name in enumerate(order):
        assert samples[name] == [(i + 1) * r for r in range(1, 6)]
        assert P.Latency.of(samples[name]) == P.Latency((i + 1) * 3, i + 1, (i + 1) * 5, 5)
    assert timer.syncs == 5 and len(ticks) == 5  # one synchronise per timed forward


def test_latency_summary() -> None:
    assert P.Latency.of([5.0, 1.0, 3.0, 100.0]) == P.Latency(4.0, 1.0, 100.0, 4)
    with pytest.raises(ValueError):
        P.Latency.of([])


def test_time_forward_counts_repeats() -> None:
    graph, _ = api.build_graph(SMALL, variant="naive")
    model = to_module(graph).eval()
    marks = iter(range(100))

    class Clock:
        def mark(self) -> float:
            return float(next(marks)) ** 2

        def elapsed_ms(self, start: float, end: float) -> float:
            return end - start

        def synchronize(self) -> None:
            return None

    samples = P.time_forward(model, (torch.randn(1, 192, 28, 28),), Clock(), warmup=1, repeats=3)
    assert samples == [1.0, 5.0, 9.0]  # (1-0), (9-4), (25-16)


def test_cpu_dry_run_writes_json_and_markdown(tmp_path: Path) -> None:
    console = Console(file=io.StringIO(), width=100)
    report = P.profile(SMALL, variant="bottleneck", device="cpu", batch=2, warmup=1,
                       repeats=3, console=console)
    assert report.memory is None and report.device_name == "cpu"
    assert [layer.name for layer in report.layers] == ["input", "reduce_1x1", "conv_5x5"]
    assert all(layer.latency.repeats == 3 for layer in report.layers)
    analytic = api.analyze(SMALL, variant="bottleneck", batch=2, convention="torchvision")
    assert report.macs == analytic.totals.macs == 2 * 12_443_648
    json_path, md_path = P.write_profile(report, tmp_path / "gpu")
    assert json_path.name == "inception_5x5_bottleneck-bottleneck-b2-float32.json"
    data = json.loads(json_path.read_text())
    assert data["settings"]["repeats"] == 3 and data["layers"][2]["macs"] == 2 * 10_035_200
    markdown = md_path.read_text()
    assert "`reduce_1x1`" in markdown and "forward latency" in markdown


def test_report_stem_names_overrides() -> None:
    report = P.ProfileReport(
        model="resnet", variant="resnet50", overrides={"resolution": 160}, spec_file="x",
        batch=8, dtype="bfloat16", device="cuda", device_name="gpu", versions={},
        settings={}, forward=P.Latency(1, 1, 1, 1), layers=(), memory=None, macs=0, flops=0)
    assert P.report_stem(report) == "resnet-resnet50-b8-bfloat16-resolution=160"


def test_profile_rejects_cuda_without_cuda(monkeypatch) -> None:
    from cnncost.errors import UsageError

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(UsageError, match="no CUDA device"):
        P.profile(SMALL, device="cuda")


@pytest.mark.gpu
@needs_cuda
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_cuda_profile(tmp_path: Path, dtype: str) -> None:
    report = P.profile(SPECS / "resnet.yaml", variant="resnet18", device="cuda", batch=4,
                       dtype=dtype, warmup=3, repeats=5)
    assert report.device.startswith("cuda") and report.device_name != "cpu"
    assert report.versions["cudnn"] != "None"
    memory = report.memory
    assert memory is not None
    # the baseline holds at least the weights; inference allocates activations on top of it;
    # forward + backward keeps activations for the backward, so it peaks higher still
    assert memory.baseline_bytes >= memory.analytic_weight_bytes
    assert memory.inference_peak_bytes > memory.baseline_bytes
    assert memory.training_peak_bytes > memory.inference_peak_bytes
    # what eager PyTorch allocates through operators is all there; the allocator only adds
    # what kernels take for themselves (cuDNN workspaces ...)
    assert memory.inference_unmodelled_bytes >= 0
    assert memory.training_unmodelled_bytes is not None and memory.training_unmodelled_bytes >= 0
    assert report.forward.median_ms > 0
    assert all(layer.latency.median_ms > 0 for layer in report.layers if layer.op != "input")
    paths = P.write_profile(report, tmp_path)
    assert all(p.exists() for p in paths)


@pytest.mark.gpu
@needs_cuda
def test_cuda_check_passes() -> None:
    from cnncost.bridge.check import check

    report = check(SPECS / "inception_v1.yaml", variant="torchvision", device="cuda", batch=2)
    assert report.ok and report.device.startswith("cuda")


def test_memory_keeps_the_inference_peak_when_the_training_step_runs_out(monkeypatch) -> None:
    """The control flow of ``measure_memory`` with torch.cuda's allocator statistics faked (the
    real ones need a GPU): the training step running out of memory gives None for it, not a
    lost profile."""
    graph, _ = api.build_graph(SMALL, variant="bottleneck")
    model = to_module(graph).eval()
    allocated = iter([1000])  # memory_allocated: the baseline
    peaks = iter([5000])  # max_memory_allocated: the inference peak only
    for name in ("synchronize", "empty_cache", "reset_peak_memory_stats"):
        monkeypatch.setattr(torch.cuda, name, lambda *a, **k: None)
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda *a: next(allocated))
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda *a: next(peaks))

    def out_of_memory(*args: object) -> None:
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 9.00 GiB")

    monkeypatch.setattr(P, "_training_step", out_of_memory)
    assert P.measure_memory(model, (torch.randn(1, 192, 28, 28),)) == (1000, 5000, None, None)
    assert not model.training  # left in eval mode
    memory = P.Memory(1000, 5000, None, 1, 2, 3, 900, 4000)
    assert memory.inference_unmodelled_bytes == (5000 - 1000) - (4000 - 900)
    assert memory.training_unmodelled_bytes is None
    report = P.ProfileReport(
        model="m", variant=None, overrides={}, spec_file="x", batch=64, dtype="float32",
        device="cuda", device_name="gpu", versions={}, settings={},
        forward=P.Latency(1, 1, 1, 1), layers=(), memory=memory, macs=0, flops=0)
    text = P.profile_to_markdown(report)
    assert "| training step peak allocated (2nd step, SGD) / eager model | out of device " \
           "memory |" in text
    assert "| inference: above the baseline, not modelled (workspaces ...) | +900 B |" in text


def test_eager_memory_of_the_profile_protocol() -> None:
    graph, _ = api.build_graph(SPECS / "resnet.yaml", variant="resnet18")
    baseline, peak, start, training = P.eager_memory(graph, 4, "float32")
    from cnncost.memory.models import MemoryConfig, analyze_memory

    inference = analyze_memory(graph, MemoryConfig(batch=4))
    assert peak == inference.peak_bytes
    assert baseline == inference.weights_bytes + inference.buffers_bytes + inference.input_bytes
    assert start is not None and training is not None and training > start > baseline
