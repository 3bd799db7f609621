"""conv2d_table with a fused activation: analytic and torch agree, and the activation runs."""

from __future__ import annotations

from pathlib import Path

import torch

from cnncost import api
from cnncost.bridge.check import check
from cnncost.bridge.module import to_module

SPEC = """\
name: t
params: {act: tanh}
input: {channels: 3, height: 6, width: 6}
layers:
  - conv2d_table: {name: c3, out: 2, kernel: 3, table: [[0, 1], [2]], act: "{act}"}
"""


def test_fused_act_on_a_connection_table_conv(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(SPEC)
    report = check(path)
    assert report.ok
    # params: (2 + 1) links * 3*3 + 2 biases = 29; cnncost FLOPs add tanh on 2*4*4 = 32 outputs
    analytic = api.analyze(path)
    assert analytic.totals.params_total == 29
    plain = api.analyze(path, overrides={"act": ""})
    assert analytic.totals.flops - plain.totals.flops == 32
    graph, _ = api.build_graph(path)
    module = to_module(graph).eval()
    with torch.no_grad():
        out = module(torch.randn(1, 3, 6, 6) * 10)
    assert out.abs().max() <= 1.0  # tanh applied inside the module
