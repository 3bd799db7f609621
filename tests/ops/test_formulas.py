"""Every operator's formulas on hand-derived cases: shape, params, MACs, other FLOPs, fvcore,
connections. Each expected value carries its derivation; shapes are per sample (C, H, W) / (F,).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from cnncost.ops.activation import activation_arithmetic
from cnncost.ops.registry import Arithmetic, Params, Shape, all_ops, canonical_name, get_op

# LeNet-5's C3 (LeCun et al. 1998, Table I): which of the 6 S2 maps each of the 16 C3 maps reads.
LENET_C3_TABLE = [
    [0, 1, 2], [1, 2, 3], [2, 3, 4], [3, 4, 5], [4, 5, 0], [5, 0, 1],  # 6 x 3 contiguous
    [0, 1, 2, 3], [1, 2, 3, 4], [2, 3, 4, 5], [3, 4, 5, 0], [4, 5, 0, 1], [5, 0, 1, 2],  # 6 x 4
    [0, 1, 3, 4], [1, 2, 4, 5], [0, 2, 3, 5],  # 3 x 4 discontinuous
    [0, 1, 2, 3, 4, 5],  # 1 x 6
]  # 18 + 24 + 12 + 6 = 60 connections of the 96 possible


@dataclass(frozen=True)
class Case:
    op: str
    attrs: dict[str, Any]
    inputs: tuple[Shape, ...]
    out: Shape
    params: tuple[int, int] = (0, 0)  # (trainable, non-trainable)
    macs: int = 0
    other: int = 0
    fvcore: int | None = None
    conn: int | None = None


def case(id_: str, op: str, attrs: dict[str, Any], inputs: list[Shape], out: Shape,
         **expected: Any) -> Any:
    return pytest.param(Case(op, attrs, tuple(inputs), out, **expected), id=id_)


ZERO = {"fvcore": 0, "conn": 0}

CONV = [
    # out floor((224 + 3 + 3 - 7) / 2) + 1 = 112; params 64*3*7*7 = 9_408;
    # macs 9_408*112*112 = 118_013_952
    case("conv2d/resnet-stem-7x7-s2-p3", "conv2d",
         {"out": 64, "kernel": 7, "stride": 2, "padding": 3, "bias": False},
         [(3, 224, 224)], (64, 112, 112), params=(9_408, 0), macs=118_013_952,
         fvcore=118_013_952, conn=118_013_952),
    # LeNet C1: out 32 - 5 + 1 = 28; params 6*1*25 + 6 = 156; macs 6*28*28*25 = 117_600;
    # other (bias) 6*784 = 4_704; connections 117_600 + 4_704 = 122_304 (LeCun 1998)
    case("conv2d/lenet-c1-valid", "conv2d", {"out": 6, "kernel": 5, "padding": "valid"},
         [(1, 32, 32)], (6, 28, 28), params=(156, 0), macs=117_600, other=4_704,
         fvcore=117_600, conn=122_304),
    # The classic 5x5 on 28x28x192 -> 32: macs 28*28*32*192*5*5 = 120_422_400;
    # params 32*192*25 + 32 = 153_632; other 32*784 = 25_088; conn 120_422_400 + 25_088
    case("conv2d/inception-5x5-same", "conv2d", {"out": 32, "kernel": 5, "padding": "same"},
         [(192, 28, 28)], (32, 28, 28), params=(153_632, 0), macs=120_422_400, other=25_088,
         fvcore=120_422_400, conn=120_447_488),
    # ... with a 1x1 bottleneck to 16 first: macs 28*28*16*192 = 2_408_448;
    # params 16*192 + 16 = 3_088; other 16*784 = 12_544
    case("conv2d/inception-1x1-bottleneck", "conv2d", {"out": 16, "kernel": 1},
         [(192, 28, 28)], (16, 28, 28), params=(3_088, 0), macs=2_408_448, other=12_544,
         fvcore=2_408_448, conn=2_420_992),
    # ... then the 5x5: macs 28*28*32*16*25 = 10_035_200; params 32*16*25 + 32 = 12_832
    case("conv2d/inception-5x5-after-bottleneck", "conv2d",
         {"out": 32, "kernel": 5, "padding": "same"}, [(16, 28, 28)], (32, 28, 28),
         params=(12_832, 0), macs=10_035_200, other=25_088, fvcore=10_035_200,
         conn=10_060_288),
    # groups 4: C/g = 16; params 128*16*3*3 = 18_432; macs 18_432*56*56 = 57_802_752
    case("conv2d/groups-4", "conv2d",
         {"out": 128, "kernel": 3, "padding": 1, "groups": 4, "bias": False},
         [(64, 56, 56)], (128, 56, 56), params=(18_432, 0), macs=57_802_752,
         fvcore=57_802_752, conn=57_802_752),
    # groups == C (torchvision depthwise): params 32*1*9 = 288; macs 288*112*112 = 3_612_672
    case("conv2d/groups-equal-channels", "conv2d",
         {"out": 32, "kernel": 3, "padding": 1, "groups": 32, "bias": False},
         [(32, 112, 112)], (32, 112, 112), params=(288, 0), macs=3_612_672,
         fvcore=3_612_672, conn=3_612_672),
    # dilation 2: ke = 2*(3-1) + 1 = 5, out 32 - 5 + 1 = 28; params 8*16*9 + 8 = 1_160;
    # macs 8*28*28*16*9 = 903_168; other 8*784 = 6_272
    case("conv2d/dilation-2", "conv2d", {"out": 8, "kernel": 3, "dilation": 2},
         [(16, 32, 32)], (8, 28, 28), params=(1_160, 0), macs=903_168, other=6_272,
         fvcore=903_168, conn=909_440),
    # same, stride 2, dilation 2 on 33: o = ceil(33/2) = 17, total pad 16*2 + 5 - 33 = 4 (even);
    # macs 8*17*17*16*9 = 332_928
    case("conv2d/same-stride2-dilation2-even-total", "conv2d",
         {"out": 8, "kernel": 3, "stride": 2, "dilation": 2, "padding": "same", "bias": False},
         [(16, 33, 33)], (8, 17, 17), params=(1_152, 0), macs=332_928, fvcore=332_928,
         conn=332_928),
    # same, stride 2 on 224: o = 112, total pad 111*2 + 3 - 224 = 1 (odd: 0 top, 1 bottom);
    # params 32*3*9 = 864; macs 864*112*112 = 10_838_016
    case("conv2d/same-stride2-odd-total", "conv2d",
         {"out": 32, "kernel": 3, "stride": 2, "padding": "same", "bias": False},
         [(3, 224, 224)], (32, 112, 112), params=(864, 0), macs=10_838_016,
         fvcore=10_838_016, conn=10_838_016),
    # explicit [t, b, l, r] = [1, 2, 0, 1]: H' = 10 + 3 - 3 + 1 = 11, W' = 10 + 1 - 3 + 1 = 9;
    # params 2*4*9 = 72; macs 72*11*9 = 7_128
    case("conv2d/explicit-4-sides", "conv2d",
         {"out": 2, "kernel": 3, "padding": [1, 2, 0, 1], "bias": False},
         [(4, 10, 10)], (2, 11, 9), params=(72, 0), macs=7_128, fvcore=7_128, conn=7_128),
    # kernel [1, 7], stride [2, 1], padding [0, 3] (ph, pw): H' = (17 - 1)//2 + 1 = 9,
    # W' = 20 + 6 - 7 + 1 = 20; params 4*8*7 + 4 = 228; macs 4*9*20*8*7 = 40_320; other 720
    case("conv2d/rect-kernel-stride-pair", "conv2d",
         {"out": 4, "kernel": [1, 7], "stride": [2, 1], "padding": [0, 3]},
         [(8, 17, 20)], (4, 9, 20), params=(228, 0), macs=40_320, other=720,
         fvcore=40_320, conn=41_040),
    # fused act does not change the conv's own arithmetic (the engine adds relu's)
    case("conv2d/fused-act-excluded", "conv2d", {"out": 6, "kernel": 5, "act": "relu"},
         [(1, 32, 32)], (6, 28, 28), params=(156, 0), macs=117_600, other=4_704,
         fvcore=117_600, conn=122_304),
    # MobileNet dw 3x3: params 32*9 = 288; macs 32*112*112*9 = 3_612_672
    case("depthwise/mobilenet-3x3", "depthwise_conv2d",
         {"kernel": 3, "padding": 1, "bias": False}, [(32, 112, 112)], (32, 112, 112),
         params=(288, 0), macs=3_612_672, fvcore=3_612_672, conn=3_612_672),
    # multiplier 2, stride 2, same on 15: o = 8, pad 7*2 + 3 - 15 = 2; C*m = 32;
    # params 32*9 + 32 = 320; macs 32*8*8*9 = 18_432; other 32*64 = 2_048
    case("depthwise/multiplier2-stride2-same", "depthwise_conv2d",
         {"kernel": 3, "stride": 2, "padding": "same", "multiplier": 2},
         [(16, 15, 15)], (32, 8, 8), params=(320, 0), macs=18_432, other=2_048,
         fvcore=18_432, conn=20_480),
    # Keras SeparableConv2D(128, 3, padding='same') on 56x56x64: params 64*9 + 64*128 + 128 =
    # 8_896; macs 56*56*64*(9 + 128) = 27_496_448; other 128*3136 = 401_408
    case("separable/xception-3x3-same", "separable_conv2d",
         {"out": 128, "kernel": 3, "padding": "same"}, [(64, 56, 56)], (128, 56, 56),
         params=(8_896, 0), macs=27_496_448, other=401_408, fvcore=27_496_448,
         conn=27_897_856),
    # multiplier 2, stride 2, valid on 9: H' = (9 - 3)//2 + 1 = 4; C*m = 16;
    # params 16*9 + 16*4 = 208; macs 4*4*16*(9 + 4) = 3_328
    case("separable/multiplier2-stride2-valid", "separable_conv2d",
         {"out": 4, "kernel": 3, "stride": 2, "multiplier": 2, "bias": False},
         [(8, 9, 9)], (4, 4, 4), params=(208, 0), macs=3_328, fvcore=3_328, conn=3_328),
    # LeNet C3: 60 links; params 60*25 + 16 = 1_516; macs 10*10*25*60 = 150_000;
    # other 16*100 = 1_600; connections 150_000 + 1_600 = 151_600 (LeCun 1998)
    case("conv2d_table/lenet-c3", "conv2d_table",
         {"out": 16, "kernel": 5, "table": LENET_C3_TABLE}, [(6, 14, 14)], (16, 10, 10),
         params=(1_516, 0), macs=150_000, other=1_600, fvcore=150_000, conn=151_600),
]

# Transposed convolutions: o = (i-1)*s - 2p + d*(k-1) + output_padding + 1; macs count every
# tap of every input element, N_in*(out/g)*kh*kw (fvcore's and FlopCounterMode's rule).
CONV_TRANSPOSE = [
    # FCN's 2x upsampling of 21 class scores: o = 15*2 - 2 + 3 + 1 = 32; params 21*21*16 =
    # 7_056; macs N_in*21*16 = 21*256*336 = 1_806_336 (counting the 32*32 outputs instead,
    # 21*1024*21*16 = 7_225_344, would be 4x too much)
    case("conv_transpose2d/fcn-2x-k4-s2-p1", "conv_transpose2d",
         {"out": 21, "kernel": 4, "stride": 2, "padding": 1, "bias": False}, [(21, 16, 16)],
         (21, 32, 32), params=(7_056, 0), macs=1_806_336, fvcore=1_806_336, conn=1_806_336),
    # U-Net's 2x2 up-convolution 1024 -> 512 on 28x28: o = 27*2 + 1 + 1 = 56;
    # params 1024*512*4 + 512 = 2_097_664; macs 1024*784*512*4 = 1_644_167_168;
    # other 512*56*56 = 1_605_632; connections 1_644_167_168 + 1_605_632
    case("conv_transpose2d/unet-up-2x2-s2", "conv_transpose2d",
         {"out": 512, "kernel": 2, "stride": 2}, [(1024, 28, 28)], (512, 56, 56),
         params=(2_097_664, 0), macs=1_644_167_168, other=1_605_632, fvcore=1_644_167_168,
         conn=1_645_772_800),
    # groups 2, k3 s2 p1 output_padding 1 on 5x5: o = 4*2 - 2 + 2 + 1 + 1 = 10;
    # params 4*(6/2)*9 + 6 = 114; macs N_in*3*9 = 100*27 = 2_700; other 6*100 = 600
    case("conv_transpose2d/groups2-output-padding", "conv_transpose2d",
         {"out": 6, "kernel": 3, "stride": 2, "padding": 1, "output_padding": 1, "groups": 2},
         [(4, 5, 5)], (6, 10, 10), params=(114, 0), macs=2_700, other=600, fvcore=2_700,
         conn=3_300),
    # dilation 2, k3, s1 on 4x4: o = 3 + 2*2 + 1 = 8; params 2*3*9 + 3 = 57; macs 32*27 = 864;
    # other 3*64 = 192
    case("conv_transpose2d/dilation2", "conv_transpose2d",
         {"out": 3, "kernel": 3, "dilation": 2}, [(2, 4, 4)], (3, 8, 8), params=(57, 0),
         macs=864, other=192, fvcore=864, conn=1_056),
    # stride [2, 1], kernel [3, 2], output_padding [1, 0] (smaller than the stride 2, and
    # 0 < 1): H' = 4*2 + 2 + 1 + 1 = 12, W' = 5 + 1 + 1 = 7; params 6*2*3*2 = 72;
    # macs N_in*(2*3*2) = 180*12 = 2_160
    case("conv_transpose2d/rect", "conv_transpose2d",
         {"out": 2, "kernel": [3, 2], "stride": [2, 1], "output_padding": [1, 0],
          "bias": False}, [(6, 5, 6)], (2, 12, 7), params=(72, 0), macs=2_160, fvcore=2_160,
         conn=2_160),
]

LINEAR = [
    # LeNet F6: params 120*84 + 84 = 10_164; macs 120*84 = 10_080; other 84
    case("linear/lenet-f6", "linear", {"out": 84}, [(120,)], (84,), params=(10_164, 0),
         macs=10_080, other=84, fvcore=10_080, conn=10_164),
    # VGG fc6 via the alias: params = macs = 25_088*4_096 = 102_760_448
    case("dense/vgg-fc6-no-bias", "dense", {"out": 4096, "bias": False}, [(25_088,)], (4096,),
         params=(102_760_448, 0), macs=102_760_448, fvcore=102_760_448, conn=102_760_448),
    # ConvNeXt-T's first pointwise layer, channels-last (56, 56, 96) -> (56, 56, 384):
    # params 96*384 + 384 = 37_248; macs 3_136*96*384 = 115_605_504; other 3_136*384 =
    # 1_204_224; connections 115_605_504 + 1_204_224
    case("linear/channels-last-convnext", "linear", {"out": 384, "channels_last": True},
         [(56, 56, 96)], (56, 56, 384), params=(37_248, 0), macs=115_605_504,
         other=1_204_224, fvcore=115_605_504, conn=116_809_728),
    # channels_last on a vector is the plain layer: 120*84 + 84
    case("linear/channels-last-vector", "linear", {"out": 84, "channels_last": True}, [(120,)],
         (84,), params=(10_164, 0), macs=10_080, other=84, fvcore=10_080, conn=10_164),
    # LeNet output: 84*10 = 840 fixed centres, 840 square-accumulates and 840 subtracts
    case("rbf/lenet-output", "rbf", {"out": 10}, [(84,)], (10,), params=(0, 840), macs=840,
         other=840, fvcore=None, conn=840),
]

IO = [
    case("input/image", "input", {"shape": [3, 224, 224]}, [], (3, 224, 224), **ZERO),
    case("input/vector", "input", {"shape": [784]}, [], (784,), **ZERO),
]

NORM = [
    # N_in = 64*112*112 = 802_816; params 2*64 trainable, 2*64 moving stats; other 2*N_in
    case("batch_norm/resnet", "batch_norm", {}, [(64, 112, 112)], (64, 112, 112),
         params=(128, 128), other=1_605_632, fvcore=1_605_632),
    # center only: trainable 10, stats 20; other 2*10; fvcore N_in*1 = 10 (no scale)
    case("batch_norm/center-only-vector", "batch_norm", {"scale": False}, [(10,)], (10,),
         params=(10, 20), other=20, fvcore=10),
    # N_in = 96*56*56 = 301_056; other 301_056*(6 + 2) = 2_408_448; fvcore 301_056*5
    case("layer_norm/convnext", "layer_norm", {}, [(96, 56, 56)], (96, 56, 56),
         params=(192, 0), other=2_408_448, fvcore=1_505_280),
    # channels_last over (56, 56, 96): params 2*96; other as over channels, 301_056*8
    case("layer_norm/channels-last", "layer_norm", {"channels_last": True}, [(56, 56, 96)],
         (56, 56, 96), params=(192, 0), other=2_408_448, fvcore=1_505_280),
    # center only: params 8; other 8*(6 + 1) = 56; fvcore 8*4 = 32 (no weight)
    case("layer_norm/center-only", "layer_norm", {"scale": False}, [(8,)], (8,),
         params=(8, 0), other=56, fvcore=32),
    # no affine: other 6*4*6 = 144; fvcore 24*4 = 96
    case("layer_norm/no-affine", "layer_norm", {"scale": False, "center": False}, [(6, 4)],
         (6, 4), other=144, fvcore=96),
    # AlexNet LRN: N_in = 96*55*55 = 290_400; other 290_400*(2*5 + 3) = 3_775_200
    case("lrn/alexnet", "lrn", {}, [(96, 55, 55)], (96, 55, 55), other=3_775_200),
    # size 3: other 8*(6 + 3) = 72
    case("lrn/size-3", "lrn", {"size": 3}, [(2, 2, 2)], (2, 2, 2), other=72),
    # LeNet S2 coefficient and bias: params 6*2 = 12; other 6*14*14*2 = 2_352; conn 1_176
    case("affine/lenet-s2", "affine", {}, [(6, 14, 14)], (6, 14, 14), params=(12, 0),
         other=2_352, conn=1_176),
    case("affine/scale-only", "affine", {"bias": False}, [(6, 14, 14)], (6, 14, 14),
         params=(6, 0), other=1_176, conn=0),
    # ConvNeXt-T stage 1: gamma [96]; one multiply per element, 96*56*56 = 301_056
    case("layer_scale/convnext", "layer_scale", {}, [(96, 56, 56)], (96, 56, 56),
         params=(96, 0), other=301_056),
    case("layer_scale/vector", "layer_scale", {}, [(10,)], (10,), params=(10, 0), other=10),
]

# n = 16*8*8 = 1_024 for every element-wise activation below; connections 0, fvcore None
ACTIVATION = [
    case(f"{op}/{attrs or 'defaults'}", op, attrs, [(16, 8, 8)], (16, 8, 8), other=other, conn=0)
    for op, attrs, other in [
        ("relu", {}, 1_024),  # 1 compare
        ("relu6", {}, 2_048),  # 2 compares
        ("leaky_relu", {"alpha": 0.2}, 2_048),  # compare + multiply
        ("sigmoid", {}, 4_096),  # negate, exp, add, divide
        ("hard_sigmoid", {}, 4_096),
        ("tanh", {}, 1_024),
        ("scaled_tanh", {}, 3_072),  # multiply, tanh, multiply
        ("swish", {}, 5_120),  # sigmoid 4 + multiply
        ("silu", {}, 5_120),  # alias of swish
        ("hard_swish", {}, 5_120),
        ("gelu", {}, 5_120),  # erf form: 5
        ("gelu", {"approximate": "tanh"}, 9_216),  # tanh form: 9
        ("softmax", {}, 5_120),  # over channels: 5 per element
    ]
] + [case("softmax/logits", "softmax", {}, [(1000,)], (1000,), other=5_000, conn=0)]

POOL = [
    # out (112 + 2 - 3)//2 + 1 = 56; n = 64*56*56 = 200_704; other n*(9 - 1); conn n*9
    case("max_pool2d/resnet-3x3-s2-p1", "max_pool2d", {"kernel": 3, "stride": 2, "padding": 1},
         [(64, 112, 112)], (64, 56, 56), other=1_605_632, conn=1_806_336),
    # stride null -> kernel: 28/2 = 14; n = 1_176; other n*3; conn n*4
    case("max_pool2d/stride-defaults-to-kernel", "max_pool2d", {"kernel": 2}, [(6, 28, 28)],
         (6, 14, 14), other=3_528, conn=4_704),
    # GoogLeNet ceil: ceil((112 - 3)/2) + 1 = 56 (floor would give 55); 55*2 = 110 < 112 kept
    case("max_pool2d/ceil-mode-adds-window", "max_pool2d",
         {"kernel": 3, "stride": 2, "ceil_mode": True}, [(64, 112, 112)], (64, 56, 56),
         other=1_605_632, conn=1_806_336),
    # 5x5, k2 s3 p1, ceil: ceil(5/3) + 1 = 3, but (3-1)*3 = 6 >= 5 + 1: starts in padding -> 2
    case("max_pool2d/ceil-mode-drops-padding-window", "max_pool2d",
         {"kernel": 2, "stride": 3, "padding": 1, "ceil_mode": True}, [(1, 5, 5)], (1, 2, 2),
         other=12, conn=16),
    # same on 7, k3 s2: ceil(7/2) = 4 (pad 3*2 + 3 - 7 = 2); n = 128; other n*8; conn n*9
    case("max_pool2d/same", "max_pool2d", {"kernel": 3, "stride": 2, "padding": "same"},
         [(8, 7, 7)], (8, 4, 4), other=1_024, conn=1_152),
    # n = 16*4*4 = 256; other n*4 (3 adds + 1 divide); conn n*4
    case("avg_pool2d/2x2", "avg_pool2d", {"kernel": 2}, [(16, 8, 8)], (16, 4, 4), other=1_024,
         conn=1_024),
    # 18, k3 s2 p1, ceil: ceil(17/2) + 1 = 10 (floor 9), 9*2 = 18 < 19 kept; n = 32*100;
    # other n*9 = 28_800, whatever count_include_pad says (it changes the divisor only)
    case("avg_pool2d/ceil-pad-exclude-pad", "avg_pool2d",
         {"kernel": 3, "stride": 2, "padding": 1, "ceil_mode": True,
          "count_include_pad": False}, [(32, 18, 18)], (32, 10, 10), other=28_800, conn=28_800),
    # N_in = 2048*7*7 = 100_352
    case("global_avg_pool/resnet", "global_avg_pool", {}, [(2048, 7, 7)], (2048,),
         other=100_352, fvcore=100_352),
    case("global_avg_pool/keepdims", "global_avg_pool", {"keepdims": True}, [(2048, 7, 7)],
         (2048, 1, 1), other=100_352, fvcore=100_352),
    # other N_in - C = 512*49 - 512 = 24_576
    case("global_max_pool/vgg", "global_max_pool", {}, [(512, 7, 7)], (512,), other=24_576),
    # 13 -> 6: windows [0,3) [2,5) [4,7) [6,9) [8,11) [10,13), heights sum 18; area 18*18 = 324;
    # other 512*324 = 165_888; fvcore N_in = 512*169 = 86_528
    case("adaptive_avg_pool2d/13-to-6-overlapping", "adaptive_avg_pool2d", {"size": 6},
         [(512, 13, 13)], (512, 6, 6), other=165_888, fvcore=86_528),
    # 8 -> 2: windows of 4, area 8*8 = 64 = H*W; other 4*64 = 256 = N_in
    case("adaptive_avg_pool2d/divisible", "adaptive_avg_pool2d", {"size": 2}, [(4, 8, 8)],
         (4, 2, 2), other=256, fvcore=256),
    # rows 5 -> 3: [0,2) [1,4) [3,5) = 7; cols 7 -> 2: [0,4) [3,7) = 8; other 2*7*8 = 112
    case("adaptive_avg_pool2d/rect", "adaptive_avg_pool2d", {"size": [3, 2]}, [(2, 5, 7)],
         (2, 3, 2), other=112, fvcore=70),
    # 2 -> 3 (o > i): [0,1) [0,2) [1,2) = 4 per axis; other 1*4*4 = 16; fvcore N_in = 4
    case("adaptive_avg_pool2d/upsampling", "adaptive_avg_pool2d", {"size": 3}, [(1, 2, 2)],
         (1, 3, 3), other=16, fvcore=4),
]

MEAN = [
    # spatial mean of ResNet-50's last map: other N_in = 2048*49 = 100_352 (2048*48 adds and
    # 2048 divides); fvcore has no handle for aten::mean
    case("mean/spatial", "mean", {"axes": [1, 2]}, [(2048, 7, 7)], (2048,), other=100_352),
    case("mean/spatial-keepdims", "mean", {"axes": [1, 2], "keepdims": True}, [(2048, 7, 7)],
         (2048, 1, 1), other=100_352),
    # over channels: (4, 3, 5) -> (3, 5), other 4*3*5 = 60
    case("mean/channels", "mean", {"axes": [0]}, [(4, 3, 5)], (3, 5), other=60),
]

# upsample: cnncost counts 0 (nearest) or 9 (bilinear: 6 multiplies + 3 adds) per output
# element; fvcore 1 (nearest) or 4 (bilinear) per output element; connections undefined
UPSAMPLE = [
    # U-Net-style 2x nearest of (64, 28, 28): n = 64*56*56 = 200_704; fvcore n
    case("upsample/nearest-scale2", "upsample", {"scale": 2}, [(64, 28, 28)], (64, 56, 56),
         fvcore=200_704),
    # bilinear to [7, 9]: n = 3*63 = 189; other 9*189 = 1_701; fvcore 4*189 = 756
    case("upsample/bilinear-size", "upsample", {"size": [7, 9], "mode": "bilinear"},
         [(3, 4, 5)], (3, 7, 9), other=1_701, fvcore=756),
    # scale 1.5 with align_corners: floor(5*1.5) = 7, floor(6*1.5) = 9; n = 2*63 = 126
    case("upsample/bilinear-align-corners", "upsample",
         {"scale": 1.5, "mode": "bilinear", "align_corners": True}, [(2, 5, 6)], (2, 7, 9),
         other=1_134, fvcore=504),
    # [sh, sw] = [2, 0.5]: 8 x floor(4.5) = 4; n = 32
    case("upsample/nearest-two-factors", "upsample", {"scale": [2, 0.5]}, [(1, 4, 9)],
         (1, 8, 4), fvcore=32),
    # DeepLabV3's head output (21, 65, 65) resized to 520 x 520: n = 21*520*520 = 5_678_400;
    # other 9n = 51_105_600; fvcore 4n = 22_713_600
    case("upsample/deeplab-head", "upsample", {"size": 520, "mode": "bilinear"},
         [(21, 65, 65)], (21, 520, 520), other=51_105_600, fvcore=22_713_600),
]

ELEMENTWISE = [
    # n = 256*56*56 = 802_816; 1 add per element
    case("add/resnet-residual", "add", {}, [(256, 56, 56)] * 2, (256, 56, 56), other=802_816),
    # Inception-ResNet x + 0.17*r: n = 320*35*35 = 392_000; add n + scale n
    case("add/scales-1-and-0.17", "add", {"scales": [1, 0.17]}, [(320, 35, 35)] * 2,
         (320, 35, 35), other=784_000),
    # 3 inputs, n = 256: 2 adds per element
    case("add/three-inputs", "add", {}, [(16, 4, 4)] * 3, (16, 4, 4), other=512),
    # scales [2, 3, 1]: 2n adds + 2n scalings = 1_024
    case("add/three-scaled", "add", {"scales": [2, 3, 1]}, [(16, 4, 4)] * 3, (16, 4, 4),
         other=1_024),
    # squeeze-excitation gate (C, 1, 1) over (C, H, W): n = 64*28*28 = 50_176
    case("multiply/se-gate-c11", "multiply", {}, [(64, 28, 28), (64, 1, 1)], (64, 28, 28),
         other=50_176),
    case("multiply/se-gate-vector-first", "multiply", {}, [(64,), (64, 28, 28)], (64, 28, 28),
         other=50_176),
    # the same rank, the gate first: the output is still the feature map (a regression)
    case("multiply/se-gate-c11-first", "multiply", {}, [(64, 1, 1), (64, 28, 28)], (64, 28, 28),
         other=50_176),
    # three equal vectors: 2 multiplies per element, n = 8
    case("multiply/three-equal", "multiply", {}, [(8,)] * 3, (8,), other=16),
    # Inception 3a: 64 + 128 + 32 + 32 = 256 channels
    case("concat/inception-3a", "concat", {},
         [(64, 28, 28), (128, 28, 28), (32, 28, 28), (32, 28, 28)], (256, 28, 28), **ZERO),
    case("concat/axis-1", "concat", {"axis": 1}, [(4, 3, 5), (4, 2, 5)], (4, 5, 5), **ZERO),
    case("concat/single-input", "concat", {}, [(4, 3, 5)], (4, 3, 5), **ZERO),
    case("scale/half", "scale", {"factor": 0.5}, [(10, 3, 3)], (10, 3, 3), other=90),
    case("channel_shuffle/shufflenet", "channel_shuffle", {"groups": 3}, [(240, 28, 28)],
         (240, 28, 28), **ZERO),
    case("identity/vector", "identity", {}, [(7,)], (7,), **ZERO),
]

SHAPE = [
    case("flatten/lenet-s4", "flatten", {}, [(16, 5, 5)], (400,), **ZERO),  # 16*5*5
    case("reshape/minus-one", "reshape", {"shape": [16, -1, 7]}, [(64, 7, 7)], (16, 28, 7),
         **ZERO),  # 64*49 = 3_136 = 16*28*7
    case("reshape/explicit", "reshape", {"shape": [3, 4]}, [(12,)], (3, 4), **ZERO),
    case("dropout/fc", "dropout", {}, [(4096,)], (4096,), **ZERO),
    # identity at inference: nothing counted (its training-mode mask multiply is a training cost)
    case("stochastic_depth/mbconv", "stochastic_depth", {"rate": 0.2}, [(40, 28, 28)],
         (40, 28, 28), **ZERO),
    case("zero_pad2d/int", "zero_pad2d", {"padding": 3}, [(3, 224, 224)], (3, 230, 230),
         **ZERO),
    # Keras ZeroPadding2D(((0, 1), (0, 1))): one row bottom, one column right
    case("zero_pad2d/nested", "zero_pad2d", {"padding": [[0, 1], [0, 1]]}, [(64, 112, 112)],
         (64, 113, 113), **ZERO),
    # 30 - 1 - 2 = 27, 30 - 3 - 4 = 23
    case("crop2d/nested", "crop2d", {"cropping": [[1, 2], [3, 4]]}, [(64, 30, 30)],
         (64, 27, 23), **ZERO),
]

VIEWS = [
    # ShuffleNetV2's channel split of 116 channels: [0, 58) and [58, 116)
    case("slice/channels", "slice", {"stop": 58}, [(116, 28, 28)], (58, 28, 28), **ZERO),
    case("slice/width", "slice", {"start": 1, "axis": 2}, [(4, 3, 5)], (4, 3, 4), **ZERO),
    case("split/shufflenet-second-half", "split", {"sizes": [58, 58], "index": 1},
         [(116, 28, 28)], (58, 28, 28), **ZERO),
    case("split/unequal", "split", {"sizes": [1, 3, 2], "index": 2, "axis": 1}, [(4, 6, 2)],
         (4, 2, 2), **ZERO),
    case("chunk/halves", "chunk", {"chunks": 2, "index": 1}, [(116, 28, 28)], (58, 28, 28),
         **ZERO),
    # torch.chunk of 6 into 4: ceil(6/4) = 2 each -> [2, 2, 2], three parts
    case("chunk/torch-rule", "chunk", {"chunks": 4, "index": 2}, [(6, 3, 3)], (2, 3, 3),
         **ZERO),
    # 7 into 3: ceil(7/3) = 3 -> [3, 3, 1]
    case("chunk/last-shorter", "chunk", {"chunks": 3, "index": 2}, [(7, 2, 2)], (1, 2, 2),
         **ZERO),
    case("permute/channels-last", "permute", {"dims": [1, 2, 0]}, [(96, 56, 56)],
         (56, 56, 96), **ZERO),
    case("transpose/swap", "transpose", {"dims": [0, 2]}, [(3, 4, 5)], (5, 4, 3), **ZERO),
    # reflect 3 on each side: 224 + 6 = 230
    case("pad/reflect", "pad", {"padding": 3, "mode": "reflect"}, [(3, 224, 224)],
         (3, 230, 230), **ZERO),
    case("pad/constant-value", "pad", {"padding": [0, 1, 0, 1], "value": -1.0},
         [(8, 7, 7)], (8, 8, 8), **ZERO),
    case("pad/replicate", "pad", {"padding": [1, 2], "mode": "replicate"}, [(2, 3, 3)],
         (2, 5, 7), **ZERO),
]

PREPROCESS = [
    # n = 3*224*224 = 150_528; offset 0: 1 multiply per element
    case("rescaling/1-over-255", "rescaling", {"scale": [1 / 255]}, [(3, 224, 224)],
         (3, 224, 224), other=150_528),
    # x/127.5 - 1: multiply and add per element = 301_056
    case("rescaling/minus-one-to-one", "rescaling", {"scale": 1 / 127.5, "offset": [-1]},
         [(3, 224, 224)], (3, 224, 224), other=301_056),
    case("rescaling/per-channel", "rescaling",
         {"scale": [0.5, 0.25, 0.125], "offset": [0, 0, 0.1]}, [(3, 224, 224)], (3, 224, 224),
         other=301_056),
    # mean, variance per channel + count: 2*3 + 1 = 7; subtract and divide per element
    case("normalization/imagenet", "normalization", {}, [(3, 224, 224)], (3, 224, 224),
         params=(0, 7), other=301_056),
]

ALL_CASES = (CONV + CONV_TRANSPOSE + LINEAR + IO + NORM + ACTIVATION + POOL + MEAN + UPSAMPLE
             + ELEMENTWISE + SHAPE + VIEWS + PREPROCESS)


@pytest.mark.parametrize("c", ALL_CASES)
def test_formulas(evaluate, c: Case) -> None:
    got = evaluate(c.op, c.attrs, *c.inputs)
    assert got.out == c.out
    assert got.params == Params(*c.params)
    assert (got.arithmetic.macs, got.arithmetic.other_flops) == (c.macs, c.other)
    assert got.fvcore == c.fvcore
    assert got.connections == c.conn


def test_every_operator_has_a_case() -> None:
    covered = {canonical_name(p.values[0].op) for p in ALL_CASES}
    assert set(all_ops()) - covered == set()


# -- relations between operators ----------------------------------------------------------------

def test_depthwise_equals_conv2d_with_groups_equal_channels(evaluate) -> None:
    # torchvision writes MobileNet's depthwise conv as conv2d(groups=C, out=C*m)
    common = {"kernel": 3, "stride": 2, "padding": 1}
    dw = evaluate("depthwise_conv2d", {**common, "multiplier": 3}, (24, 17, 17))
    conv = evaluate("conv2d", {**common, "out": 72, "groups": 24}, (24, 17, 17))
    assert dw == conv


def test_separable_is_depthwise_without_bias_then_pointwise(evaluate) -> None:
    window = {"kernel": 5, "stride": 2, "padding": "same", "dilation": 1}
    sep = evaluate("separable_conv2d", {**window, "out": 40, "multiplier": 2}, (12, 21, 21))
    dw = evaluate("depthwise_conv2d", {**window, "multiplier": 2, "bias": False}, (12, 21, 21))
    pw = evaluate("conv2d", {"out": 40, "kernel": 1}, dw.out)
    assert sep.out == pw.out == (40, 11, 11)
    assert sep.params == dw.params + pw.params
    assert sep.arithmetic == dw.arithmetic + pw.arithmetic
    assert sep.fvcore == dw.fvcore + pw.fvcore


def test_full_table_equals_dense_conv(evaluate) -> None:
    full = [list(range(6))] * 16
    table = evaluate("conv2d_table", {"out": 16, "kernel": 5, "table": full}, (6, 14, 14))
    conv = evaluate("conv2d", {"out": 16, "kernel": 5}, (6, 14, 14))
    assert table == conv  # 96 links: params 96*25 + 16 = 2_416


@pytest.mark.parametrize("op, attrs, shape", [
    ("conv2d", {"out": 8, "kernel": 3}, (4, 9, 9)),
    ("depthwise_conv2d", {"kernel": 3}, (4, 9, 9)),
    ("separable_conv2d", {"out": 8, "kernel": 3}, (4, 9, 9)),
    ("linear", {"out": 10}, (32,)),
])
def test_fused_act_is_not_in_the_layer_arithmetic(evaluate, op, attrs, shape) -> None:
    plain = evaluate(op, attrs, shape)
    fused = evaluate(op, {**attrs, "act": "hard_swish"}, shape)
    assert fused == plain


@pytest.mark.parametrize("name, shape, attrs, other", [
    ("relu6", (32, 112, 112), None, 802_816),  # 2 * 32*112*112 = 2 * 401_408
    ("silu", (10,), None, 50),  # alias: 5 per element
    ("gelu", (4, 2), None, 40),  # default erf form: 5 per element
    ("gelu", (4, 2), {"approximate": "tanh"}, 72),  # 9 per element
    ("leaky_relu", (3, 3, 3), {"alpha": 0.3}, 54),  # 2 * 27
])
def test_activation_arithmetic_for_the_engine(name, shape, attrs, other) -> None:
    assert activation_arithmetic(name, shape, attrs) == Arithmetic(0, other)


@pytest.mark.parametrize("none", [None, ""])
def test_no_fused_activation_costs_nothing(evaluate, none) -> None:
    assert activation_arithmetic(none, (64, 56, 56)) == Arithmetic()
    plain = evaluate("conv2d", {"out": 8, "kernel": 3}, (4, 9, 9))
    assert evaluate("conv2d", {"out": 8, "kernel": 3, "act": none}, (4, 9, 9)) == plain


def test_activation_arithmetic_matches_the_registered_op(evaluate) -> None:
    for name, op in all_ops().items():
        if op.family == "activation":
            got = evaluate(name, {}, (5, 3, 2))
            assert activation_arithmetic(name, (5, 3, 2)) == got.arithmetic, name


def test_count_include_pad_changes_no_count(evaluate) -> None:
    attrs = {"kernel": 3, "stride": 2, "padding": 1}
    incl = evaluate("avg_pool2d", {**attrs, "count_include_pad": True}, (8, 15, 15))
    excl = evaluate("avg_pool2d", {**attrs, "count_include_pad": False}, (8, 15, 15))
    assert incl == excl
    assert incl.arithmetic.other_flops == 8 * 8 * 8 * 9  # (15 + 2 - 3)//2 + 1 = 8


def test_padding_forms_are_equivalent(evaluate) -> None:
    forms = [1, [1, 1], [1, 1, 1, 1], [[1, 1], [1, 1]], (1, 1, 1, 1)]
    got = {evaluate("conv2d", {"out": 4, "kernel": 3, "padding": p}, (2, 6, 6)) for p in forms}
    assert len(got) == 1
    (only,) = got
    assert only.out == (4, 6, 6)
    same = evaluate("conv2d", {"out": 4, "kernel": 3, "padding": "SAME"}, (2, 6, 6))
    assert same == only  # same with stride 1 and odd kernel pads (k-1)/2 each side


def test_zero_cost_ops_cost_nothing(evaluate) -> None:
    for c in (p.values[0] for p in ALL_CASES):
        if get_op(canonical_name(c.op)).zero_cost:
            got = evaluate(c.op, c.attrs, *c.inputs)
            assert got.params == Params() and got.arithmetic == Arithmetic(), c.op
            assert got.fvcore == 0 and got.connections == 0, c.op
