"""Peak live activation memory over the topological schedule, worked by hand."""

from __future__ import annotations

from pathlib import Path

from cnncost import api


def report(tmp_path: Path, layers: str, **kwargs):
    path = tmp_path / "s.yaml"
    path.write_text("name: t\ninput: {channels: 1, height: 10, width: 10}\nlayers:\n" + layers)
    return api.analyze(path, **kwargs)


def test_chain_peak_is_two_adjacent_tensors(tmp_path: Path) -> None:
    # input 100 elems -> a (400) -> b (100). float32 = 4 bytes.
    r = report(tmp_path, "  - conv2d: {name: a, out: 4, kernel: 1}\n"
                         "  - conv2d: {name: b, out: 1, kernel: 1}\n")
    # while a runs: input + a = 500 elems; while b runs: a + b = 500 (input freed after a)
    assert r.totals.peak_activation_bytes == 500 * 4
    assert r.totals.activation_bytes == (100 + 400 + 100) * 4


def test_residual_keeps_the_shortcut_alive(tmp_path: Path) -> None:
    # input (100) is read by the final add: it stays live through a and b.
    r = report(tmp_path, "  - conv2d: {name: a, out: 4, kernel: 1}\n"
                         "  - conv2d: {name: b, out: 1, kernel: 1}\n"
                         "  - add: {inputs: [b, input]}\n")
    # step a: input + a = 500; step b: input + a + b = 600; step add: input + b + add = 300
    assert r.totals.peak_activation_bytes == 600 * 4


def test_batch_and_dtype_scale_peak(tmp_path: Path) -> None:
    r = report(tmp_path, "  - conv2d: {name: a, out: 4, kernel: 1}\n", batch=3, dtype="int8")
    assert r.totals.peak_activation_bytes == 500 * 3 * 1
