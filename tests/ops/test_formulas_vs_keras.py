"""Independent oracle for the Keras-defined operators and TensorFlow's ``same`` rule: Keras 3 layers
(torch backend) built by hand, their weights counted and, for ``same`` with strides, their output
values compared with a torch conv padded by cnncost's pads.
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")  # the only backend a test install has

import keras  # after choosing the backend
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cnncost.ops.spatial import Window

L = keras.layers
RNG = np.random.default_rng(0)


def nhwc(shape_chw: tuple[int, ...]) -> tuple[int, ...]:
    return (*shape_chw[1:], shape_chw[0])


def counts(layer: keras.layers.Layer, in_shape: tuple[int, ...]) -> tuple[int, int]:
    if not layer.built:
        layer.build((None, *nhwc(in_shape)))
    trainable = sum(int(np.prod(w.shape)) for w in layer.trainable_weights)
    return trainable, sum(int(np.prod(w.shape)) for w in layer.non_trainable_weights)


def out_chw(layer: keras.layers.Layer, in_shape: tuple[int, ...]) -> tuple[int, ...]:
    x = RNG.random((1, *nhwc(in_shape)), dtype=np.float32)
    shape = tuple(keras.ops.convert_to_numpy(layer(x)).shape[1:])
    return (shape[-1], *shape[:-1])


@pytest.mark.parametrize("in_shape, kernel, stride, dilation", [
    ((16, 33, 33), 3, 2, 1),  # total pad 2
    ((3, 32, 32), 3, 2, 1),  # total pad 1: the extra pixel bottom / right
    ((3, 31, 30), (4, 5), (3, 2), 1),
    ((4, 6, 6), 1, 4, 1),  # kernel < stride: pad clamped at 0
    ((2, 9, 10), (2, 5), 1, (1, 2)),
])
def test_same_padding_values_match_keras(evaluate, in_shape, kernel, stride, dilation) -> None:
    attrs = {"out": 5, "kernel": kernel, "stride": stride, "dilation": dilation,
             "padding": "same"}
    got = evaluate("conv2d", attrs, in_shape)
    layer = L.Conv2D(5, kernel, strides=stride, dilation_rate=dilation, padding="same")
    x = RNG.random((1, *nhwc(in_shape)), dtype=np.float32)
    expected = keras.ops.convert_to_numpy(layer(x))  # NHWC
    w = torch.as_tensor(keras.ops.convert_to_numpy(layer.kernel)).permute(3, 2, 0, 1)
    b = torch.as_tensor(keras.ops.convert_to_numpy(layer.bias))
    t, bottom, left, right = Window.from_attrs(attrs).pads(in_shape[1:])
    xt = F.pad(torch.as_tensor(x).permute(0, 3, 1, 2), (left, right, t, bottom))
    y = F.conv2d(xt, w, b, stride=Window.from_attrs(attrs).stride,
                 dilation=Window.from_attrs(attrs).dilation)
    assert tuple(y.shape[1:]) == got.out
    np.testing.assert_allclose(y.permute(0, 2, 3, 1).numpy(), expected, rtol=1e-5, atol=1e-5)
    assert counts(layer, in_shape) == (got.params.trainable, 0)


def test_max_pool_same_shape(evaluate) -> None:
    got = evaluate("max_pool2d", {"kernel": 3, "stride": 2, "padding": "same"}, (2, 7, 8))
    assert out_chw(L.MaxPooling2D(3, 2, padding="same"), (2, 7, 8)) == got.out == (2, 4, 4)


@pytest.mark.parametrize("layer, op, attrs, in_shape", [
    (lambda: L.SeparableConv2D(128, 3, padding="same"), "separable_conv2d",
     {"out": 128, "kernel": 3, "padding": "same"}, (64, 28, 28)),
    (lambda: L.SeparableConv2D(8, 5, strides=2, depth_multiplier=3, use_bias=False),
     "separable_conv2d", {"out": 8, "kernel": 5, "stride": 2, "multiplier": 3, "bias": False},
     (4, 17, 17)),
    (lambda: L.DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=2),
     "depthwise_conv2d", {"kernel": 3, "stride": 2, "padding": "same", "multiplier": 2},
     (16, 15, 15)),
    (lambda: L.BatchNormalization(), "batch_norm", {}, (24, 6, 5)),
    (lambda: L.BatchNormalization(center=False), "batch_norm", {"center": False}, (24, 6, 5)),
    (lambda: L.LayerNormalization(), "layer_norm", {}, (24, 6, 5)),
    (lambda: L.LayerNormalization(center=False), "layer_norm", {"center": False}, (24, 6, 5)),
    (lambda: L.Rescaling(1 / 127.5, offset=-1), "rescaling", {"scale": [1 / 127.5],
                                                              "offset": [-1]}, (3, 8, 8)),
    (lambda: L.ZeroPadding2D(((0, 1), (2, 3))), "zero_pad2d", {"padding": [[0, 1], [2, 3]]},
     (3, 8, 8)),
    (lambda: L.Cropping2D(((1, 2), (0, 3))), "crop2d", {"cropping": [[1, 2], [0, 3]]},
     (3, 8, 8)),
    (lambda: L.Dense(84), "dense", {"out": 84}, (120,)),
])
def test_keras_layer(evaluate, layer, op, attrs, in_shape) -> None:
    got = evaluate(op, attrs, in_shape)
    assert counts(layer(), in_shape) == (got.params.trainable, got.params.non_trainable)
    assert out_chw(layer(), in_shape) == got.out


def test_normalization_weights(evaluate) -> None:
    layer = L.Normalization()  # channels last: mean and variance per channel, plus a count
    layer.adapt(RNG.random((10, 4, 4, 3), dtype=np.float32))
    got = evaluate("normalization", {}, (3, 4, 4))
    assert sum(int(np.prod(w.shape)) for w in layer.weights) == got.params.non_trainable == 7
