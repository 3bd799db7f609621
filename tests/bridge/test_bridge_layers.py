"""The bridge's modules compute what the operators mean, checked against torch's own modules
and hand-computed values (independent of the analytic formulas)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnncost.bridge import layers as L
from cnncost.bridge import pointwise as P

torch.manual_seed(0)


def test_tf_same_puts_the_odd_pixel_bottom_right() -> None:
    # 6 wide, kernel 3, stride 2: output 3, total pad (3-1)*2 + 3 - 6 = 1 -> (0, 1)
    assert L.tf_same_pads(6, 3, 2) == (0, 1)
    assert L.tf_same_pads(5, 3, 2) == (1, 1)
    assert L.tf_same_pads(4, 1, 4) == (0, 0)
    conv = L.Conv2d(1, 1, (3, 3), stride=(2, 2), dilation=(1, 1), groups=1, bias=False,
                    pads=(0, 1, 0, 1))
    nn.init.ones_(conv.weight)
    y = conv(torch.ones(1, 1, 6, 6))[0, 0]
    # windows start at 0, 2, 4: full 3x3 sums except the last row / column, which reads the pad
    assert y.tolist() == [[9, 9, 6], [9, 9, 6], [6, 6, 4]]


def test_symmetric_conv_padding_is_native() -> None:
    conv = L.Conv2d(3, 4, (3, 3), stride=(1, 1), dilation=(1, 1), groups=1, bias=True,
                    pads=(1, 1, 1, 1))
    assert conv.pre_pad is None and conv.padding == (1, 1)
    ref = nn.Conv2d(3, 4, 3, padding=1)
    ref.load_state_dict(conv.state_dict())
    x = torch.randn(2, 3, 7, 7)
    torch.testing.assert_close(conv(x), ref(x))


def test_fused_activation_is_applied_and_not_a_child() -> None:
    lin = L.Linear(5, 3, bias=True, act=nn.Sigmoid())
    x = torch.randn(2, 5)
    torch.testing.assert_close(lin(x), torch.sigmoid(F.linear(x, lin.weight, lin.bias)))
    assert list(lin.children()) == []


def test_separable_is_depthwise_then_pointwise() -> None:
    sep = L.SeparableConv2d(4, 6, (3, 3), multiplier=2, stride=(2, 2), dilation=(1, 1),
                            bias=True, pads=(1, 1, 1, 1))
    dw = nn.Conv2d(4, 8, 3, stride=2, padding=1, groups=4, bias=False)
    pw = nn.Conv2d(8, 6, 1)
    dw.weight.data.copy_(sep.depthwise_weight)
    pw.weight.data.copy_(sep.pointwise_weight)
    assert sep.bias is not None
    pw.bias.data.copy_(sep.bias)
    x = torch.randn(2, 4, 9, 9)
    torch.testing.assert_close(sep(x), pw(dw(x)))


def test_table_conv_reads_only_its_table_rows() -> None:
    table = [[0, 2], [0, 2], [1], [0, 1, 2]]
    conv = L.TableConv2d(table, (3, 3), stride=(1, 1), bias=True, pads=(0, 0, 0, 0))
    # consecutive identical rows share one conv: 3 groups, params 2*2*9 + 1*9 + 3*9 + 4 biases
    assert sum(p.numel() for p in conv.parameters()) == 2 * 2 * 9 + 9 + 27 + 4
    x = torch.randn(1, 3, 6, 6)
    y = conv(x)
    assert y.shape == (1, 4, 4, 4)
    torch.testing.assert_close(y[:, 2:3], F.conv2d(x[:, [1]], conv.weight1, conv.bias1))
    torch.testing.assert_close(y[:, 0:2], F.conv2d(x[:, [0, 2]], conv.weight0, conv.bias0))
    # a change to input channel 1 moves only the maps that read it
    x2 = x.clone()
    x2[:, 1] += 1
    changed = (conv(x2) - y).abs().amax(dim=(0, 2, 3)) > 0
    assert changed.tolist() == [False, False, True, True]


POOLS = [  # (in_hw, kernel, stride, pad, ceil_mode) that torch's pools accept natively
    ((9, 9), 3, 2, 1, True), ((9, 9), 3, 2, 0, True), ((5, 5), 2, 3, 1, True),
    ((3, 3), 2, 2, 1, True), ((8, 7), 3, 2, 1, False), ((112, 112), 3, 2, 0, True),
    ((3, 3), 4, 4, 0, True), ((6, 5), 2, 1, 1, False),
]


@pytest.mark.parametrize("in_hw, k, s, p, ceil_mode", POOLS)
@pytest.mark.parametrize("count_include_pad", [True, False])
def test_general_pool_equals_torch_where_torch_applies(in_hw, k, s, p, ceil_mode,
                                                       count_include_pad) -> None:
    x = torch.randn(2, 3, *in_hw)
    avg = L.Pool2d("avg", in_hw, (k, k), (s, s), (p, p, p, p), ceil_mode, count_include_pad)
    ref = nn.AvgPool2d(k, s, p, ceil_mode=ceil_mode, count_include_pad=count_include_pad)
    torch.testing.assert_close(avg(x), ref(x))
    mx = L.Pool2d("max", in_hw, (k, k), (s, s), (p, p, p, p), ceil_mode)
    torch.testing.assert_close(mx(x), nn.MaxPool2d(k, s, p, ceil_mode=ceil_mode)(x))


def test_same_average_pool_divides_by_the_cells_it_reads() -> None:
    # TF/Keras 'same' average pooling ignores the padding: count_include_pad False
    x = torch.arange(16.0).view(1, 1, 4, 4)
    pads = (*L.tf_same_pads(4, 3, 2), *L.tf_same_pads(4, 3, 2))  # (0, 1, 0, 1)
    y = L.Pool2d("avg", (4, 4), (3, 3), (2, 2), pads, False, False)(x)[0, 0]
    # bottom-right window covers rows 2..3, cols 2..3: (10 + 11 + 14 + 15) / 4
    assert y[1, 1].item() == pytest.approx(12.5)
    assert y[0, 0].item() == pytest.approx(x[0, 0, :3, :3].mean().item())
    with_pad = L.Pool2d("avg", (4, 4), (3, 3), (2, 2), pads, False, True)(x)[0, 0]
    assert with_pad[1, 1].item() == pytest.approx(50 / 9)


def test_max_pool_padding_never_wins() -> None:
    x = -torch.ones(1, 1, 4, 4)
    y = L.Pool2d("max", (4, 4), (3, 3), (2, 2), (0, 1, 0, 1), False)(x)
    assert (y == -1).all()


@pytest.mark.parametrize("center, scale", [(True, True), (False, True), (True, False)])
def test_batch_norm_matches_torch_in_eval(center: bool, scale: bool) -> None:
    bn = P.BatchNorm(5, eps=1e-3, center=center, scale=scale).eval()
    ref = nn.BatchNorm2d(5, eps=1e-3).eval()
    with torch.no_grad():
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)
        ref.running_mean.copy_(bn.running_mean)
        ref.running_var.copy_(bn.running_var)
        ref.weight.copy_(bn.weight if scale else torch.ones(5))
        ref.bias.copy_(bn.bias if center else torch.zeros(5))
    x = torch.randn(2, 5, 3, 3)
    torch.testing.assert_close(bn(x), ref(x))
    assert (bn.weight is None) == (not scale) and (bn.bias is None) == (not center)
    assert [n for n, _ in bn.named_buffers()] == ["running_mean", "running_var"]


def test_layer_norm_normalises_channels_at_each_position() -> None:
    ln = P.ChannelLayerNorm(6, eps=1e-5, center=True, scale=True)
    x = torch.randn(2, 6, 3, 4)
    ref = nn.LayerNorm(6)
    torch.testing.assert_close(ln(x), ref(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2))


def test_lrn_is_torch_local_response_norm() -> None:
    x = torch.randn(2, 8, 4, 4)
    torch.testing.assert_close(P.LocalResponseNorm(5)(x), nn.LocalResponseNorm(5)(x))
    v = torch.randn(2, 8)
    torch.testing.assert_close(P.LocalResponseNorm(3)(v),
                               nn.LocalResponseNorm(3)(v.unsqueeze(-1)).squeeze(-1))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_lrn_runs_in_half_precision_on_the_cpu(dtype: torch.dtype) -> None:
    x = torch.randn(2, 8, 4, 4).to(dtype)
    y = P.LocalResponseNorm(5)(x)  # torch's own fails: avg_pool3d has no CPU half kernel
    assert y.dtype == dtype
    torch.testing.assert_close(y, nn.LocalResponseNorm(5)(x.float()).to(dtype))


def test_elementwise_modules() -> None:
    a, b = torch.randn(2, 4, 3, 3), torch.randn(2, 4, 3, 3)
    torch.testing.assert_close(P.Add([1, 0.17])(a, b), a + 0.17 * b)
    torch.testing.assert_close(P.Add([])(a, b, a), a + b + a)
    gate = torch.randn(2, 4)
    torch.testing.assert_close(P.Multiply()(gate, a), a * gate[:, :, None, None])
    torch.testing.assert_close(P.ChannelShuffle(2)(a), nn.ChannelShuffle(2)(a))
    torch.testing.assert_close(P.Concat(0)(a, b), torch.cat([a, b], 1))
    torch.testing.assert_close(P.Crop2d((1, 0, 0, 2), (3, 3))(a), a[..., 1:, :1])
    assert P.ZeroPad2d((1, 2, 3, 4))(a).shape == (2, 4, 6, 10)
    assert P.Reshape([3, -1])(a).shape == (2, 3, 12)


def test_preprocessing_modules() -> None:
    x = torch.randn(2, 3, 4, 4)
    y = P.Rescaling([1.0, 2.0, 3.0], [0.5])(x)
    torch.testing.assert_close(y, x * torch.tensor([1.0, 2.0, 3.0]).view(1, 3, 1, 1) + 0.5)
    norm = P.Normalization(3)
    with torch.no_grad():
        norm.mean.copy_(torch.tensor([1.0, 2.0, 3.0]))
        norm.variance.copy_(torch.tensor([4.0, 1.0, 0.25]))
    expect = (x - torch.tensor([1.0, 2.0, 3.0]).view(1, 3, 1, 1)) / torch.tensor(
        [2.0, 1.0, 0.5]).view(1, 3, 1, 1)
    torch.testing.assert_close(norm(x), expect)
    assert sum(b.numel() for b in norm.buffers()) == 2 * 3 + 1


def test_rbf_is_squared_distance_to_fixed_centres() -> None:
    rbf = L.RBF(5, 3)
    x = torch.randn(2, 5)
    expect = torch.cdist(x, rbf.centres) ** 2
    torch.testing.assert_close(rbf(x), expect, rtol=1e-4, atol=1e-4)
    assert list(rbf.parameters()) == [] and rbf.centres.shape == (3, 5)


def test_scaled_tanh() -> None:
    x = torch.randn(10)
    torch.testing.assert_close(P.ScaledTanh(1.7159, 2 / 3)(x), 1.7159 * torch.tanh(2 / 3 * x))
    assert math.isclose(P.ACTIVATIONS["scaled_tanh"]().amplitude, 1.7159)


def test_global_average_by_mean_equals_the_adaptive_pool() -> None:
    x = torch.randn(2, 5, 7, 6)
    for keepdims in (True, False):
        by_mean = L.GlobalPool("avg", keepdims, "mean")(x)
        by_pool = L.GlobalPool("avg", keepdims)(x)
        torch.testing.assert_close(by_mean, by_pool)
        assert by_mean.shape == ((2, 5, 1, 1) if keepdims else (2, 5))
