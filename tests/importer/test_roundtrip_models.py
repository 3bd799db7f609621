"""The round trip on a representative subset of the catalogue (the whole catalogue is
``python -m cnncost.importer.catalogue``, whose report tests/importer/test_catalogue_report.py
keeps current): import -> validate -> check -> against the original model.

Chosen to be fast and to cover the importer's paths: residual blocks (ResNet-18), inverted
residuals with optional residual adds (MobileNetV2), squeeze-excitation and stochastic depth
(EfficientNet-B0), parallel branches and functional pools (GoogLeNet), concatenations
(SqueezeNet), grouped convolutions (RegNet), timm's BatchNormAct2d and Conv2dSame
(tf_efficientnet_b0), a model torch.fx cannot trace (timm's VGG-11, traced with hooks), and a
segmentation model (LR-ASPP: a dictionary of outputs, bilinear upsampling to the input's size,
hard-sigmoid gates); ConvNeXt's blocks (permutes, channels-last layer norm and linears, a layer
scale) in a small model of its own below.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cnncost import api
from cnncost.bridge.check import check
from cnncost.importer.roundtrip import against

from .conftest import imported

SUBSET = [
    ("torchvision:resnet18", {}, None),
    ("torchvision:mobilenet_v2", {}, None),
    ("torchvision:efficientnet_b0", {}, None),
    ("torchvision:googlenet", {"aux_logits": False, "init_weights": False}, None),
    ("torchvision:squeezenet1_1", {}, None),
    ("torchvision:regnet_x_400mf", {}, None),
    ("timm:tf_efficientnet_b0", {}, (3, 160, 160)),
    ("timm:vgg11", {}, (3, 64, 64)),
    ("torchvision:lraspp_mobilenet_v3_large", {}, (3, 96, 96)),
]


@pytest.mark.slow
@pytest.mark.parametrize("ref, args, shape", SUBSET, ids=[s[0] for s in SUBSET])
def test_round_trip(ref: str, args: dict, shape: tuple[int, ...] | None, tmp_path: Path) -> None:
    path, result = imported(ref, tmp_path, args=args, input_shape=shape)
    assert result.tracer == ("hooks" if ref == "timm:vgg11" else "torch.fx")
    assert api.validate(path) == ()
    report = check(path, memory=ref == "torchvision:resnet18")
    assert report.ok, [lc.name for lc in report.layers if not lc.ok]
    trip = against(path, result.model.model, result.input_shape)
    assert trip.ok, (trip.differing, trip.layers[:5], trip.unowned)
    assert trip.layers_compared > 10


def test_round_trip_owns_a_blocks_own_parameter(tmp_path: Path) -> None:
    """ConvNeXt's layer scale is a parameter of the block module itself
    (``blocks.0.layer_scale``): the layer named after it owns it, module by module."""
    path, result = imported("tests/importer/models.py:tiny_convnext", tmp_path,
                            input_shape=(3, 32, 32))
    assert "layer_scale: {name: layer_scale}" in result.text
    assert api.validate(path) == ()
    trip = against(path, result.model.model, result.input_shape)
    assert trip.ok, (trip.differing, trip.layers[:5], trip.unowned)
