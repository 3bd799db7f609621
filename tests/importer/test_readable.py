"""The imported ResNet-50 and MobileNetV2 read like the zoo's hand-written specs and count what
they count: a bounded length (blocks and repeats, not a flat dump), lines within 100 columns,
and a report equal to the zoo spec's for the same flavor, number for number: the totals under
every convention, every layer's figures (as a multiset: the zoo names MobileNetV2's layers as
Keras does), and the eager memory model's peaks."""

from __future__ import annotations

import dataclasses
from collections import Counter
from pathlib import Path

import pytest
import yaml

from cnncost import api
from cnncost.memory.models import MemoryConfig

from .conftest import ROOT, imported

CASES = [
    # model, zoo spec and variant, the most lines, the blocks it must have
    ("torchvision:resnet50", "resnet.yaml", "resnet50", 60, {"bottleneck"}),
    ("torchvision:mobilenet_v2", "mobilenet_v2.yaml", "torchvision", 60,
     {"conv2d_norm_activation", "inverted_residual"}),
]


def _rows(report: api.CostReport) -> Counter:
    return Counter((r.out_shape, r.params_trainable, r.params_non_trainable, r.macs, r.flops,
                    r.activation_bytes, r.bytes_read, r.bytes_written) for r in report.layers)


@pytest.mark.parametrize("ref, zoo, variant, most, blocks", CASES, ids=[c[0] for c in CASES])
def test_imported_spec_is_readable_and_counts_what_the_zoo_counts(
        ref: str, zoo: str, variant: str, most: int, blocks: set[str], tmp_path: Path) -> None:
    path, result = imported(ref, tmp_path)
    lines = result.text.splitlines()
    assert len(lines) <= most, result.text
    assert max(len(line) for line in lines) <= 100
    spec = yaml.safe_load(result.text)
    assert set(spec["blocks"]) == blocks
    assert any("repeat" in item for item in spec["layers"])
    assert spec["params"] == {"resolution": 224, "num_classes": 1000}
    assert api.validate(path) == ()
    zoo_path = ROOT / "specs" / zoo
    for convention in ("cnncost", "torchvision", "fvcore"):
        mine = api.analyze(path, convention=convention)
        theirs = api.analyze(zoo_path, variant=variant, convention=convention)
        assert dataclasses.asdict(mine.totals) == dataclasses.asdict(theirs.totals), convention
        assert _rows(mine) == _rows(theirs), convention
    for config in (MemoryConfig(), MemoryConfig(mode="training", batch=8, optimizer="adam")):
        mine_memory = api.memory(path, config)
        theirs_memory = api.memory(zoo_path, config, variant=variant)
        assert (mine_memory.peak_bytes, mine_memory.saved_bytes, mine_memory.weights_bytes) == (
            theirs_memory.peak_bytes, theirs_memory.saved_bytes, theirs_memory.weights_bytes)
