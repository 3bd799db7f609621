"""MobileNet v1, MobileNetV2 and EfficientNet-B0..B7 specs against reference models.

Reference models are built with random weights (never downloaded), once per module:
- keras.applications MobileNet, MobileNetV2 and EfficientNetB0..B7: count_params, trainable
  weights, the multiset of weight shapes, the model's own topological depth, and layer by layer
  (spec node names are Keras' layer names with the block id moved into a scope) the layer names,
  per-layer parameters and output shapes;
- torchvision mobilenet_v2 and efficientnet_b0..b7: parameters, batch-norm statistics, the
  multiset of parameter shapes and FlopCounterMode conv + linear MACs at the crop of the
  weights' transforms, also compared with the weights' meta (num_params, _ops).
Every expected number comes from the reference model built here or from the reference library's
own metadata.
"""

from __future__ import annotations

import math
import re
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from unittest import mock

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

SPECS = Path(__file__).resolve().parents[2] / "specs"
MOBILENET_V1 = SPECS / "mobilenet_v1.yaml"
MOBILENET_V2 = SPECS / "mobilenet_v2.yaml"
EFFICIENTNET = SPECS / "efficientnet.yaml"

pytestmark = pytest.mark.slow


# -- what the spec says ----------------------------------------------------------------------

def _key(overrides: dict) -> tuple:
    return tuple(sorted(overrides.items()))


@cache
def _analyze(spec: Path, variant: str, overrides: tuple, convention: str):
    return api.analyze(spec, variant=variant, overrides=dict(overrides), convention=convention)


def analyze(spec: Path, variant: str, overrides: dict | None = None,
            convention: str = "cnncost"):
    return _analyze(spec, variant, _key(overrides or {}), convention)


# -- reference models (built once per module) ------------------------------------------------

@contextmanager
def _cheap_truncated_normal():
    """Keras' torch backend draws a truncated normal by sampling 4 candidates per weight and
    gathering a valid one: most of an EfficientNet's build time (B7: ~40 of ~50 s on 2 CPUs).
    The weights' values play no part in these tests, so a clipped normal of the same shape and
    dtype stands in while a reference model is built."""
    from keras.src.backend import random as backend_random

    if not hasattr(backend_random, "truncated_normal"):  # another Keras: build it as it is
        yield
        return
    import torch
    from keras.src.backend.torch.core import get_device, to_torch_dtype

    def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
        x = torch.empty(tuple(shape), dtype=to_torch_dtype(dtype), device=get_device())
        return x.normal_(mean, stddev).clamp_(mean - 2 * stddev, mean + 2 * stddev)

    with mock.patch.object(backend_random, "truncated_normal", truncated_normal):
        yield


@cache
def keras_model(name: str, alpha: float | None = None, size: int | None = None):
    import keras

    keras.backend.clear_session()   # layer auto-names (rescaling, normalization, ...) restart
    kwargs = {"weights": None}
    if alpha is not None:
        kwargs["alpha"] = alpha
    if size is not None:
        kwargs["input_shape"] = (size, size, 3)
    with _cheap_truncated_normal():
        return getattr(keras.applications, name)(**kwargs)


@cache
def torchvision_model(name: str, width_mult: float | None = None):
    """Built on the meta device: parameters have shapes but no storage, and FlopCounterMode
    counts a forward pass without computing it (EfficientNet-B7 at 600: 38 G MACs)."""
    import torch
    import torchvision

    kwargs = {} if width_mult is None else {"width_mult": width_mult}
    with torch.device("meta"):
        return getattr(torchvision.models, name)(weights=None, **kwargs)


@cache
def torchvision_macs(name: str, width_mult: float | None, size: int) -> int:
    import torch

    with torch.device("meta"):   # the helper's torch.zeros input lands on the meta device too
        return torch_conv_linear_macs(torchvision_model(name, width_mult), (3, size, size))


def torchvision_weights(name: str):
    """The DEFAULT weights enum entry of a torchvision model (metadata only, nothing downloaded)."""
    import torchvision

    return torchvision.models.get_model_weights(name).DEFAULT


# -- Keras -----------------------------------------------------------------------------------

def v1_name(node: str) -> str:      # block_3.conv_dw_bn -> conv_dw_3_bn
    return re.sub(r"^block_(\d+)\.conv_(pad|dw|pw)", r"conv_\2_\1", node)


def v2_name(node: str) -> str:      # block_3.expand_BN -> block_3_expand_BN
    return node.replace(".", "_")


def efficientnet_name(node: str) -> str:   # block2.b.se_reduce -> block2b_se_reduce
    return re.sub(r"^block(\d+)\.([a-z])\.", r"block\1\2_", node)


# (spec, variant, overrides, Keras application, alpha, input size, spec name -> Keras name)
KERAS_CASES = [
    pytest.param(MOBILENET_V1, "mobilenet_1.0_224", {}, "MobileNet", None, None, v1_name,
                 id="mobilenet_1.0_224"),
    pytest.param(MOBILENET_V1, "mobilenet_0.75_192", {}, "MobileNet", 0.75, 192, v1_name,
                 id="mobilenet_0.75_192"),
    pytest.param(MOBILENET_V1, "mobilenet_0.25_128", {}, "MobileNet", 0.25, 128, v1_name,
                 id="mobilenet_0.25_128"),
    pytest.param(MOBILENET_V2, "mobilenet_v2_1.0_224", {}, "MobileNetV2", None, None, v2_name,
                 id="mobilenet_v2_1.0_224"),
    pytest.param(MOBILENET_V2, "mobilenet_v2_0.35_224", {}, "MobileNetV2", 0.35, None, v2_name,
                 id="mobilenet_v2_0.35_224"),
    pytest.param(MOBILENET_V2, "mobilenet_v2_1.4_224", {}, "MobileNetV2", 1.4, None, v2_name,
                 id="mobilenet_v2_1.4_224"),
    # an odd input size takes correct_pad's other branch ((1, 1) instead of (0, 1))
    pytest.param(MOBILENET_V2, "mobilenet_v2_1.0_224", {"resolution": 225}, "MobileNetV2", None,
                 225, v2_name, id="mobilenet_v2_1.0_225"),
    # weights=None: Keras leaves out the ImageNet-std Rescaling it adds for weights="imagenet"
    *[pytest.param(EFFICIENTNET, f"b{n}", {"imagenet_weights": False}, f"EfficientNetB{n}", None,
                   None, efficientnet_name, id=f"efficientnet_b{n}") for n in range(8)],
]


@pytest.mark.parametrize(("spec", "variant", "overrides", "app", "alpha", "size", "rename"),
                         KERAS_CASES)
def test_keras_counts_and_depth(spec, variant, overrides, app, alpha, size, rename) -> None:
    model = keras_model(app, alpha, size)
    totals = analyze(spec, variant, overrides).totals
    trainable = sum(math.prod(w.shape) for w in model.trainable_weights)
    assert totals.params_total == model.count_params()
    assert totals.params_trainable == trainable
    assert totals.params_non_trainable == model.count_params() - trainable
    assert totals.depth == keras_depth(model)
    assert spec_param_shapes(spec, variant, "keras", overrides) == \
        keras_param_shapes(model)


@pytest.mark.parametrize(("spec", "variant", "overrides", "app", "alpha", "size", "rename"),
                         KERAS_CASES)
def test_keras_layer_by_layer(spec, variant, overrides, app, alpha, size, rename) -> None:
    """Same layers (by name), each with Keras' parameter count and output shape."""
    model = keras_model(app, alpha, size)
    rows = {("input" if l.op == "input" else rename(l.name)): l
            for l in analyze(spec, variant, overrides).layers}
    layers = {("input" if type(k).__name__ == "InputLayer" else k.name): k for k in model.layers}
    assert sorted(rows) == sorted(layers)
    for name, layer in layers.items():
        shape = tuple(layer.output.shape[1:])
        channels_first = (shape[-1], *shape[:-1])
        assert rows[name].out_shape == channels_first, name
        assert rows[name].params_total == layer.count_params(), name


# -- torchvision -----------------------------------------------------------------------------

# (spec, variant, overrides, torchvision builder, width_mult)
TORCHVISION_CASES = [
    pytest.param(MOBILENET_V2, "torchvision", {}, "mobilenet_v2", None, id="mobilenet_v2"),
    pytest.param(MOBILENET_V2, "torchvision", {"alpha": 0.35}, "mobilenet_v2", 0.35,
                 id="mobilenet_v2_0.35"),
    pytest.param(MOBILENET_V2, "torchvision", {"alpha": 1.4}, "mobilenet_v2", 1.4,
                 id="mobilenet_v2_1.4"),
    *[pytest.param(EFFICIENTNET, f"torchvision_b{n}", {}, f"efficientnet_b{n}", None,
                   id=f"efficientnet_b{n}") for n in range(8)],
]


@pytest.mark.parametrize(("spec", "variant", "overrides", "builder", "width_mult"),
                         TORCHVISION_CASES)
def test_torchvision_params(spec, variant, overrides, builder, width_mult) -> None:
    model = torchvision_model(builder, width_mult)
    params, bn_stats = torch_param_counts(model)
    totals = analyze(spec, variant, overrides).totals
    assert totals.params_trainable == params
    assert totals.params_non_trainable == bn_stats
    assert spec_param_shapes(spec, variant, "torch", overrides) == torch_param_shapes(model)


@pytest.mark.parametrize(("spec", "variant", "overrides", "builder", "width_mult"),
                         TORCHVISION_CASES)
def test_torchvision_macs(spec, variant, overrides, builder, width_mult) -> None:
    """conv + linear MACs at the crop of the weights' own transforms (EfficientNet-B2: 288)."""
    crop, = torchvision_weights(builder).transforms().crop_size
    resolution = api.build_graph(spec, variant=variant, overrides=overrides)[1].params["resolution"]
    assert resolution == crop
    macs = analyze(spec, variant, overrides, convention="torchvision").totals.macs
    assert macs == torchvision_macs(builder, width_mult, crop)


@pytest.mark.parametrize(("spec", "variant", "builder"), [
    (MOBILENET_V2, "torchvision", "mobilenet_v2"),
    *[(EFFICIENTNET, f"torchvision_b{n}", f"efficientnet_b{n}") for n in range(8)],
])
def test_torchvision_meta(spec, variant, builder) -> None:
    """The weights' metadata: num_params and _ops (GMACs of conv + linear, 3 decimals)."""
    meta = torchvision_weights(builder).meta
    assert analyze(spec, variant).totals.params_trainable == meta["num_params"]
    macs = analyze(spec, variant, convention="torchvision").totals.macs
    assert round(macs / 1e9, 3) == meta["_ops"]


# -- the two flavors -------------------------------------------------------------------------

@pytest.mark.parametrize(("spec", "keras", "torchvision"), [
    (MOBILENET_V2, "mobilenet_v2_1.0_224", "torchvision"),
    *[(EFFICIENTNET, f"b{n}", f"torchvision_b{n}") for n in range(8)],
])
def test_flavors_share_the_weights(spec, keras, torchvision) -> None:
    """Keras and torchvision build the same trainable weights (they differ in padding layers,
    preprocessing, the head and, for B2, the evaluation size); Keras' count_params adds the
    batch-norm statistics and, for EfficientNet, the Normalization layer's 7 weights."""
    k, t = analyze(spec, keras).totals, analyze(spec, torchvision).totals
    assert k.params_trainable == t.params_trainable
    extra = 7 if spec == EFFICIENTNET else 0
    assert k.params_non_trainable == t.params_non_trainable + extra


@pytest.mark.parametrize(("spec", "variant", "builder", "size"), [
    (MOBILENET_V2, "torchvision", "mobilenet_v2", 224),
    (EFFICIENTNET, "torchvision_b0", "efficientnet_b0", 224),
])
def test_fvcore_total(spec, variant, builder, size) -> None:
    """fvcore's FlopCountAnalysis total (conv, linear, batch-norm, adaptive pooling) of the real
    torchvision model (on the CPU: fvcore traces it) == the spec under the fvcore convention."""
    import torch
    import torchvision
    from fvcore.nn import FlopCountAnalysis

    model = getattr(torchvision.models, builder)(weights=None).eval()
    with torch.no_grad():
        counter = FlopCountAnalysis(model, torch.zeros(1, 3, size, size))
        counter.unsupported_ops_warnings(False)
        counter.uncalled_modules_warnings(False)
        total = counter.total()
    assert analyze(spec, variant, convention="fvcore").totals.macs == total
