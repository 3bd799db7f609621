"""The Keras flavors compute what Keras computes: Keras 3 (torch backend) models with random
weights and spread batch-norm statistics, their weights copied into the spec's bridged module
(tests/bridge/keras_weights.py), the same input, the same class probabilities.

This is where TensorFlow's "same" padding (the odd pixel bottom / right), TF average pooling
(padding not counted), ZeroPadding + "valid" stride-2 convs, batch-norm without gamma and its
epsilon, separable and depthwise convs, the Rescaling / Normalization preprocessing, SE reshapes
and NASNet's cropping are proved on whole networks: no count would see a wrong one of them.

Compared layer by layer: the output of every weighted layer (joined to its spec node by the weight
copy) within float32 rounding of that layer's magnitude, then the class probabilities; a final
softmax alone would average away a one-pixel shift.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch

from cnncost import api
from cnncost.bridge.module import to_module

from .conftest import SPECS
from .keras_weights import copy_keras_weights, spread_batch_norm

# Keras' torch backend converts with np.array(x, copy=False) semantics NumPy 2 deprecates
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def app(name: str, **kwargs: Any) -> Callable[[], Any]:
    def build() -> Any:
        import keras

        return getattr(keras.applications, name)(weights=None, **kwargs)
    return build


def nasnet_mobile() -> Any:
    from keras.src.applications import nasnet  # NASNetMobile() refuses the torch backend

    return nasnet.NASNet(input_shape=(224, 224, 3), penultimate_filters=1056, num_blocks=4,
                         stem_block_filters=32, skip_reduction=False, filter_multiplier=2,
                         weights=None, name="nasnet_mobile", default_size=224)


def case(spec: str, variant: str, build: Callable[[], Any], size: int = 224,
         slow: bool = True, pixels: bool = False, **overrides: Any) -> Any:
    return pytest.param(spec, variant, overrides, build, size, pixels,
                        marks=[pytest.mark.slow] if slow else [], id=f"{spec[:-5]}@{variant}")


CASES = [
    case("mobilenet_v1.yaml", "mobilenet_1.0_224", app("MobileNet"), slow=False),
    case("mobilenet_v1.yaml", "mobilenet_0.5_160", app("MobileNet", alpha=0.5,
                                                          input_shape=(160, 160, 3)), 160),
    case("mobilenet_v2.yaml", "mobilenet_v2_1.0_224", app("MobileNetV2"), slow=False),
    case("mobilenet_v2.yaml", "mobilenet_v2_0.35_224", app("MobileNetV2", alpha=0.35)),
    # EfficientNet starts with its own Rescaling(1/255) + Normalization: feed it pixels; built
    # with weights=None, Keras leaves out the Rescaling(1/std) the imagenet weights add
    case("efficientnet.yaml", "b0", app("EfficientNetB0"), pixels=True, imagenet_weights=False),
    case("efficientnet.yaml", "b3", app("EfficientNetB3"), 300, pixels=True,
         imagenet_weights=False),
    case("xception.yaml", "keras", app("Xception"), 299),
    case("inception_v3.yaml", "keras", app("InceptionV3"), 299),
    case("inception_resnet_v2.yaml", "keras", app("InceptionResNetV2"), 299),
    case("resnet.yaml", "keras_resnet50", app("ResNet50")),
    case("resnet_v2.yaml", "resnet50v2", app("ResNet50V2")),
    case("densenet.yaml", "keras_densenet121", app("DenseNet121")),
    case("vgg.yaml", "vgg16", app("VGG16")),
    case("nasnet.yaml", "mobile", nasnet_mobile),
    case("nasnet.yaml", "large", app("NASNetLarge"), 331),
]


def assert_same_computation(spec: str, variant: str, overrides: dict[str, Any],
                            build: Callable[[], Any], size: int, pixels: bool) -> None:
    """Every weighted layer's output (and the model's) equal within float32 rounding: at most
    1e-4 of that layer's largest magnitude."""
    import keras

    model = build()
    spread_batch_norm(model)
    graph, _ = api.build_graph(SPECS / spec, variant=variant, overrides=overrides)
    module = to_module(graph).eval()
    joined = copy_keras_weights(model, module, graph)
    generator = torch.Generator().manual_seed(0)
    x = (torch.rand(2, size, size, 3, generator=generator) * 255 if pixels
         else torch.randn(2, size, size, 3, generator=generator))
    names = list(joined)
    probe = keras.Model(model.inputs, [model.get_layer(n).output for n in names])
    captured: dict[str, torch.Tensor] = {}
    handles = [module.leaf(node).register_forward_hook(
        lambda _m, _a, out, node=node: captured.__setitem__(node, out)) for node in joined.values()]
    try:
        with torch.no_grad():
            ours = module(x.permute(0, 3, 1, 2).contiguous())
            theirs = [torch.as_tensor(keras.ops.convert_to_numpy(t))
                      for t in probe(x, training=False)]
    finally:
        for handle in handles:
            handle.remove()
    differing = []
    for name, keras_out in zip(names, theirs):
        if keras_out.dim() == 4:
            keras_out = keras_out.permute(0, 3, 1, 2)
        spec_out = captured[joined[name]].reshape(keras_out.shape)
        scale = float(keras_out.abs().max())
        error = float((spec_out - keras_out).abs().max())
        if error > 1e-4 * max(scale, 1e-6):
            differing.append((name, joined[name], error, scale))
    assert not differing, f"{len(differing)} of {len(names)} layers differ, first: {differing[:3]}"
    final = torch.as_tensor(keras.ops.convert_to_numpy(model(x, training=False)))
    torch.testing.assert_close(ours, final, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("spec, variant, overrides, build, size, pixels", CASES)
def test_keras_flavor_computes_what_keras_computes(spec: str, variant: str,
                                                   overrides: dict[str, Any],
                                                   build: Callable[[], Any], size: int,
                                                   pixels: bool) -> None:
    assert_same_computation(spec, variant, overrides, build, size, pixels)


@pytest.mark.slow
def test_a_wrong_padding_rule_is_seen(monkeypatch) -> None:
    """The comparison is sharp enough: with the odd pixel of TF's "same" padding put top / left
    instead of bottom / right, Xception (3x3 stride-2 "same" max pools on 74x74 maps) differs."""
    import math

    from cnncost.bridge import layers as L

    def odd_pixel_first(i: int, k: int, s: int, d: int = 1) -> tuple[int, int]:
        total = max((math.ceil(i / s) - 1) * s + (k - 1) * d + 1 - i, 0)
        return total - total // 2, total // 2

    monkeypatch.setattr(L, "tf_same_pads", odd_pixel_first)
    with pytest.raises(AssertionError):
        assert_same_computation("xception.yaml", "keras", {}, app("Xception"), 299, False)
