"""The units of the charts and the nodes, edges and clusters of the drawings."""

from __future__ import annotations

from itertools import pairwise

import pytest

from cnncost import api
from cnncost.render.breakdown import chart_depth, drawing_depth, max_depth, units_at
from cnncost.render.structure import drawing_of
from cnncost.report.zoo import spec_paths

from .conftest import SPECS

RESNET_TOP = ["input", "conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4",
              "avgpool", "flatten", "fc"]


@pytest.mark.parametrize("path", spec_paths([SPECS]), ids=lambda p: p.stem)
def test_units_partition_the_model_at_every_depth(path) -> None:
    report = api.analyze(path, variant=(api.variants(path) or (None,))[0])
    t = report.totals
    for depth in range(1, max_depth(report) + 1):
        units = units_at(report, depth)
        assert sum(u.macs for u in units) == t.macs
        assert sum(u.params_total for u in units) == t.params_total
        assert sum(u.activation_bytes for u in units) == t.activation_bytes
        assert sum(u.layers for u in units) == t.layers
    assert [u.name for u in units_at(report, None)] == [x.name for x in report.layers]
    assert len(units_at(report, drawing_depth(report))) <= 150 or drawing_depth(report) == 1


def test_depths_chosen_for_charts_and_drawings(resnet50) -> None:
    assert chart_depth(resnet50) == 1  # layer3, the largest stage, holds 62 of 176 layers
    assert drawing_depth(resnet50) == 2  # 24 nodes; every layer would be 176
    densenet = api.analyze(SPECS / "densenet.yaml", variant="densenet121")
    # depth 1: `features` holds 423 of 428 layers; depth 2 opens its dense blocks
    assert chart_depth(densenet) == 2
    assert "features.denseblock3" in [u.name for u in units_at(densenet, 2)]


def test_resnet50_at_depth_1_is_stem_stages_head(resnet50) -> None:
    drawing = drawing_of(resnet50, 1)
    assert [n.name for n in drawing.nodes] == RESNET_TOP
    assert list(drawing.edges) == list(pairwise(RESNET_TOP))
    assert drawing.clusters == ()
    layer1 = next(n for n in drawing.nodes if n.name == "layer1")
    block = resnet50.block("layer1")
    assert (layer1.kind, layer1.layers, layer1.macs, layer1.params_total) == (
        "block", block.layers, block.macs, block.params_total)
    assert layer1.out_shape == (256, 56, 56)  # its last layer's: layer1.2.relu_out


def test_resnet50_at_depth_2_clusters_stages_around_bottlenecks(resnet50) -> None:
    drawing = drawing_of(resnet50, 2)
    assert [c.name for c in drawing.clusters] == ["layer1", "layer2", "layer3", "layer4"]
    nodes = {n.name: n for n in drawing.nodes}
    assert nodes["layer3.5"].cluster == "layer3" and nodes["layer3.5"].label == "5"
    assert ("layer2.3", "layer3.0") in drawing.edges
    assert len(drawing.nodes) == 8 + 3 + 4 + 6 + 3


def test_every_layer_and_every_read_at_full_depth(resnet50) -> None:
    drawing = drawing_of(resnet50, None)
    assert [n.name for n in drawing.nodes] == [x.name for x in resnet50.layers]
    assert set(drawing.edges) == {(i, x.name) for x in resnet50.layers for i in x.inputs}
    add = next(n for n in drawing.nodes if n.name == "layer1.0.add")
    assert (add.cluster, add.label, add.op, add.family) == ("layer1.0", "add", "add",
                                                            "elementwise")
    # the projection shortcut beside the main path: both reach the add
    assert ("layer1.0.downsample.1", "layer1.0.add") in drawing.edges
    assert ("layer1.0.bn3", "layer1.0.add") in drawing.edges


def test_inception_branches_meet_at_the_concat(inception_v1) -> None:
    depth = 2  # every branch of a module is one node
    drawing = drawing_of(inception_v1, depth)
    into = sorted(a for a, b in drawing.edges if b == "inception_3a.concat")
    assert into == ["inception_3a.branch_1x1", "inception_3a.branch_3x3",
                    "inception_3a.branch_5x5", "inception_3a.branch_pool"]
    assert {a for a, b in drawing.edges if b in into} == {"pool2"}  # the four read one tensor
