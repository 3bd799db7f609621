"""Counting conventions on the seed example and against fvcore / FlopCounterMode on real models."""

from __future__ import annotations

import pytest
import torch
import torchvision
from fvcore.nn import FlopCountAnalysis
from torch.utils.flop_counter import FlopCounterMode

from cnncost import api

BOTTLENECK = "specs/examples/inception_5x5_bottleneck.yaml"


def test_seed_example_under_each_convention() -> None:
    # seed 003: (5*5*192) * (28*28*32) = 120,422,400; 1x1 to 16 first: 2,408,448 + 10,035,200
    naive = api.analyze(BOTTLENECK, variant="naive", convention="torchvision")
    small = api.analyze(BOTTLENECK, variant="bottleneck", convention="torchvision")
    assert naive.totals.macs == 120_422_400 and naive.totals.flops == 240_844_800
    assert small.totals.macs == 2_408_448 + 10_035_200 == 12_443_648
    # no bias, no activation: every convention agrees on pure convolutions
    for convention in ("cnncost", "fvcore"):
        assert api.analyze(BOTTLENECK, variant="naive", convention=convention).totals.macs \
            == 120_422_400


def test_conventions_are_named_and_listed() -> None:
    assert set(api.CONVENTIONS) == {"cnncost", "torchvision", "fvcore", "connections"}
    r = api.analyze("specs/resnet.yaml", variant="resnet18", convention="fvcore")
    assert r.convention.name == "fvcore" and "batch-norm" in r.convention.description
    uncounted = {u.op: u for u in r.uncounted}
    # fvcore counts no max-pool, relu or add: they are listed with cnncost's own count
    assert set(uncounted) == {"max_pool2d", "relu", "add"}
    # relu: one compare per element of every relu output
    relu_elems = sum(x.activation_bytes // 4 for x in r.layers if x.op == "relu")
    assert uncounted["relu"].flops == relu_elems


def test_complete_count_is_at_least_the_others() -> None:
    counts = {c: api.analyze("specs/inception_v1.yaml", convention=c).totals.flops
              for c in ("cnncost", "torchvision", "fvcore")}
    assert counts["cnncost"] > counts["fvcore"] >= counts["torchvision"]


CASES = [
    ("specs/resnet.yaml", "resnet50", lambda: torchvision.models.resnet50(), 224),
    ("specs/resnet.yaml", "resnet18", lambda: torchvision.models.resnet18(), 224),
    ("specs/inception_v1.yaml", "torchvision",
     lambda: torchvision.models.googlenet(aux_logits=False, init_weights=False), 224),
]


@pytest.mark.slow
@pytest.mark.parametrize(("spec", "variant", "build", "size"), CASES,
                         ids=[f"{c[0]}@{c[1]}" for c in CASES])
def test_against_fvcore_and_flop_counter(spec, variant, build, size) -> None:
    model = build().eval()
    x = torch.zeros(1, 3, size, size)
    flops = FlopCountAnalysis(model, x)
    flops.unsupported_ops_warnings(False)
    flops.uncalled_modules_warnings(False)
    assert api.analyze(spec, variant=variant, convention="fvcore").totals.macs == flops.total()
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(x)
    tv = api.analyze(spec, variant=variant, convention="torchvision")
    assert tv.totals.flops == counter.get_total_flops()
    assert tv.totals.params_trainable == sum(p.numel() for p in model.parameters())


def test_fvcore_counts_a_global_average_only_as_adaptive_avg_pool2d(tmp_path) -> None:
    # timm's SEModule squeezes with x.mean((2, 3)): fvcore has no handle for aten::mean
    spec = tmp_path / "pools.yaml"
    spec.write_text("name: pools\ninput: {channels: 8, height: 5, width: 5}\nlayers:\n"
                    "  - global_avg_pool: {name: by_pool, keepdims: true}\n"
                    "  - global_avg_pool: {name: by_mean, input: input, keepdims: true, torch_op: mean}\n"
                    "  - add: {inputs: [by_pool, by_mean]}\n")
    fv = api.analyze(spec, convention="fvcore", batch=3)
    rows = {row.name: row for row in fv.layers}
    assert (rows["by_pool"].macs, rows["by_pool"].counted) == (3 * 8 * 5 * 5, True)
    assert (rows["by_mean"].macs, rows["by_mean"].counted) == (0, False)
    uncounted = {u.op: u for u in fv.uncounted}
    assert uncounted["global_avg_pool"].layers == 1
    assert uncounted["global_avg_pool"].flops == 3 * 8 * 5 * 5
    # the arithmetic does not depend on the torch op
    full = {r.name: r.flops for r in api.analyze(spec, batch=3).layers}
    assert full["by_pool"] == full["by_mean"] == 3 * 200


def test_timm_seresnet_matches_fvcore_on_timm_itself() -> None:
    import timm

    fv = api.analyze("specs/se_resnet.yaml", variant="seresnet50", convention="fvcore")
    model = timm.create_model("seresnet50", pretrained=False).eval()
    with torch.no_grad():
        analysis = FlopCountAnalysis(model, torch.zeros(1, 3, 224, 224))
        analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        assert fv.totals.macs == int(analysis.total()) == 4_114_027_520
    assert "aten::mean" in analysis.unsupported_ops()
