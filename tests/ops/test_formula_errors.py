"""Every range / shape check of the formulas: the exception type and its one-line message."""

from __future__ import annotations

from typing import Any

import pytest

from cnncost.errors import OpArgumentError, ShapeError
from cnncost.ops.activation import activation_arithmetic, check_activation
from cnncost.ops.registry import OpContext, get_op

A, S = OpArgumentError, ShapeError


def err(id_: str, op: str, attrs: dict[str, Any], inputs: list[tuple[int, ...]],
        exc: type[Exception], match: str) -> Any:
    return pytest.param(op, attrs, inputs, exc, match, id=id_)


CONV = {"out": 8, "kernel": 3}
SIXTEEN_ROWS = [[o % 6] for o in range(16)]

ERRORS = [
    # -- kinds (checked before every infer) --------------------------------------------------
    err("kind/int-given-float", "conv2d", {**CONV, "out": 32.0}, [(3, 8, 8)], A,
        r"^out must be an integer, got 32.0$"),
    err("kind/int-given-bool", "conv2d", {**CONV, "groups": True}, [(3, 8, 8)], A,
        r"^groups must be an integer, got True$"),
    err("kind/bool-given-string", "conv2d", {**CONV, "bias": "yes"}, [(3, 8, 8)], A,
        r"^bias must be true or false, got 'yes'$"),
    err("kind/float-given-yaml-string", "batch_norm", {"epsilon": "1e-5"}, [(8,)], A,
        r"^epsilon must be a number, got '1e-5'$"),
    err("kind/float-null", "dropout", {"rate": None}, [(8,)], A,
        r"^rate must be a number, got None$"),
    err("kind/floats-given-strings", "add", {"scales": ["1", "0.5"]}, [(4,), (4,)], A,
        r"^scales must be a number or a list of numbers, got \['1', '0.5'\]$"),
    err("kind/ints-given-floats", "reshape", {"shape": [2.0, 8]}, [(16,)], A,
        r"^shape must be a list of integers, got \[2.0, 8\]$"),
    err("kind/ints-given-string", "input", {"shape": "3x224x224"}, [], A,
        r"^shape must be a list of integers, got '3x224x224'$"),
    err("kind/choice", "gelu", {"approximate": None}, [(8,)], A,
        r"^approximate must be one of 'none', 'tanh', got None$"),
    # -- conv --------------------------------------------------------------------------------
    err("conv2d/vector-input", "conv2d", CONV, [(120,)], S,
        r"^conv2d expects a \(C, H, W\) feature map, got shape \(120,\)$"),
    err("conv2d/groups-not-dividing-channels", "conv2d", {**CONV, "out": 64, "groups": 4},
        [(30, 8, 8)], A, r"^groups=4 must divide both the input channels \(30\) and out \(64\)$"),
    err("conv2d/groups-not-dividing-out", "conv2d", {**CONV, "out": 30, "groups": 4},
        [(32, 8, 8)], A, r"groups=4 must divide both the input channels \(32\) and out \(30\)"),
    err("conv2d/groups-zero", "conv2d", {**CONV, "groups": 0}, [(8, 8, 8)], A,
        r"^groups must be positive, got 0$"),
    err("conv2d/out-zero", "conv2d", {**CONV, "out": 0}, [(3, 8, 8)], A,
        r"^out must be positive, got 0$"),
    err("conv2d/kernel-zero", "conv2d", {**CONV, "kernel": [3, 0]}, [(3, 8, 8)], A,
        r"^kernel must be positive, got 0$"),
    err("conv2d/stride-zero", "conv2d", {**CONV, "stride": 0}, [(3, 8, 8)], A,
        r"^stride must be positive, got 0$"),
    err("conv2d/dilation-negative", "conv2d", {**CONV, "dilation": -1}, [(3, 8, 8)], A,
        r"^dilation must be positive, got -1$"),
    err("conv2d/kernel-triple", "conv2d", {**CONV, "kernel": [3, 3, 3]}, [(3, 8, 8)], A,
        r"^expected an integer or a pair \[h, w\], got \[3, 3, 3\]$"),
    err("conv2d/padding-mode", "conv2d", {**CONV, "padding": "full"}, [(3, 8, 8)], A,
        r"^padding must be 'same', 'valid' or sizes"),
    err("conv2d/padding-negative", "conv2d", {**CONV, "padding": [0, -1]}, [(3, 8, 8)], A,
        r"^padding must not be negative, got \[0, -1\]$"),
    err("conv2d/output-not-positive", "conv2d", {**CONV, "kernel": 5}, [(3, 4, 4)], S,
        r"^output 0x0 is not positive: input 4x4, kernel 5x5, stride 1x1, padding "
        r"\(0, 0, 0, 0\); use a smaller kernel or pad the input$"),
    err("conv2d/unknown-act", "conv2d", {**CONV, "act": "relux"}, [(3, 8, 8)], A,
        r"^unknown activation 'relux'; expected one of: .*relu, relu6"),
    err("depthwise/multiplier-zero", "depthwise_conv2d", {"kernel": 3, "multiplier": 0},
        [(3, 8, 8)], A, r"^multiplier must be positive, got 0$"),
    err("depthwise/vector-input", "depthwise_conv2d", {"kernel": 3}, [(3, 8)], S,
        r"^depthwise_conv2d expects a \(C, H, W\) feature map, got shape \(3, 8\)$"),
    err("separable/out-zero", "separable_conv2d", {**CONV, "out": 0}, [(3, 8, 8)], A,
        r"^out must be positive, got 0$"),
    err("separable/multiplier-negative", "separable_conv2d", {**CONV, "multiplier": -1},
        [(3, 8, 8)], A, r"^multiplier must be positive, got -1$"),
    err("separable/too-small", "separable_conv2d", {**CONV, "stride": 2, "kernel": 7},
        [(3, 6, 9)], S, r"^output 0x2 is not positive: input 6x9, kernel 7x7, stride 2x2"),
    err("table/row-count", "conv2d_table", {"out": 15, "kernel": 5, "table": SIXTEEN_ROWS},
        [(6, 14, 14)], A, r"^table has 16 rows but out = 15; give one list per output map$"),
    err("table/index-out-of-range", "conv2d_table",
        {"out": 2, "kernel": 5, "table": [[0, 1], [5, 6]]}, [(6, 14, 14)], A,
        r"^table\[1\] reads channel 6, outside \[0, 6\) of the input$"),
    err("table/negative-index", "conv2d_table",
        {"out": 1, "kernel": 5, "table": [[-1]]}, [(6, 14, 14)], A,
        r"^table\[0\] reads channel -1, outside \[0, 6\) of the input$"),
    err("table/duplicate", "conv2d_table", {"out": 2, "kernel": 5, "table": [[0], [2, 3, 2]]},
        [(6, 14, 14)], A, r"^table\[1\] lists input channel 2 twice$"),
    err("table/empty-row", "conv2d_table", {"out": 2, "kernel": 5, "table": [[0], []]},
        [(6, 14, 14)], A, r"^table\[1\] is empty: output map 1 reads no input channel$"),
    err("table/not-nested", "conv2d_table", {"out": 2, "kernel": 5, "table": [0, 1]},
        [(6, 14, 14)], A, r"^table must be a list of lists of input channels"),
    # -- linear ------------------------------------------------------------------------------
    err("linear/feature-map", "linear", {"out": 10}, [(64, 7, 7)], S,
        r"^linear expects a vector \(F,\), got shape \(64, 7, 7\); flatten first"),
    err("dense/out-zero", "dense", {"out": 0}, [(64,)], A, r"^out must be positive, got 0$"),
    err("linear/unknown-act", "linear", {"out": 10, "act": 3}, [(64,)], A,
        r"^act must be an activation's name or null, got 3$"),
    err("rbf/feature-map", "rbf", {"out": 10}, [(16, 5, 5)], S,
        r"^rbf expects a vector \(F,\), got shape \(16, 5, 5\); flatten first"),
    # -- norm --------------------------------------------------------------------------------
    err("batch_norm/scalar", "batch_norm", {}, [()], S,
        r"^batch_norm expects a tensor with a channel axis, got shape \(\)$"),
    err("batch_norm/negative-epsilon", "batch_norm", {"epsilon": -1e-3}, [(8,)], A,
        r"^epsilon must not be negative, got -0.001$"),
    err("layer_norm/scalar", "layer_norm", {}, [()], S, r"^layer_norm expects a tensor"),
    err("lrn/size-zero", "lrn", {"size": 0}, [(8, 4, 4)], A, r"^size must be positive, got 0$"),
    err("affine/scalar", "affine", {}, [()], S, r"^affine expects a tensor"),
    # -- activation --------------------------------------------------------------------------
    err("gelu/approximate", "gelu", {"approximate": "fast"}, [(8,)], A,
        r"^approximate must be one of 'none', 'tanh', got 'fast'$"),
    err("softmax/scalar", "softmax", {}, [()], S,
        r"^softmax needs a channel axis to normalise over, got a scalar$"),
    # -- pool --------------------------------------------------------------------------------
    err("max_pool2d/vector", "max_pool2d", {"kernel": 2}, [(10,)], S,
        r"^max_pool2d expects a \(C, H, W\) feature map, got shape \(10,\)$"),
    err("max_pool2d/stride-zero", "max_pool2d", {"kernel": 2, "stride": 0}, [(1, 4, 4)], A,
        r"^stride must be positive, got 0$"),
    err("max_pool2d/too-small", "max_pool2d", {"kernel": 3}, [(1, 2, 2)], S,
        r"^output 0x0 is not positive: input 2x2, kernel 3x3, stride 3x3"),
    err("avg_pool2d/kernel-zero", "avg_pool2d", {"kernel": 0}, [(1, 4, 4)], A,
        r"^kernel must be positive, got 0$"),
    err("global_avg_pool/vector", "global_avg_pool", {}, [(10,)], S,
        r"^global_avg_pool expects a \(C, H, W\) feature map"),
    err("global_max_pool/vector", "global_max_pool", {}, [(10,)], S,
        r"^global_max_pool expects a \(C, H, W\) feature map"),
    err("adaptive/size-zero", "adaptive_avg_pool2d", {"size": [0, 2]}, [(1, 4, 4)], A,
        r"^size must be positive, got 0$"),
    # -- elementwise -------------------------------------------------------------------------
    err("add/shapes", "add", {}, [(64, 56, 56), (64, 28, 28)], S,
        r"^add needs inputs of one shape, got \(64, 56, 56\), \(64, 28, 28\)$"),
    err("add/scales-count", "add", {"scales": [1, 0.5, 2]}, [(4,), (4,)], A,
        r"^scales has 3 values for 2 inputs; give one per input, or none$"),
    err("multiply/shapes", "multiply", {}, [(64, 28, 28), (64, 14, 14)], S,
        r"^multiply needs equal shapes, or a \(C,\) / \(C, 1, 1\) gate over \(C, H, W\)"),
    err("multiply/gate-channels", "multiply", {}, [(64, 28, 28), (32, 1, 1)], S,
        r"got \(64, 28, 28\), \(32, 1, 1\)$"),
    err("multiply/gate-over-vector", "multiply", {}, [(64, 1), (64,)], S,
        r"^multiply needs equal shapes"),
    err("concat/axis-out-of-range", "concat", {"axis": 3}, [(4, 2, 2), (4, 2, 2)], A,
        r"^axis 3 is out of range for shape \(4, 2, 2\); axes are per sample, 0 = channels"),
    err("concat/negative-axis", "concat", {"axis": -1}, [(4, 2, 2), (4, 2, 2)], A,
        r"Keras' axis=-1 on NHWC is 0 here; negative axes are not accepted"),
    err("concat/spatial-mismatch", "concat", {}, [(4, 28, 28), (8, 14, 14)], S,
        r"^concat on axis 0 needs every other dimension equal, got \(4, 28, 28\), \(8, 14, 14\)$"),
    err("concat/rank-mismatch", "concat", {}, [(4, 2, 2), (4, 2)], S,
        r"^concat on axis 0 needs every other dimension equal"),
    err("channel_shuffle/groups", "channel_shuffle", {"groups": 5}, [(24, 4, 4)], A,
        r"^groups=5 must divide the input channels \(24\)$"),
    err("channel_shuffle/groups-zero", "channel_shuffle", {"groups": 0}, [(24, 4, 4)], A,
        r"^groups must be positive, got 0$"),
    # -- conv_transpose2d --------------------------------------------------------------------
    err("conv_transpose2d/output-padding-not-smaller-than-stride", "conv_transpose2d",
        {"out": 4, "kernel": 3, "stride": 2, "output_padding": 2}, [(4, 5, 5)], A,
        r"^output_padding 2 \(height\) must be smaller than the stride \(2\) or the dilation "
        r"\(1\), as torch requires"),
    err("conv_transpose2d/output-padding-width", "conv_transpose2d",
        {"out": 4, "kernel": 3, "stride": [2, 1], "output_padding": [1, 1]}, [(4, 5, 5)], A,
        r"^output_padding 1 \(width\) must be smaller than the stride \(1\) or the dilation "
        r"\(1\)"),
    err("conv_transpose2d/padding-cuts-everything", "conv_transpose2d",
        {"out": 4, "kernel": 1, "padding": 1}, [(4, 1, 1)], S,
        r"^output -1x-1 is not positive: input 1x1, kernel \[1, 1\], stride \[1, 1\], "
        r"padding \[1, 1\] cuts more than the kernel adds$"),
    err("conv_transpose2d/groups", "conv_transpose2d", {"out": 6, "kernel": 2, "groups": 4},
        [(8, 4, 4)], A, r"^groups=4 must divide both the input channels \(8\) and out \(6\)$"),
    err("conv_transpose2d/negative-padding", "conv_transpose2d",
        {"out": 6, "kernel": 2, "padding": -1}, [(8, 4, 4)], A,
        r"^padding \[-1, -1\] and output_padding \[0, 0\] must not be negative$"),
    err("linear/map-without-channels-last", "linear", {"out": 4}, [(8, 2, 2)], S,
        r"^linear expects a vector \(F,\), got shape \(8, 2, 2\); flatten first \(flatten "
        r"or global_avg_pool\) or set channels_last: true"),
    # -- shape -------------------------------------------------------------------------------
    err("reshape/two-minus-one", "reshape", {"shape": [-1, -1]}, [(4, 4)], A,
        r"^reshape sizes must be positive, with at most one -1, got \[-1, -1\]$"),
    err("reshape/zero", "reshape", {"shape": [0, 16]}, [(4, 4)], A,
        r"^reshape sizes must be positive, with at most one -1, got \[0, 16\]$"),
    err("reshape/numel", "reshape", {"shape": [5, 3]}, [(4, 4)], S,
        r"^cannot reshape \(4, 4\) \(16 elements\) to \[5, 3\] \(15 elements\)$"),
    err("reshape/minus-one-not-divisible", "reshape", {"shape": [-1, 5]}, [(4, 4)], S,
        r"^cannot reshape \(4, 4\) \(16 elements\) to \[-1, 5\]: 16 is not a multiple of 5$"),
    err("dropout/rate", "dropout", {"rate": 1.0}, [(8,)], A,
        r"^dropout rate must be in \[0, 1\), got 1.0$"),
    err("zero_pad2d/negative", "zero_pad2d", {"padding": [1, -1]}, [(3, 8, 8)], A,
        r"^padding must not be negative, got \[1, -1\]$"),
    err("zero_pad2d/vector", "zero_pad2d", {"padding": 1}, [(3,)], S,
        r"^zero_pad2d expects a \(C, H, W\) feature map"),
    err("crop2d/too-much", "crop2d", {"cropping": [[2, 2], [0, 0]]}, [(3, 4, 4)], S,
        r"^cropping \(2, 2, 0, 0\) leaves 0x4 of a 4x4 input$"),
    err("crop2d/negative", "crop2d", {"cropping": -1}, [(3, 4, 4)], A,
        r"^cropping must not be negative, got -1$"),
    err("pad/reflect-wider-than-input", "pad", {"padding": [0, 0, 4, 0], "mode": "reflect"},
        [(3, 8, 4)], A, r"^reflect padding \(0, 0, 4, 0\) must be smaller than the input it "
        r"mirrors \(8x4\) on every side, as torch requires$"),
    err("pad/value-without-constant", "pad", {"padding": 1, "mode": "replicate", "value": 1.0},
        [(3, 8, 8)], A, r"^value is the fill of constant padding; replicate padding has none$"),
    err("pad/negative", "pad", {"padding": [1, -1]}, [(3, 8, 8)], A,
        r"^padding must not be negative, got \[1, -1\]$"),
    # -- views -------------------------------------------------------------------------------
    err("split/not-dividing-the-channels", "split", {"sizes": [58, 60], "index": 0},
        [(116, 28, 28)], A, r"^split sizes \[58, 60\] add up to 118, but axis 0 has 116: the "
        r"parts must divide the axis exactly$"),
    err("split/index", "split", {"sizes": [2, 2], "index": 2}, [(4, 3, 3)], A,
        r"^index 2 is not one of the 2 parts \(0 to 1\)$"),
    err("split/zero-size", "split", {"sizes": [4, 0], "index": 0}, [(4, 3, 3)], A,
        r"^split sizes must be positive, got \[4, 0\]$"),
    err("chunk/fewer-parts-than-asked", "chunk", {"chunks": 4, "index": 3}, [(5, 2, 2)], A,
        r"^index 3 is not one of the 3 chunks \(0 to 2\) \(torch.chunk makes only 3 parts "
        r"of 5: \[2, 2, 1\]\)$"),
    err("chunk/zero", "chunk", {"chunks": 0, "index": 0}, [(5, 2, 2)], A,
        r"^chunks must be positive, got 0$"),
    err("slice/empty", "slice", {"start": 4, "stop": 2}, [(6, 2, 2)], A,
        r"^slice \[4, 2\) is not a non-empty range of axis 0 \(length 6\); give "
        r"0 <= start < stop <= 6$"),
    err("slice/axis", "slice", {"start": 0, "axis": 3}, [(6, 2, 2)], A,
        r"^axis 3 is out of range for shape \(6, 2, 2\); axes are per sample"),
    err("permute/not-a-permutation", "permute", {"dims": [0, 0, 1]}, [(6, 2, 2)], A,
        r"^permute needs a permutation of the 3 per-sample axes \[0, 1, 2\]"),
    err("transpose/three-axes", "transpose", {"dims": [0, 1, 2]}, [(6, 2, 2)], A,
        r"^transpose swaps two per-sample axes in \[0, 3\), got dims \[0, 1, 2\]$"),
    err("mean/axes", "mean", {"axes": [1, 1]}, [(6, 2, 2)], A,
        r"^axes must name distinct per-sample axes in \[0, 3\)"),
    # -- upsample ----------------------------------------------------------------------------
    err("upsample/non-positive-size", "upsample", {"size": [0, 4]}, [(3, 8, 8)], A,
        r"^size must be positive, got \[0, 4\]$"),
    err("upsample/size-and-scale", "upsample", {"size": 4, "scale": 2}, [(3, 8, 8)], A,
        r"^give exactly one of size"),
    err("upsample/neither", "upsample", {}, [(3, 8, 8)], A, r"^give exactly one of size"),
    err("upsample/scale-to-nothing", "upsample", {"scale": 0.1}, [(3, 8, 8)], S,
        r"^scale \[0.1, 0.1\] maps the 8x8 input to 0x0; the output must be at least 1x1$"),
    err("upsample/negative-scale", "upsample", {"scale": -2}, [(3, 8, 8)], A,
        r"^scale must be positive, got \[-2.0, -2.0\]$"),
    err("upsample/align-corners-nearest", "upsample", {"scale": 2, "align_corners": True},
        [(3, 8, 8)], A, r"^align_corners applies to bilinear interpolation only"),
    err("upsample/vector", "upsample", {"scale": 2}, [(3,)], S,
        r"^upsample expects a \(C, H, W\) feature map"),
    # -- preprocess, io ----------------------------------------------------------------------
    err("rescaling/scale-count", "rescaling", {"scale": [1, 2]}, [(3, 8, 8)], A,
        r"^scale has 2 values; give one, or one per channel \(3\)$"),
    err("rescaling/offset-count", "rescaling", {"scale": 1, "offset": [0, 0]}, [(3, 8, 8)], A,
        r"^offset has 2 values; give one, or one per channel \(3\)$"),
    err("normalization/scalar", "normalization", {}, [()], S,
        r"^normalization expects a tensor with a channel axis"),
    err("input/zero-dim", "input", {"shape": [3, 0, 224]}, [], A,
        r"^every input dimension must be positive, got 0$"),
]


@pytest.mark.parametrize("op, attrs, inputs, exc, match", ERRORS)
def test_formula_errors(evaluate, op, attrs, inputs, exc, match) -> None:
    with pytest.raises(exc, match=match):
        evaluate(op, attrs, *inputs)


def test_missing_attribute_is_an_argument_error() -> None:
    op = get_op("conv2d")
    attrs = {k: a.default for k, a in op.attrs.items() if not a.required} | {"kernel": 3}
    with pytest.raises(OpArgumentError, match=r"^missing attribute 'out'$"):
        op.infer(OpContext(attrs, ((3, 8, 8),)))


def test_error_messages_are_one_line() -> None:
    for param in ERRORS:
        assert "\n" not in param.values[4]


def test_activation_helpers_reject_unknown_names() -> None:
    with pytest.raises(OpArgumentError, match=r"^unknown activation 'swishh'; expected one of"):
        activation_arithmetic("swishh", (4,))
    with pytest.raises(OpArgumentError, match=r"^unknown activation 'max_pool2d'"):
        check_activation("max_pool2d")  # an operator, but not an activation
    check_activation(None)
    check_activation("")  # specs write act: "{'relu' if keras else ''}"
    check_activation("silu")
