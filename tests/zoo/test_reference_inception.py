"""Inception v3, Inception v4, Inception-ResNet-v2 and Xception specs against reference models.

Reference models are built with random weights (never downloaded), once per module:
Keras' InceptionV3, InceptionResNetV2 and Xception (torch backend), torchvision's inception_v3
(with and without its auxiliary head) and timm's inception_v4, inception_resnet_v2 and
legacy_xception. Every number asserted below comes from the reference model built here:
  - Keras: count_params() == params_total, trainable weights == params_trainable, the multiset
    of weight shapes, the model's own topological depth (longest input -> output path in Keras
    layers, input included) == the spec's depth, and, for the layers Keras names, per-layer
    parameters and output shapes;
  - torch: sum of parameters == params_trainable, BN running mean/var == params_non_trainable,
    per-module parameters and output shapes joined by name, the multiset of parameter shapes,
    and FlopCounterMode conv+linear MACs of an eval-mode forward at 299x299 == the spec's
    torchvision-convention MACs.
Torch references are built on the meta device (shapes and FLOPs without the weights' memory or a
slow CPU forward); FlopCounterMode counts the same there.
"""

from __future__ import annotations

import math
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
V3, V4 = SPECS / "inception_v3.yaml", SPECS / "inception_v4.yaml"
IRV2, XCEPTION = SPECS / "inception_resnet_v2.yaml", SPECS / "xception.yaml"
INPUT = (3, 299, 299)  # every reference's default input (Keras default_size, timm input_size)


# -- what the spec says ----------------------------------------------------------------------

@cache
def report(spec: Path, variant: str, convention: str = "torchvision"):
    return api.analyze(spec, variant=variant, convention=convention)


def spec_layers(spec: Path, variant: str) -> dict:
    return {l.name: l for l in report(spec, variant).layers}


# -- what a torch reference says -------------------------------------------------------------

def on_meta(build):
    """Build a torch reference on the meta device."""
    import torch

    with torch.device("meta"):
        return build()


def torch_forward(model, names) -> tuple[int, dict[str, tuple]]:
    """(eval-mode conv+linear MACs at 299x299, {module name: per-sample output shape})."""
    import torch

    modules = dict(model.named_modules())
    shapes: dict[str, tuple] = {}
    hooks = [modules[n].register_forward_hook(
        lambda _m, _i, out, n=n: shapes.__setitem__(n, tuple(out.shape[1:])))
        for n in names if n in modules]
    try:
        with torch.device("meta"):
            macs = torch_conv_linear_macs(model, INPUT)
    finally:
        for h in hooks:
            h.remove()
    return macs, shapes


def torch_params_by_module(model) -> dict[str, int]:
    out = {}
    for name, m in model.named_modules():
        own = sum(p.numel() for p in m.parameters(recurse=False))
        if own:
            out[name] = own
    return out


def assert_matches_torch(model, spec: Path, variant: str, rename=lambda n: n,
                         by_name: bool = True) -> None:
    """Totals, parameter shapes, eval-mode MACs; per module (spec names through `rename`)."""
    r = report(spec, variant)
    params, stats = torch_param_counts(model)
    assert params == r.totals.params_trainable
    assert stats == r.totals.params_non_trainable
    assert torch_param_shapes(model) == spec_param_shapes(spec, variant, "torch")
    layers = {rename(n): l for n, l in spec_layers(spec, variant).items()}
    macs, out_shapes = torch_forward(model, layers)
    assert macs == r.totals.macs
    if by_name:
        assert torch_params_by_module(model) == {n: l.params_trainable for n, l in layers.items()
                                                 if l.params_trainable}
        assert len(out_shapes) > 0.3 * len(layers)  # convs, BNs, pools, fc: most nodes
        for name, shape in out_shapes.items():
            assert shape == tuple(layers[name].out_shape), name


# -- what a Keras reference says -------------------------------------------------------------

@cache
def keras_model(name: str):
    import keras

    return getattr(keras.applications, name)(weights=None)


def assert_matches_keras(model, spec: Path, variant: str, keras_to_spec) -> None:
    """Totals, trainable part, weight shapes, topological depth; named layers one by one.

    keras_to_spec: Keras layer name -> spec node name, or None for a layer Keras leaves unnamed
    (conv2d_12, batch_normalization_3, ...) which has no name to join on.
    """
    r = report(spec, variant)
    assert model.count_params() == r.totals.params_total
    assert sum(math.prod(w.shape) for w in model.trainable_weights) == r.totals.params_trainable
    assert keras_depth(model) == r.totals.depth
    assert keras_param_shapes(model) == spec_param_shapes(spec, variant, "keras")
    layers = spec_layers(spec, variant)
    joined = 0
    for layer in model.layers:
        ours = keras_to_spec(layer.name)
        if ours is None:
            continue
        assert ours in layers, layer.name
        assert layer.count_params() == layers[ours].params_total, layer.name
        h_w_c = tuple(layer.output.shape[1:])
        assert (h_w_c[-1], *h_w_c[:-1]) == tuple(layers[ours].out_shape), layer.name
        joined += 1
    assert joined > 0


# == Inception v3 ============================================================================

@pytest.mark.slow
def test_inception_v3_keras() -> None:
    # Keras names only the concats (mixed0 .. mixed10, mixed9_0/1) and the head
    mixed = ["Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d",
             "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c"]

    def to_spec(name: str) -> str | None:
        if m := re.fullmatch(r"mixed(\d+)", name):
            return f"{mixed[int(m[1])]}.concat"
        if m := re.fullmatch(r"mixed9_(\d)", name):
            return f"{mixed[9 + int(m[1])]}.branch3x3_concat"
        return name if name in ("avg_pool", "predictions") else None

    assert_matches_keras(keras_model("InceptionV3"), V3, "keras", to_spec)


def torchvision_v3(aux: bool):
    import torchvision

    # transform_input=True as the IMAGENET1K_V1 weights set it (the spec's torchvision variants)
    return on_meta(lambda: torchvision.models.inception_v3(
        weights=None, aux_logits=aux, transform_input=True, init_weights=False))


@pytest.mark.slow
def test_inception_v3_torchvision_noaux() -> None:
    # inception_v3(aux_logits=False): the eval-mode graph, where the documented GFLOPS is measured
    assert_matches_torch(torchvision_v3(aux=False), V3, "torchvision_noaux")


@pytest.mark.slow
def test_inception_v3_torchvision_aux() -> None:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    model = torchvision_v3(aux=True)
    r, noaux = report(V3, "torchvision"), report(V3, "torchvision_noaux")
    # num_params counts the aux head (27,161,264 documented) ...
    params, stats = torch_param_counts(model)
    assert (params, stats) == (r.totals.params_trainable, r.totals.params_non_trainable)
    assert torch_param_shapes(model) == spec_param_shapes(V3, "torchvision", "torch")
    assert torch_params_by_module(model) == {n: l.params_trainable for n, l in
                                             spec_layers(V3, "torchvision").items()
                                             if l.params_trainable}
    # ... but eval mode does not run it: the eval MACs are the no-aux variant's
    assert torch_forward(model, ())[0] == noaux.totals.macs
    # in training mode it runs, and the MACs are the aux variant's (batch 2: BN in training
    # mode needs more than one value per channel at the aux head's 1x1 output)
    model.train()
    counter = FlopCounterMode(display=False)
    with torch.device("meta"), counter:
        model(torch.zeros(2, *INPUT))
    assert counter.get_total_flops() // 4 == r.totals.macs > noaux.totals.macs


def test_inception_v3_keras_and_torchvision_share_their_convolutions() -> None:
    # the same TF-slim network: same conv+linear MACs; Keras' BN has no gamma (17,216 channels)
    keras_, tv = report(V3, "keras"), report(V3, "torchvision_noaux")
    assert keras_.totals.macs == tv.totals.macs
    bn_channels = keras_.totals.params_non_trainable // 2
    assert tv.totals.params_trainable - keras_.totals.params_trainable == bn_channels


# == Inception v4 ============================================================================

@pytest.mark.slow
def test_inception_v4_timm() -> None:
    import timm

    model = on_meta(lambda: timm.create_model("inception_v4", pretrained=False))
    assert_matches_torch(model, V4, "timm")


# == Inception-ResNet-v2 =====================================================================

def irv2_timm_name(name: str) -> str:
    """Spec node name (Keras block names) -> timm module name."""
    name = re.sub(r"^block8_10\b", "block8", name)
    for keras_block, timm_seq in (("block35", "repeat"), ("block17", "repeat_1"),
                                  ("block8", "repeat_2")):
        name = re.sub(rf"^{keras_block}_(\d+)\b", lambda m, seq=timm_seq: f"{seq}.{int(m[1]) - 1}", name)
    name = re.sub(r"^((?:repeat(?:_\d)?\.\d+)|block8)\.conv$", r"\1.conv2d", name)  # the up conv
    return re.sub(r"^conv_7b\b", "conv2d_7b", name)


@pytest.mark.slow
def test_inception_resnet_v2_keras() -> None:
    def to_spec(name: str) -> str | None:
        if m := re.fullmatch(r"(block(?:35|17|8)_\d+)_(conv|mixed|ac)", name):
            return f"{m[1]}.{m[2]}"  # the up conv (with bias), the concat, the block's ReLU
        if m := re.fullmatch(r"conv_7b(?:_(bn|ac))?", name):
            return f"conv_7b.{ {None: 'conv', 'bn': 'bn', 'ac': 'relu'}[m[1]] }"
        if name in ("mixed_5b", "mixed_6a", "mixed_7a"):
            return f"{name}.concat"
        return name if name in ("avg_pool", "predictions") else None

    assert_matches_keras(keras_model("InceptionResNetV2"), IRV2, "keras", to_spec)


@pytest.mark.slow
def test_inception_resnet_v2_timm() -> None:
    import timm

    model = on_meta(lambda: timm.create_model("inception_resnet_v2", pretrained=False))
    assert_matches_torch(model, IRV2, "timm", rename=irv2_timm_name)


def test_inception_resnet_v2_flavors_differ_in_bn_gamma_only() -> None:
    keras_, timm_ = report(IRV2, "keras"), report(IRV2, "timm")
    assert keras_.totals.macs == timm_.totals.macs
    bn_channels = keras_.totals.params_non_trainable // 2  # 30,272
    assert timm_.totals.params_trainable - keras_.totals.params_trainable == bn_channels


def test_inception_resnet_v2_scaled_residual_is_one_node() -> None:
    layers = spec_layers(IRV2, "keras")
    adds = [l for l in layers.values() if l.op == "add"]
    assert len(adds) == 10 + 20 + 10  # one CustomScaleLayer per block
    graph, _ = api.build_graph(IRV2, variant="keras")
    scales = {n.name: n.attrs["scales"] for n in graph if n.op == "add"}
    assert scales["block35_1.scale_add"] == (1.0, 0.17)
    assert scales["block17_20.scale_add"] == (1.0, 0.1)
    assert scales["block8_9.scale_add"] == (1.0, 0.2)
    assert scales["block8_10.scale_add"] == (1.0, 1.0)
    assert "block8_10.ac" not in layers and "block8_9.ac" in layers


# == Xception ================================================================================

@pytest.mark.slow
def test_xception_keras() -> None:
    def to_spec(name: str) -> str | None:
        if m := re.fullmatch(r"(block\d+)_(\w+)", name):
            return f"{m[1]}.{m[2]}"  # block2_sepconv1_bn -> block2.sepconv1_bn
        return name if name in ("avg_pool", "predictions") else None

    assert_matches_keras(keras_model("Xception"), XCEPTION, "keras", to_spec)


@pytest.mark.slow
def test_xception_timm_legacy() -> None:
    import timm

    model = on_meta(lambda: timm.create_model("legacy_xception", pretrained=False))
    # timm numbers its blocks differently (block1 = Keras block2) and splits the separable
    # conv into two modules: totals, parameter shapes and MACs, not a join by name
    assert_matches_torch(model, XCEPTION, "timm", by_name=False)
    # ... and the Keras network has the same convolutions
    assert report(XCEPTION, "keras").totals.macs == report(XCEPTION, "timm").totals.macs
