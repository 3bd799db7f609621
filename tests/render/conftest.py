"""Reports and pages shared by the picture tests (each built once per session)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cnncost import api
from cnncost.cost.engine import aggregate_blocks
from cnncost.cost.result import ConventionInfo, CostReport, LayerCost, Totals

ROOT = Path(__file__).resolve().parents[2]
SPECS = ROOT / "specs"


@pytest.fixture(scope="session")
def resnet50() -> CostReport:
    return api.analyze(SPECS / "resnet.yaml", variant="resnet50")


@pytest.fixture(scope="session")
def inception_v1() -> CostReport:
    return api.analyze(SPECS / "inception_v1.yaml", variant="torchvision")


@pytest.fixture(scope="session")
def resnet50_page(resnet50: CostReport) -> str:
    from cnncost.render.html import report_page

    return report_page(resnet50)


def layer(name: str, inputs: tuple[str, ...], activation_bytes: int, *, macs: int = 0,
          params: int = 0, op: str = "relu") -> LayerCost:
    return LayerCost(name=name, op=op, inputs=inputs, out_shape=(activation_bytes // 4,),
                     params_trainable=params, params_non_trainable=0, macs=macs, flops=2 * macs,
                     counted=True, activation_bytes=activation_bytes, bytes_read=0,
                     bytes_written=activation_bytes)


def hand_report(layers: list[LayerCost], peak: int) -> CostReport:
    """A report around hand-written layers (blocks summed by the engine's own aggregation)."""
    totals = Totals(
        params_trainable=sum(x.params_trainable for x in layers), params_non_trainable=0,
        weight_bytes=4 * sum(x.params_trainable for x in layers),
        macs=sum(x.macs for x in layers), flops=sum(x.flops for x in layers),
        activation_bytes=sum(x.activation_bytes for x in layers), peak_activation_bytes=peak,
        depth=len(layers), weighted_depth=0, layers=len(layers), input_shapes=((1,),),
        output_shapes=((1,),))
    return CostReport(
        model="hand", title="", variant=None, overrides={},
        convention=ConventionInfo("cnncost", "cnncost complete count", ""), batch=1,
        dtype="float32", bytes_per_element=4, layers=tuple(layers),
        blocks=aggregate_blocks(layers), totals=totals)
