"""Hand-built CostReports for the renderer tests: an Inception-style 5×5 branch, two variants.

Per-sample figures are derived by hand below; the builder only multiplies by the batch and sums
blocks and totals, so a renderer bug cannot hide behind a fixture computed by the code under test.

Input (192, 28, 28); HW = 28·28 = 784.
  naive:      mixed.branch_5x5.conv  5×5 conv 192→32, pad 2
  bottleneck: mixed.branch_5x5.reduce 1×1 conv 192→16, then the 5×5 conv 16→32;
              plus a pool-projection branch (block mixed.branch_pool) and no dropout.
"""

from __future__ import annotations

from collections.abc import Callable
from math import prod

import pytest

from cnncost.cost.result import (
    BlockCost,
    ConventionInfo,
    CostReport,
    DocumentedFigure,
    LayerCost,
    Totals,
    UncountedOp,
)
from cnncost.errors import Location

BPE = 4  # float32

# name, op, per-sample out shape, params trainable, params non-trainable, MACs, FLOPs
_STEM = [
    ("input", "input", (192, 28, 28), 0, 0, 0, 0),
]
_NAIVE_5X5 = [
    # 32·192·25 + 32 = 153_632 params; 784·32·192·25 = 120_422_400 MACs;
    # FLOPs 2·MACs + 784·32 bias adds = 240_869_888
    ("mixed.branch_5x5.conv", "conv2d", (32, 28, 28), 153_632, 0, 120_422_400, 240_869_888),
    ("mixed.branch_5x5.relu", "relu", (32, 28, 28), 0, 0, 0, 25_088),  # 32·784
]
_BOTTLENECK_5X5 = [
    # 16·192 + 16 = 3_088; 784·16·192 = 2_408_448; 2·2_408_448 + 12_544 = 4_829_440
    ("mixed.branch_5x5.reduce", "conv2d", (16, 28, 28), 3_088, 0, 2_408_448, 4_829_440),
    # 32·16·25 + 32 = 12_832; 784·32·16·25 = 10_035_200; 2·10_035_200 + 25_088 = 20_095_488
    ("mixed.branch_5x5.conv", "conv2d", (32, 28, 28), 12_832, 0, 10_035_200, 20_095_488),
    ("mixed.branch_5x5.relu", "relu", (32, 28, 28), 0, 0, 0, 25_088),
]
_BRANCH_1X1 = [
    # 64·192 + 64 = 12_352; 784·64·192 = 9_633_792; 2·9_633_792 + 50_176 = 19_317_760
    ("mixed.branch_1x1.conv", "conv2d", (64, 28, 28), 12_352, 0, 9_633_792, 19_317_760),
    # batch norm, C = 64: γ, β trainable; moving mean and variance not; 2·64·784 = 100_352 FLOPs
    ("mixed.branch_1x1.bn", "batch_norm", (64, 28, 28), 128, 128, 0, 100_352),
]
_BRANCH_POOL = [
    # 3×3/1 max pool: 192·784·8 compares = 1_204_224
    ("mixed.branch_pool.pool", "max_pool2d", (192, 28, 28), 0, 0, 0, 1_204_224),
    # 32·192 + 32 = 6_176; 784·32·192 = 4_816_896; 2·4_816_896 + 25_088 = 9_658_880
    ("mixed.branch_pool.proj", "conv2d", (32, 28, 28), 6_176, 0, 4_816_896, 9_658_880),
]


def _head(channels: int, dropout: bool) -> list[tuple]:
    rows = [
        ("mixed.concat", "concat", (channels, 28, 28), 0, 0, 0, 0),
        # global average pool: one add per input element, C·784
        ("pool", "global_avg_pool", (channels,), 0, 0, 0, channels * 784),
    ]
    if dropout:
        rows.append(("dropout", "dropout", (channels,), 0, 0, 0, 0))
    # linear C→10: C·10 + 10 params, C·10 MACs, 2·C·10 + 10 FLOPs
    rows.append(("fc", "linear", (10,), channels * 10 + 10, 0, channels * 10,
                 2 * channels * 10 + 10))
    return rows


def _spec_rows(variant: str) -> list[tuple]:
    if variant == "naive":
        return _STEM + _NAIVE_5X5 + _BRANCH_1X1 + _head(96, dropout=True)
    if variant == "bottleneck":
        return _STEM + _BOTTLENECK_5X5 + _BRANCH_1X1 + _BRANCH_POOL + _head(128, dropout=False)
    raise ValueError(variant)


def _blocks_of(layers: list[LayerCost]) -> tuple[BlockCost, ...]:
    names: list[str] = []
    for layer in layers:
        parts = layer.name.split(".")
        for i in range(1, len(parts)):
            prefix = ".".join(parts[:i])
            if prefix not in names:
                names.append(prefix)
    blocks = []
    for name in names:
        inside = [x for x in layers if x.name.startswith(name + ".")]
        blocks.append(BlockCost(
            name=name, level=name.count(".") + 1, layers=len(inside),
            params_trainable=sum(x.params_trainable for x in inside),
            params_non_trainable=sum(x.params_non_trainable for x in inside),
            macs=sum(x.macs for x in inside), flops=sum(x.flops for x in inside),
            activation_bytes=sum(x.activation_bytes for x in inside)))
    return tuple(blocks)


def build_report(variant: str = "naive", *, batch: int = 1, uncounted: bool = False,
                 documented: tuple[DocumentedFigure, ...] = (),
                 overrides: dict | None = None) -> CostReport:
    layers = []
    previous: tuple[str, ...] = ()
    for line, (name, op, shape, pt, pnt, macs, flops) in enumerate(_spec_rows(variant), start=10):
        act = prod(shape) * batch * BPE
        counted = not (uncounted and op in ("relu", "batch_norm"))
        if not counted:  # the convention leaves them at zero; ``uncounted`` has the full count
            macs = flops = 0
        layers.append(LayerCost(
            name=name, op=op, inputs=previous, out_shape=shape, params_trainable=pt,
            params_non_trainable=pnt, macs=macs * batch, flops=flops * batch,
            counted=counted, activation_bytes=act,
            bytes_read=(pt + pnt) * BPE, bytes_written=act,
            location=Location("inception_5x5_bottleneck.yaml", line, 5)))
        previous = (name,)
    totals = Totals(
        params_trainable=sum(x.params_trainable for x in layers),
        params_non_trainable=sum(x.params_non_trainable for x in layers),
        weight_bytes=sum(x.params_total for x in layers) * BPE,
        macs=sum(x.macs for x in layers), flops=sum(x.flops for x in layers),
        activation_bytes=sum(x.activation_bytes for x in layers),
        peak_activation_bytes=2 * 602_112 * batch,  # hand value: the input plus one copy
        depth=7, weighted_depth=3 if variant == "bottleneck" else 2, layers=len(layers),
        input_shapes=((192, 28, 28),), output_shapes=((10,),))
    if uncounted:
        convention = ConventionInfo(
            "torchvision", "torchvision model-card GFLOPS",
            "Multiply-accumulates of convolution and linear layers only.")
        skipped: tuple[UncountedOp, ...] = (UncountedOp("batch_norm", 1, 0, 100_352 * batch),
                                            UncountedOp("relu", 1, 0, 25_088 * batch))
    else:
        convention = ConventionInfo(
            "cnncost", "cnncost complete count",
            "Every multiply-accumulate; FLOPs = 2·MACs + every other elementary operation.")
        skipped = ()
    return CostReport(
        model="inception_5x5", title="Inception 5×5 branch", variant=variant,
        overrides=overrides or {}, convention=convention, batch=batch, dtype="float32",
        bytes_per_element=BPE, layers=tuple(layers), blocks=_blocks_of(layers), totals=totals,
        uncounted=skipped, documented=documented, spec_file="inception_5x5_bottleneck.yaml",
        params={"classes": 10})


@pytest.fixture
def make_report() -> Callable[..., CostReport]:
    return build_report


@pytest.fixture
def naive() -> CostReport:
    return build_report("naive")


@pytest.fixture
def bottleneck() -> CostReport:
    return build_report("bottleneck")
