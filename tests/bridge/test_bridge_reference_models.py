"""The spec's bridged module against the reference implementation, built with random weights.

Every spec flavor with a torchvision or timm counterpart (Keras models are not torch modules
fvcore can trace; tests/zoo compares them layer by layer instead): the parameter total, the
multiset of parameter shapes, the output shape and the fvcore and FlopCounterMode totals on one
input must all be equal; where the parameters line up one to one (all but NASNet-A Large, whose
spec follows Keras' names and order), the outputs must too, with the reference's weights and
batch-norm statistics copied in (this is what catches a wrong epsilon, pooling or padding rule,
which no count sees). A spec changed by one channel must fail the comparison.

Flavors left out: the ``*_aux`` variants (the auxiliary heads run only in training mode, so an
eval-mode reference does not execute them; tests/zoo compares their parameters).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import torchvision
from torch import nn

from cnncost import api
from cnncost.bridge.module import to_module

from .conftest import SPECS
from .reference_compare import compare_with_reference


def googlenet() -> nn.Module:
    return torchvision.models.googlenet(weights=None, aux_logits=False, init_weights=False)


def tv(name: str, **kwargs: object) -> Callable[[], nn.Module]:
    return lambda: getattr(torchvision.models, name)(weights=None, **kwargs)


def tm(name: str) -> Callable[[], nn.Module]:
    def build() -> nn.Module:
        import timm

        return timm.create_model(name, pretrained=False)
    return build


def case(spec: str, variant: str, reference: Callable[[], nn.Module], size: int = 224,
         slow: bool = True, aligned: bool = True) -> object:
    return pytest.param(spec, variant, reference, size, aligned,
                        marks=[pytest.mark.slow] if slow else [], id=f"{spec[:-5]}@{variant}")


REFERENCES = [
    case("inception_v1.yaml", "torchvision", googlenet, slow=False),
    case("resnet.yaml", "resnet18", tv("resnet18"), slow=False),
    *[case("resnet.yaml", f"resnet{d}", tv(f"resnet{d}")) for d in (34, 50, 101, 152)],
    case("alexnet.yaml", "torchvision", tv("alexnet")),
    *[case("vgg.yaml", f"{name}_torchvision", tv(name))
      for name in ("vgg11", "vgg13", "vgg16", "vgg19", "vgg11_bn", "vgg13_bn", "vgg16_bn",
                   "vgg19_bn")],
    *[case("densenet.yaml", f"densenet{d}", tv(f"densenet{d}")) for d in (121, 169, 201)],
    # the spec mirrors the IMAGENET1K_V1 configuration, whose builder sets transform_input
    case("inception_v3.yaml", "torchvision_noaux",
         tv("inception_v3", aux_logits=False, init_weights=False, transform_input=True), 299),
    case("mobilenet_v2.yaml", "torchvision", tv("mobilenet_v2"), slow=False),
    *[case("efficientnet.yaml", f"torchvision_b{n}", tv(f"efficientnet_b{n}"), size)
      for n, size in enumerate((224, 240, 288, 300, 380, 456, 528, 600))],
    case("inception_v4.yaml", "timm", tm("inception_v4"), 299),
    case("inception_resnet_v2.yaml", "timm", tm("inception_resnet_v2"), 299),
    case("xception.yaml", "timm", tm("legacy_xception"), 299),
    case("nasnet.yaml", "large", tm("nasnetalarge"), 331, aligned=False),
    *[case("se_resnet.yaml", f"seresnet{d}", tm(f"seresnet{d}")) for d in (50, 101, 152)],
]


def load_reference_weights(module: nn.Module, ref: nn.Module) -> None:
    """Copy ``ref``'s parameters and statistics into ``module``, in order (batch-norm step
    counters, which either side may lack, are left as they are)."""
    theirs = [v for k, v in ref.state_dict().items() if not k.endswith("num_batches_tracked")]
    mine = module.state_dict()
    keys = [k for k in mine if not k.endswith("num_batches_tracked")]
    module.load_state_dict({**mine, **dict(zip(keys, theirs, strict=True))})


def spec_module(spec: str | Path, variant: str) -> nn.Module:
    graph, _ = api.build_graph(SPECS / spec if isinstance(spec, str) else spec, variant=variant)
    return to_module(graph).eval()


@pytest.mark.parametrize("spec, variant, reference, size, aligned", REFERENCES)
def test_spec_module_counts_what_the_reference_counts(spec: str, variant: str,
                                                      reference: Callable[[], nn.Module],
                                                      size: int, aligned: bool) -> None:
    torch.manual_seed(0)
    module, ref = spec_module(spec, variant), reference().eval()
    result = compare_with_reference(module, ref, torch.randn(1, 3, size, size))
    assert result.ok, (result.differing, result.only_in_module, result.only_in_reference)
    assert result.comparisons[0].analytic == api.analyze(
        SPECS / spec, variant=variant).totals.params_trainable
    if aligned:  # the parameters are registered in the same order, shape by shape
        assert [p.shape for p in module.parameters()] == [p.shape for p in ref.parameters()]


@pytest.mark.parametrize("spec, variant, reference, size, aligned",
                         [r for r in REFERENCES if r.values[4]])
def test_spec_module_computes_what_the_reference_computes(spec: str, variant: str,
                                                          reference: Callable[[], nn.Module],
                                                          size: int, aligned: bool) -> None:
    torch.manual_seed(0)
    module, ref = spec_module(spec, variant), reference().eval()
    with torch.no_grad():  # give the reference's weights and statistics some spread
        for t in ref.state_dict().values():
            if t.is_floating_point():
                t.copy_(torch.randn_like(t) * 0.05 + (1 if t.dim() == 1 else 0))
    load_reference_weights(module, ref)
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        torch.testing.assert_close(module(x), ref(x), rtol=1e-4, atol=1e-4)


def test_a_spec_changed_by_one_channel_fails(tmp_path: Path) -> None:
    text = (SPECS / "inception_v1.yaml").read_text(encoding="utf-8")
    needle = "name: inception_3a, c1: 64,"
    assert text.count(needle) == 1
    changed = tmp_path / "inception_v1.yaml"
    changed.write_text(text.replace(needle, "name: inception_3a, c1: 65,"), encoding="utf-8")
    result = compare_with_reference(spec_module(changed, "torchvision"), googlenet().eval(),
                                    torch.randn(1, 3, 224, 224))
    assert not result.ok
    assert set(result.differing) == {"params_total", "param_shapes", "fvcore_macs",
                                     "torch_flops"}
    # the 1x1 branch gains a filter; everything reading the concat gains an input channel
    assert ((65, 192, 1, 1), 1) in result.only_in_module
    assert ((64, 192, 1, 1), 1) in result.only_in_reference
    assert result.comparisons[0].analytic - result.comparisons[0].measured == (
        192 + 2  # the new filter and its batch-norm's scale and offset
        + 128 + 128 + 32 + 64)  # inception_3b's four branch inputs read one more channel
