"""Invariants of every report: leaf rows sum to totals, block rows sum their leaves."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest

from cnncost import api

SPECS = Path(__file__).resolve().parents[2] / "specs"


def spec_variants() -> list:
    out = []
    for path in sorted(p for p in SPECS.rglob("*.yaml") if "blocks" not in p.parts):
        for variant in api.variants(path) or (None,):
            out.append(pytest.param(path, variant, id=f"{path.stem}@{variant}"))
    return out


@pytest.mark.parametrize(("path", "variant"), spec_variants())
def test_rows_sum_to_totals_and_blocks(path: Path, variant: str | None) -> None:
    for convention in ("cnncost", "torchvision"):
        r = api.analyze(path, variant=variant, convention=convention, batch=2)
        t = r.totals
        assert sum(x.params_trainable for x in r.layers) == t.params_trainable
        assert sum(x.params_non_trainable for x in r.layers) == t.params_non_trainable
        assert sum(x.macs for x in r.layers) == t.macs
        assert sum(x.flops for x in r.layers) == t.flops
        assert sum(x.activation_bytes for x in r.layers) == t.activation_bytes
        assert t.weight_bytes == t.params_total * r.bytes_per_element
        assert t.peak_activation_bytes <= t.activation_bytes
        assert max(x.activation_bytes for x in r.layers) <= t.peak_activation_bytes
        assert t.weighted_depth <= t.depth <= t.layers
        sums: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
        for row in r.layers:
            parts = row.name.split(".")
            for level in range(1, len(parts)):
                acc = sums[".".join(parts[:level])]
                acc[0] += row.params_total
                acc[1] += row.macs
                acc[2] += row.flops
                acc[3] += row.activation_bytes
        assert {b.name for b in r.blocks} == set(sums)
        for block in r.blocks:
            assert [block.params_total, block.macs, block.flops,
                    block.activation_bytes] == sums[block.name]
            children = [b for b in r.blocks if b.name.rpartition(".")[0] == block.name]
            leaves = [x for x in r.layers if x.scope == block.name]
            assert block.macs == sum(c.macs for c in children) + sum(x.macs for x in leaves)


def test_batch_scales_work_not_weights() -> None:
    one = api.analyze("specs/resnet.yaml", variant="resnet18")
    eight = api.analyze("specs/resnet.yaml", variant="resnet18", batch=8, dtype="bfloat16")
    assert eight.totals.macs == 8 * one.totals.macs
    assert eight.totals.flops == 8 * one.totals.flops
    assert eight.totals.params_total == one.totals.params_total
    # bfloat16 halves every byte figure, batch 8 multiplies activations
    assert eight.totals.weight_bytes * 2 == one.totals.weight_bytes
    assert eight.totals.activation_bytes == 4 * one.totals.activation_bytes
    assert eight.totals.peak_activation_bytes == 4 * one.totals.peak_activation_bytes
