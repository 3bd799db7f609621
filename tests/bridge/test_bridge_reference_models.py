"""The spec's bridged module against torchvision's own model, built with random weights.

googlenet <-> inception_v1@torchvision, resnet18..152 <-> resnet@resnetNN: the parameter total,
the multiset of parameter shapes, the output shape and the fvcore and FlopCounterMode totals on
one input must all be equal; where the parameters line up one to one, the outputs must too (the
reference's weights copied in order). A spec changed by one channel must fail the comparison.
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
from cnncost.bridge.reference import compare_with_reference

from .conftest import SPECS


def googlenet() -> nn.Module:
    return torchvision.models.googlenet(weights=None, aux_logits=False, init_weights=False)


def resnet(depth: int) -> Callable[[], nn.Module]:
    return lambda: getattr(torchvision.models, f"resnet{depth}")(weights=None)


REFERENCES = [
    pytest.param("inception_v1.yaml", "torchvision", googlenet, id="googlenet"),
    pytest.param("resnet.yaml", "resnet18", resnet(18), id="resnet18"),
    *[pytest.param("resnet.yaml", f"resnet{d}", resnet(d), id=f"resnet{d}",
                   marks=pytest.mark.slow) for d in (34, 50, 101, 152)],
]


def spec_module(spec: str | Path, variant: str) -> nn.Module:
    graph, _ = api.build_graph(SPECS / spec if isinstance(spec, str) else spec, variant=variant)
    return to_module(graph).eval()


@pytest.mark.parametrize("spec, variant, reference", REFERENCES)
def test_spec_module_equals_torchvision(spec: str, variant: str,
                                       reference: Callable[[], nn.Module]) -> None:
    torch.manual_seed(0)
    module, ref = spec_module(spec, variant), reference().eval()
    result = compare_with_reference(module, ref, torch.randn(1, 3, 224, 224))
    assert result.ok, (result.differing, result.only_in_module, result.only_in_reference)
    assert result.comparisons[0].analytic == api.analyze(
        SPECS / spec, variant=variant).totals.params_trainable
    # the parameters are registered in the same order, shape by shape
    assert [p.shape for p in module.parameters()] == [p.shape for p in ref.parameters()]


@pytest.mark.parametrize("spec, variant, reference", REFERENCES[:2])
def test_spec_module_computes_what_torchvision_computes(spec: str, variant: str,
                                                        reference: Callable[[], nn.Module]
                                                        ) -> None:
    module, ref = spec_module(spec, variant), reference().eval()
    with torch.no_grad():  # give the reference's weights and statistics some spread
        for t in ref.state_dict().values():
            if t.is_floating_point():
                t.copy_(torch.randn_like(t) * 0.05 + (1 if t.dim() == 1 else 0))
    theirs = [v for k, v in ref.state_dict().items() if not k.endswith("num_batches_tracked")]
    module.load_state_dict(dict(zip(module.state_dict(), theirs, strict=True)))
    x = torch.randn(2, 3, 224, 224)
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
