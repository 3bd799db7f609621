"""Bytes a layer reads and writes: a wrong formula changes these hand-derived figures."""

from __future__ import annotations

from pathlib import Path

import pytest

from cnncost import api

EXAMPLE = Path(__file__).resolve().parents[2] / "specs/examples/inception_5x5_bottleneck.yaml"


@pytest.mark.parametrize(("variant", "name", "read", "written"), [
    # naive: the 5x5 conv reads 192x28x28 (batch 2, float16: 192*28*28*2*2 = 602,112 B) and
    # its 5*5*192*32 = 153,600 weights (no bias; *2 B = 307,200 B): 909,312 B; it writes
    # 32x28x28 (*2*2 = 100,352 B)
    ("naive", "conv_5x5", 909_312, 100_352),
    # bottleneck: the 1x1 reads 602,112 B and 192*16 = 3,072 weights (6,144 B): 608,256 B,
    # writes 16x28x28 (*2*2 = 50,176 B); the 5x5 reads those 50,176 B and 5*5*16*32 = 12,800
    # weights (25,600 B): 75,776 B, and writes 100,352 B
    ("bottleneck", "reduce_1x1", 608_256, 50_176),
    ("bottleneck", "conv_5x5", 75_776, 100_352),
])
def test_bytes_read_and_written(variant: str, name: str, read: int, written: int) -> None:
    row = api.analyze(EXAMPLE, variant=variant, batch=2, dtype="float16").layer(name)
    assert (row.bytes_read, row.bytes_written) == (read, written)
    assert row.activation_bytes == written
