"""NASNet-A (specs/nasnet.yaml) against Keras' and timm's models and the Keras source's arithmetic.

References, built with random weights (never downloaded), once per module:
- Keras NASNetLarge: ``keras.applications.NASNetLarge(weights=None)``.
- Keras NASNetMobile: ``keras.applications.NASNetMobile`` refuses the torch backend outright
  (``ValueError: NASNetMobile is not available with the torch backend at this time due to an
  outstanding bug. If interested, please open a PR.``), before building anything. The function
  it guards, ``keras.src.applications.nasnet.NASNet``, builds and runs the same network on the
  torch backend without error when called with NASNetMobile's own arguments (penultimate_filters
  1056, num_blocks 4, stem_block_filters 32, skip_reduction False, default_size 224), and its
  count_params() is the Keras table's 5,326,716; that call is the mobile reference here.
- timm ``nasnetalarge`` (Cadene's port of TF-slim), built on the meta device so that its
  FlopCounterMode pass takes a second: its parameters are Keras' trainable weights and its BN
  running statistics Keras' moving mean / variance, so the two implementations agree exactly.

For every variant: Keras count_params / trainable weights, the Keras model's own topological
depth and layer count (one spec node per Keras layer), per-layer parameters joined by name, weight
shapes, and conv + dense MACs computed from the Keras layers' own output and kernel shapes
(the Keras mobile model run under FlopCounterMode gives the same 563,638,816, but a CPU forward
pass takes half a minute). A last test re-derives every cell's parameters from the arithmetic of
keras/src/applications/nasnet.py by hand, without any model.
"""

from __future__ import annotations

import math
from collections import Counter
from functools import cache
from pathlib import Path

import pytest

from cnncost import api

from .reference import (
    keras_depth,
    keras_param_shapes,
    spec_param_shapes,
    torch_conv_linear_macs,
    torch_param_counts,
    torch_param_shapes,
)

NASNET = Path(__file__).resolve().parents[2] / "specs" / "nasnet.yaml"
VARIANTS = ("mobile", "large")

#: NASNet()'s arguments for each Keras application (keras/src/applications/nasnet.py:
#: NASNetMobile and NASNetLarge); filter_multiplier is 2 for both.
KERAS_ARGS = {
    "mobile": {"penultimate_filters": 1056, "num_blocks": 4, "stem_block_filters": 32,
               "skip_reduction": False, "default_size": 224},
    "large": {"penultimate_filters": 4032, "num_blocks": 6, "stem_block_filters": 96,
              "skip_reduction": True, "default_size": 331},
}


# -- what the spec says ----------------------------------------------------------------------

@cache
def analyze(variant: str, convention: str = "cnncost"):
    return api.analyze(NASNET, variant=variant, convention=convention)


def keras_name(spec_name: str) -> str:
    """The Keras layer name of a spec node: the Keras name is `<local name>_<block_id>`.

    normal_0.normal_conv_1 -> normal_conv_1_0; stem_2.adjust.conv_1 -> adjust_conv_1_stem_2;
    reduce_4.reduction_left1.separable_conv_1_bn -> separable_conv_1_bn_reduction_left1_reduce_4.
    """
    parts = spec_name.split(".")
    if len(parts) == 1:
        return spec_name  # stem_conv1, stem_bn1, predictions
    cell, rest = parts[0], parts[1:]
    block_id = cell.removeprefix("normal_")
    if len(rest) == 1:
        return f"{rest[0]}_{block_id}"
    scope, layer = rest
    if scope == "adjust":
        return f"adjust_{layer}_{block_id}"
    # Keras calls the block-5 separable block of a reduction cell "reduction_left4" (the name of
    # block 4's average pool too); the spec calls it reduction_left5
    scope = scope.replace("reduction_left5", "reduction_left4")
    return f"{layer}_{scope}_{block_id}"


# -- reference models (built once per module) ------------------------------------------------

@cache
def keras_model(variant: str):
    import keras

    if variant == "large":
        return keras.applications.NASNetLarge(weights=None)
    from keras.src.applications import nasnet  # NASNetMobile() refuses the torch backend

    return nasnet.NASNet(input_shape=(224, 224, 3), filter_multiplier=2, weights=None,
                         name="nasnet_mobile", **KERAS_ARGS["mobile"])


@cache
def timm_large_meta():
    import timm
    import torch

    with torch.device("meta"):
        return timm.create_model("nasnetalarge", pretrained=False)


def keras_conv_dense_macs(model) -> int:
    """Conv2D / SeparableConv2D / Dense MACs from the Keras layers' own shapes: output
    positions x kernel size (a separable conv: its depthwise and pointwise kernels, both at the
    output resolution, the stride being the depthwise conv's)."""
    total = 0
    for layer in model.layers:
        kind = type(layer).__name__
        if kind == "SeparableConv2D":
            kernels = [layer.depthwise_kernel, layer.pointwise_kernel]
        elif kind in ("Conv2D", "Dense"):
            kernels = [layer.kernel]
        else:
            assert not layer.weights or kind == "BatchNormalization", layer.name
            continue
        positions = math.prod(layer.output.shape[1:-1])  # 1 for a Dense layer
        total += positions * sum(math.prod(k.shape) for k in kernels)
    return total


# -- Keras ------------------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("variant", VARIANTS)
def test_keras_params_and_depth(variant: str) -> None:
    model, t = keras_model(variant), analyze(variant).totals
    trainable = sum(math.prod(w.shape) for w in model.trainable_weights)
    assert model.count_params() == t.params_total
    assert trainable == t.params_trainable
    assert model.count_params() - trainable == t.params_non_trainable
    assert keras_depth(model) == t.depth          # 214 (mobile), 280 (large)
    assert len(model.layers) == t.layers          # 771, 1041: the input layer included


@pytest.mark.slow
@pytest.mark.parametrize("variant", VARIANTS)
def test_keras_layers_by_name(variant: str) -> None:
    """Every spec layer with weights is the Keras layer of the same name, with as many weights."""
    model = keras_model(variant)
    expected = {layer.name: layer.count_params() for layer in model.layers if layer.weights}
    spec = {keras_name(l.name): l.params_total for l in analyze(variant).layers if l.params_total}
    assert spec == expected


@pytest.mark.slow
@pytest.mark.parametrize("variant", VARIANTS)
def test_keras_weight_shapes(variant: str) -> None:
    assert keras_param_shapes(keras_model(variant)) == spec_param_shapes(NASNET, variant, "keras")


@pytest.mark.slow
@pytest.mark.parametrize("variant", VARIANTS)
def test_keras_conv_dense_macs(variant: str) -> None:
    # mobile 563,638,816 (the paper's 564M); large 23,783,414,658 (the paper's 23.8B)
    assert keras_conv_dense_macs(keras_model(variant)) == \
        analyze(variant, "torchvision").totals.macs


# -- timm ---------------------------------------------------------------------------------------

@pytest.mark.slow
def test_timm_nasnetalarge() -> None:
    model, t = timm_large_meta(), analyze("large").totals
    params, stats = torch_param_counts(model)
    assert (params, stats) == (t.params_trainable, t.params_non_trainable)
    assert params + stats == 88949818  # the Keras table's NASNetLarge Parameters (seed 003)
    assert torch_param_shapes(model) == spec_param_shapes(NASNET, "large", "torch")
    import torch

    with torch.device("meta"):  # FlopCounterMode needs shapes only
        macs = torch_conv_linear_macs(model, (3, 331, 331))
    assert macs == analyze("large", "torchvision").totals.macs


# -- the Keras source's arithmetic, by hand -----------------------------------------------------

def keras_cell_params(variant: str) -> tuple[dict[str, int], int]:
    """Parameters (trainable + BN moving statistics) of every cell, and of the whole model, by
    the arithmetic of keras/src/applications/nasnet.py, following NASNet()'s loop.

    Every conv is bias-free; a BatchNormalization holds 4 weights per channel (gamma, beta,
    moving mean, moving variance). A feature map is tracked as (channels, side).
    """
    a = KERAS_ARGS[variant]
    pen, n, stem, skip, size = (a["penultimate_filters"], a["num_blocks"],
                                a["stem_block_filters"], a["skip_reduction"], a["default_size"])
    mult, filters = 2, a["penultimate_filters"] // 24

    def sep(c: int, f: int, k: int) -> int:
        # _separable_conv_block: SeparableConv2D(f, k) on c channels (depthwise c*k*k, pointwise
        # c*f), BN(f), then SeparableConv2D(f, k) on f channels, BN(f)
        return (c * k * k + c * f + 4 * f) + (f * k * k + f * f + 4 * f)

    def adjust(p, ip, f: int) -> tuple[int, int]:
        # _adjust_block -> (parameters, channels of the adjusted p)
        if p is None:                  # p = ip
            return 0, ip[0]
        if p[1] != ip[1]:              # two 1x1 convs to f // 2 from p, concatenated, BN
            return 2 * p[0] * (f // 2) + 4 * 2 * (f // 2), 2 * (f // 2)
        if p[0] != f:                  # 1x1 conv to f, BN
            return p[0] * f + 4 * f, f
        return 0, p[0]

    def normal(ip, p, f: int):
        cost, cp = adjust(p, ip, f)
        cost += ip[0] * f + 4 * f                            # h: 1x1 conv, BN
        cost += sep(f, f, 5) + sep(f, f, 3) + sep(f, f, 3)   # left1 (h), left5 (h), right2 (p)
        cost += sep(cp, f, 3) + sep(cp, f, 5)                # right1, left2 (p)
        return cost, (6 * f, ip[1])                          # concat [p, x1 .. x5]

    def reduction(ip, p, f: int):
        cost, cp = adjust(p, ip, f)
        cost += ip[0] * f + 4 * f                            # h
        cost += sep(f, f, 5)                                 # left1 (h), stride 2
        cost += 2 * sep(cp, f, 7) + sep(cp, f, 5)            # right1, right2, right3 (p)
        cost += sep(f, f, 3)                                 # left4 / block 5 (x1)
        return cost, (4 * f, math.ceil(ip[1] / 2))           # concat [x2, x3, x4, x5]

    cells: dict[str, int] = {}
    x = (stem, (size - 3) // 2 + 1)                          # stem_conv1: 3x3/2 valid
    total = 3 * 3 * 3 * stem + 4 * stem                      # stem_conv1, stem_bn1
    p = None
    for block_id, f in (("stem_1", filters // mult**2), ("stem_2", filters // mult)):
        cells[block_id], out = reduction(x, p, f)
        x, p = out, x
    for stage in range(3):
        f = filters * mult**stage
        if stage:
            block_id = f"reduce_{n * stage}"
            cells[block_id], out = reduction(x, p, f)
            x, p = out, (x if not skip else p)               # p0 if not skip_reduction else p
        for i in range(n):
            block_id = f"normal_{n * stage + min(stage, 1) + i}"  # 0.., N+1.., 2N+1..
            cells[block_id], out = normal(x, p, f)
            x, p = out, x
    total += sum(cells.values()) + pen * 1000 + 1000          # predictions: Dense(1000)
    return cells, total


@pytest.mark.parametrize("variant", VARIANTS)
def test_cells_against_keras_arithmetic(variant: str) -> None:
    cells, total = keras_cell_params(variant)
    spec_cells: Counter = Counter()
    for layer in analyze(variant).layers:
        if "." in layer.name:
            spec_cells[layer.name.split(".")[0]] += layer.params_total
    assert dict(spec_cells) == cells
    # the Keras table's Parameters (seed 003): NASNetMobile 5,326,716, NASNetLarge 88,949,818
    assert total == {"mobile": 5326716, "large": 88949818}[variant]
    assert analyze(variant).totals.params_total == total
