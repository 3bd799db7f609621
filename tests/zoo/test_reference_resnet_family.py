"""ResNet V2, DenseNet and SE-ResNet specs against reference models and the SENet paper.

Reference models are built with random weights (never downloaded), once per module:
keras.applications ResNet50V2/101V2/152V2 and DenseNet121/169/201 (count_params, trainable
weights, weight shapes, per-layer parameters and the model's own topological depth),
torchvision densenet121/169/201 and timm seresnet50/101/152 (parameters, BN statistics, per-module
parameters, parameter shapes, FlopCounterMode conv+linear MACs and per-module output shapes).
Every expected number either comes from the reference model built here or cites its source.
"""

from __future__ import annotations

import re
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

SPECS = Path(__file__).resolve().parents[2] / "specs"
RESNET, RESNET_V2 = SPECS / "resnet.yaml", SPECS / "resnet_v2.yaml"
DENSENET, SE_RESNET = SPECS / "densenet.yaml", SPECS / "se_resnet.yaml"


# -- what the spec says ----------------------------------------------------------------------

@cache
def analyze(spec: Path, variant: str, convention: str = "cnncost"):
    return api.analyze(spec, variant=variant, convention=convention)


def spec_params_by_name(spec: Path, variant: str, total: bool = False) -> dict[str, int]:
    layers = analyze(spec, variant).layers
    return {l.name: (l.params_total if total else l.params_trainable)
            for l in layers if l.params_total}


# -- reference models (built once per module) ------------------------------------------------

@cache
def keras_model(name: str):
    import keras

    return getattr(keras.applications, name)(weights=None)


@cache
def torchvision_model(name: str):
    import torchvision

    return getattr(torchvision.models, name)(weights=None)


@cache
def timm_model(name: str):
    import timm

    return timm.create_model(name, pretrained=False)


def keras_params_by_layer(model) -> dict[str, int]:
    return {layer.name: layer.count_params() for layer in model.layers if layer.count_params()}


def torch_params_by_module(model) -> dict[str, int]:
    out = {}
    for name, m in model.named_modules():
        own = sum(p.numel() for p in m.parameters(recurse=False))
        if own:
            out[name] = own
    return out


def torch_forward(model, shape: tuple[int, ...], names) -> tuple[int, dict[str, tuple]]:
    """(conv+linear MACs, {module name: per-sample output shape}) of one eval forward pass."""
    modules = dict(model.named_modules())
    shapes: dict[str, tuple] = {}
    hooks = [modules[n].register_forward_hook(
        lambda _m, _i, out, n=n: shapes.__setitem__(n, tuple(out.shape[1:])))
        for n in names if n in modules]
    try:
        macs = torch_conv_linear_macs(model, shape)
    finally:
        for h in hooks:
            h.remove()
    return macs, shapes


def assert_keras_matches(model, spec: Path, variant: str, keras_name) -> None:
    """count_params, trainable weights, weight shapes, per-layer params, depth, output shape.

    ``keras_name`` maps a spec node name to the Keras layer name.
    """
    import numpy as np

    r = analyze(spec, variant)
    assert model.count_params() == r.totals.params_total
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert trainable == r.totals.params_trainable
    assert keras_param_shapes(model) == spec_param_shapes(spec, variant, "keras")
    ours = {keras_name(n): p for n, p in spec_params_by_name(spec, variant, total=True).items()}
    assert ours == keras_params_by_layer(model)
    assert keras_depth(model) == r.totals.depth
    assert tuple(model.output.shape[1:]) == tuple(r.totals.output_shapes[0])


def assert_torch_matches(model, spec: Path, variant: str) -> None:
    """Params and BN statistics, per-module params, shape multiset, MACs, output shapes.

    The spec's node names are the reference's module names, so these are dictionary joins.
    """
    r = analyze(spec, variant, "torchvision")
    params, stats = torch_param_counts(model)
    assert params == r.totals.params_trainable
    assert stats == r.totals.params_non_trainable
    assert torch_params_by_module(model) == spec_params_by_name(spec, variant)
    assert torch_param_shapes(model) == spec_param_shapes(spec, variant)
    layers = {l.name: l for l in r.layers}
    macs, out_shapes = torch_forward(model, r.totals.input_shapes[0], set(layers))
    assert macs == r.totals.macs
    assert out_shapes == {n: tuple(layers[n].out_shape) for n in out_shapes}
    assert set(spec_params_by_name(spec, variant)) <= set(out_shapes)


# == ResNet V2 (Keras) =======================================================================

@pytest.mark.slow
@pytest.mark.parametrize(("variant", "name"), [
    ("resnet50v2", "ResNet50V2"), ("resnet101v2", "ResNet101V2"), ("resnet152v2", "ResNet152V2")])
def test_resnet_v2_keras_reference(variant: str, name: str) -> None:
    # Keras names a layer conv2_block1_preact_bn where the spec says conv2.block1.preact_bn
    assert_keras_matches(keras_model(name), RESNET_V2, variant, lambda n: n.replace(".", "_"))


def test_resnet_v2_stride_placement() -> None:
    """Stride on the last block of conv2..conv4 (stack_residual_blocks_v2), none in conv5."""
    layers = {l.name: l for l in analyze(RESNET_V2, "resnet50v2").layers}
    assert layers["conv2.block3.out"].out_shape == (256, 28, 28)
    assert layers["conv3.block4.out"].out_shape == (512, 14, 14)
    assert layers["conv4.block6.out"].out_shape == (1024, 7, 7)
    assert layers["conv5.block3.out"].out_shape == (2048, 7, 7)
    assert "conv2.block3.0_pool" in layers and "conv5.block3.0_pool" not in layers


# == DenseNet ================================================================================

# spec (torchvision) module name -> Keras layer name, keras/src/applications/densenet.py
_KERAS_DENSENET = [
    (r"features\.conv0", "conv1_conv"), (r"features\.norm0", "conv1_bn"),
    (r"features\.denseblock(\d)\.denselayer(\d+)\.norm1", "conv{b}_block{1}_0_bn"),
    (r"features\.denseblock(\d)\.denselayer(\d+)\.conv1", "conv{b}_block{1}_1_conv"),
    (r"features\.denseblock(\d)\.denselayer(\d+)\.norm2", "conv{b}_block{1}_1_bn"),
    (r"features\.denseblock(\d)\.denselayer(\d+)\.conv2", "conv{b}_block{1}_2_conv"),
    (r"features\.transition(\d)\.norm", "pool{b}_bn"), (r"features\.transition(\d)\.conv", "pool{b}_conv"),
    (r"features\.norm5", "bn"), (r"classifier", "predictions"),
]


def keras_densenet_name(name: str) -> str:
    for pattern, keras_name in _KERAS_DENSENET:
        m = re.fullmatch(pattern, name)
        if m:   # Keras numbers stages from conv2 / pool2: block (or transition) b is stage b + 1
            groups = m.groups()
            return keras_name.format(*groups, b=int(groups[0]) + 1 if groups else None)
    raise KeyError(name)


@pytest.mark.slow
@pytest.mark.parametrize("depth", [121, 169, 201])
def test_densenet_keras_reference(depth: int) -> None:
    variant = f"keras_densenet{depth}"
    assert_keras_matches(keras_model(f"DenseNet{depth}"), DENSENET, variant, keras_densenet_name)
    # the Keras table's Depth column (seed 003) is the weighted depth, the number in the name
    assert analyze(DENSENET, variant).totals.weighted_depth == depth


@pytest.mark.slow
@pytest.mark.parametrize("depth", [121, 169, 201])
def test_densenet_torchvision_reference(depth: int) -> None:
    assert_torch_matches(torchvision_model(f"densenet{depth}"), DENSENET, f"densenet{depth}")


def test_densenet_flavors_share_weights() -> None:
    """Keras and torchvision DenseNets differ in layers without weights and in BN epsilon only."""
    for depth in (121, 169, 201):
        assert (spec_param_shapes(DENSENET, f"densenet{depth}")
                == spec_param_shapes(DENSENET, f"keras_densenet{depth}"))
        tv = analyze(DENSENET, f"densenet{depth}", "torchvision").totals.macs
        assert tv == analyze(DENSENET, f"keras_densenet{depth}", "torchvision").totals.macs


def test_densenet_channels() -> None:
    """DenseNet-121 widths (Huang et al. 2017, Table 1 with k = 32, theta = 0.5)."""
    layers = {l.name: l for l in analyze(DENSENET, "densenet121").layers}
    assert layers["features.denseblock1.denselayer6.concat"].out_shape == (64 + 6 * 32, 56, 56)
    assert layers["features.transition1.pool"].out_shape == (128, 28, 28)
    assert layers["features.transition3.pool"].out_shape == (512, 7, 7)
    assert layers["features.norm5"].out_shape == (512 + 16 * 32, 7, 7)


# == SE-ResNet ===============================================================================

@pytest.mark.slow
def test_seresnet50_timm_reference() -> None:
    assert_torch_matches(timm_model("seresnet50"), SE_RESNET, "seresnet50")


@pytest.mark.slow
@pytest.mark.parametrize("depth", [101, 152])
def test_seresnet_timm_parameters(depth: int) -> None:
    model, variant = timm_model(f"seresnet{depth}"), f"seresnet{depth}"
    params, stats = torch_param_counts(model)
    totals = analyze(SE_RESNET, variant).totals
    assert (params, stats) == (totals.params_trainable, totals.params_non_trainable)
    assert torch_params_by_module(model) == spec_params_by_name(SE_RESNET, variant)
    assert torch_param_shapes(model) == spec_param_shapes(SE_RESNET, variant)


def test_se_resnet_paper_parameters() -> None:
    """Hu et al. 2018, Eq. 5: the SE blocks add (2 / r) * sum_s N_s * C_s^2 weights to ResNet."""
    r = 16
    for depth, blocks in ((50, [3, 4, 6, 3]), (101, [3, 4, 23, 3]), (152, [3, 8, 36, 3])):
        extra = 2 * sum(n * (256 * 2**s) ** 2 for s, n in enumerate(blocks)) // r
        base = analyze(RESNET, f"paper_resnet{depth}").totals
        se = analyze(SE_RESNET, f"paper_seresnet{depth}").totals
        assert se.params_trainable == base.params_trainable + extra
        assert se.params_non_trainable == base.params_non_trainable
    # sec. 4: "~2.5 million additional parameters" for SE-ResNet-50
    assert 2 * (3 * 256**2 + 4 * 512**2 + 6 * 1024**2 + 3 * 2048**2) // r == 2_514_944


def test_se_resnet_flavors_differ_in_bias_and_stride() -> None:
    """timm = paper + the SE FC biases (C / 16 + C per block); MACs differ by the stride placement
    only (torchvision's ResNet-50 vs the paper's) plus nothing from the SE FCs."""
    blocks = [3, 4, 6, 3]
    biases = sum(n * (256 * 2**s // 16 + 256 * 2**s) for s, n in enumerate(blocks))
    timm = analyze(SE_RESNET, "seresnet50", "torchvision").totals
    paper = analyze(SE_RESNET, "paper_seresnet50", "torchvision").totals
    assert timm.params_trainable - paper.params_trainable == biases == 16_048
    resnet_tv = analyze(RESNET, "resnet50", "torchvision").totals.macs
    resnet_paper = analyze(RESNET, "paper_resnet50", "torchvision").totals.macs
    assert timm.macs - paper.macs == resnet_tv - resnet_paper
