"""The new zoo specs' bridged modules against their reference implementations (random weights).

ShuffleNet V2, RegNet X / Y, FCN-ResNet50 and DeepLabV3-ResNet50 (with and without the auxiliary
classifier) against torchvision's models, and the original U-Net against a PyTorch U-Net written
here from the paper, independently of the spec: the parameter total, the multiset of parameter
shapes, the output shapes and the fvcore and FlopCounterMode totals on one input must be equal,
and, with the reference's weights and batch-norm statistics copied in, the outputs too. The
segmentation models run at a smaller size than their documented one (the counts at that size are
checked analytically in the specs' documented figures); their reference returns a dict, compared
as the spec's (out, aux) outputs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
import torchvision
from torch import nn

from cnncost import api
from cnncost.bridge.module import to_module

from .conftest import SPECS
from .reference_compare import compare_with_reference
from .test_bridge_reference_models import load_reference_weights


class Outputs(nn.Module):
    """A torchvision segmentation model's {"out", "aux"} as the tuple (out, aux), or out alone."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> Any:
        out = self.model(x)
        return tuple(out.values()) if len(out) > 1 else out["out"]


class UNet(nn.Module):
    """Ronneberger et al. (2015), Fig. 1, written from the paper: valid 3x3 convs with ReLU, 2x2
    max pools, 2x2 up-convolutions, centre crops of the contracting maps, a 1x1 classifier."""

    def __init__(self, channels: int = 1, classes: int = 2, base: int = 64) -> None:
        super().__init__()

        def double(c_in: int, c_out: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(c_in, c_out, 3), nn.ReLU(),
                                 nn.Conv2d(c_out, c_out, 3), nn.ReLU())

        widths = [base * 2**k for k in range(5)]
        self.down = nn.ModuleList(double(c_in, c_out) for c_in, c_out in
                                  zip([channels, *widths[:3]], widths[:4]))
        self.bottom = double(widths[3], widths[4])
        self.ups = nn.ModuleList(
            nn.ModuleDict({"up": nn.ConvTranspose2d(widths[k + 1], widths[k], 2, stride=2),
                           "conv": double(widths[k + 1], widths[k])})
            for k in (3, 2, 1, 0))
        self.final = nn.Conv2d(base, classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for level in self.down:
            x = level(x)
            skips.append(x)
            x = nn.functional.max_pool2d(x, 2)
        x = self.bottom(x)
        for level, skip in zip(self.ups, reversed(skips)):
            x = level["up"](x)
            cut = (skip.shape[-1] - x.shape[-1]) // 2
            crop = skip[..., cut:cut + x.shape[-2], cut:cut + x.shape[-1]]
            x = level["conv"](torch.cat([crop, x], 1))
        return self.final(x)


def tv(name: str, **kwargs: object) -> Callable[[], nn.Module]:
    return lambda: getattr(torchvision.models, name)(weights=None, **kwargs)


def segmentation(name: str, aux: bool) -> Callable[[], nn.Module]:
    from torchvision.models import segmentation as seg

    return lambda: Outputs(getattr(seg, name)(weights=None, weights_backbone=None, aux_loss=aux))


def case(spec: str, variant: str | None, reference: Callable[[], nn.Module], size: int,
         channels: int = 3, overrides: dict[str, Any] | None = None) -> Any:
    return pytest.param(spec, variant, reference, size, channels, overrides or {},
                        marks=[pytest.mark.slow], id=f"{spec[:-5]}@{variant or 'default'}")


REFERENCES = [
    *[case("shufflenet_v2.yaml", v, tv(f"shufflenet_v2_{v}"), 224)
      for v in ("x0_5", "x1_0", "x1_5", "x2_0")],
    # RegNets up to 8 GMACs (the larger ones are checked stage by stage in tests/zoo)
    *[case("regnet.yaml", v, tv(f"regnet_{v}"), 224)
      for v in ("y_400mf", "y_800mf", "y_1_6gf", "y_3_2gf", "x_400mf", "x_800mf", "x_1_6gf",
                "x_3_2gf", "x_8gf")],
    *[case(f"{name}.yaml", variant, segmentation(f"{name}_resnet50", variant.endswith("aux")),
           128, overrides={"resolution": 128})
      for name in ("fcn", "deeplabv3") for variant in ("resnet50", "resnet50_aux")],
    # 188 is the smallest tile every valid convolution and crop of U-Net accepts (4x4 out)
    case("unet.yaml", None, UNet, 188, channels=1, overrides={"resolution": 188}),
]


def spec_module(spec: str, variant: str | None, overrides: dict[str, Any]) -> nn.Module:
    graph, _ = api.build_graph(SPECS / spec, variant=variant, overrides=overrides)
    return to_module(graph).eval()


@pytest.mark.parametrize("spec, variant, reference, size, channels, overrides", REFERENCES)
def test_spec_module_counts_what_the_reference_counts(spec: str, variant: str | None,
                                                      reference: Callable[[], nn.Module],
                                                      size: int, channels: int,
                                                      overrides: dict[str, Any]) -> None:
    torch.manual_seed(0)
    module, ref = spec_module(spec, variant, overrides), reference().eval()
    result = compare_with_reference(module, ref, torch.randn(1, channels, size, size))
    assert result.ok, (result.differing, result.only_in_module, result.only_in_reference)
    assert result.comparisons[0].analytic == api.analyze(
        SPECS / spec, variant=variant, overrides=overrides).totals.params_trainable
    # the parameters are registered in the same order, shape by shape
    assert [p.shape for p in module.parameters()] == [p.shape for p in ref.parameters()]


@pytest.mark.parametrize("spec, variant, reference, size, channels, overrides", REFERENCES)
def test_spec_module_computes_what_the_reference_computes(spec: str, variant: str | None,
                                                          reference: Callable[[], nn.Module],
                                                          size: int, channels: int,
                                                          overrides: dict[str, Any]) -> None:
    torch.manual_seed(0)
    module, ref = spec_module(spec, variant, overrides), reference().eval()
    with torch.no_grad():  # give the reference's weights and statistics some spread
        for t in ref.state_dict().values():
            if t.is_floating_point():
                t.copy_(torch.randn_like(t) * 0.05 + (1 if t.dim() == 1 else 0))
    load_reference_weights(module, ref)
    x = torch.randn(2, channels, size, size)
    with torch.no_grad():
        mine, theirs = module(x), ref(x)
    if isinstance(theirs, tuple):
        assert isinstance(mine, tuple) and len(mine) == len(theirs)
        for a, b in zip(mine, theirs):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
    else:
        torch.testing.assert_close(mine, theirs, rtol=1e-4, atol=1e-4)
