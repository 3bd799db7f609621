"""U-Net, FCN, DeepLabV3, ShuffleNet V2 and RegNet specs against their paper and torchvision.

The specs name their layers as torchvision names its modules, so parameters are compared module
by module (a dictionary join). RegNet's stage plan, which the spec computes from the design
space's six numbers, is compared with torchvision's own ``BlockParams`` for every variant
(without building the models), and U-Net's map sizes with the paper's Figure 1. Reference models
are built with random weights (never downloaded).
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest

from cnncost import api

SPECS = Path(__file__).resolve().parents[2] / "specs"
UNET, FCN, DEEPLAB = SPECS / "unet.yaml", SPECS / "fcn.yaml", SPECS / "deeplabv3.yaml"
SHUFFLENET, REGNET = SPECS / "shufflenet_v2.yaml", SPECS / "regnet.yaml"


@cache
def graph(spec: Path, variant: str | None = None):
    return api.build_graph(spec, variant=variant)[0]


def spec_params_by_name(spec: Path, variant: str | None) -> dict[str, int]:
    report = api.analyze(spec, variant=variant)
    return {layer.name: layer.params_trainable for layer in report.layers
            if layer.params_trainable}


def torch_params_by_module(model) -> dict[str, int]:
    out = {}
    for name, module in model.named_modules():
        own = sum(p.numel() for p in module.parameters(recurse=False))
        if own:
            out[name] = own
    return out


# -- U-Net: Figure 1 ---------------------------------------------------------------------------

# (node, channels, side): Figure 1's maps, 572x572 in, each valid 3x3 conv trimming 2 pixels
UNET_FIGURE_1 = [
    ("down0.conv.relu1", 64, 570), ("down0.conv.relu2", 64, 568), ("down0.pool", 64, 284),
    ("down1.conv.relu2", 128, 280), ("down1.pool", 128, 140),
    ("down2.conv.relu2", 256, 136), ("down2.pool", 256, 68),
    ("down3.conv.relu2", 512, 64), ("down3.pool", 512, 32),
    ("bottom.relu1", 1024, 30), ("bottom.relu2", 1024, 28),
    ("up3.upconv", 512, 56), ("up3.crop", 512, 56), ("up3.concat", 1024, 56),
    ("up3.conv.relu2", 512, 52),
    ("up2.upconv", 256, 104), ("up2.conv.relu2", 256, 100),
    ("up1.upconv", 128, 200), ("up1.conv.relu2", 128, 196),
    ("up0.upconv", 64, 392), ("up0.crop", 64, 392), ("up0.conv.relu2", 64, 388),
    ("final", 2, 388),
]


@pytest.mark.parametrize("node, channels, side", UNET_FIGURE_1)
def test_unet_maps_are_figure_1s(node: str, channels: int, side: int) -> None:
    assert graph(UNET).node(node).out_shape == (channels, side, side)


def test_unet_crops_the_contracting_maps_to_the_centre() -> None:
    g = graph(UNET)
    # 568 -> 392: 88 rows and columns cut on each side; 64 -> 56: 4
    assert g.node("up0.crop").attrs["cropping"] == (88, 88, 88, 88)
    assert g.node("up3.crop").attrs["cropping"] == (4, 4, 4, 4)
    assert g.inputs_of("up0.crop") == ("down0.conv.relu2",)
    assert g.inputs_of("up0.concat") == ("up0.crop", "up0.upconv")


def test_unet_has_23_convolutional_layers_and_its_parameters() -> None:
    report = api.analyze(UNET)
    convs = [layer for layer in report.layers if layer.op in ("conv2d", "conv_transpose2d")]
    assert len(convs) == 23 == report.totals.weighted_depth  # sec. 2: 23 conv layers
    # 3x3 convs c_in*c_out*9 + c_out, up-convs 2c*c*4 + c, the 1x1 classifier 64*2 + 2
    widths = [64, 128, 256, 512, 1024]
    down = sum(c_in * c * 9 + c + c * c * 9 + c for c_in, c in zip([1, *widths[:4]], widths))
    up = sum(2 * c * c * 4 + c + 2 * c * c * 9 + c + c * c * 9 + c for c in widths[:4])
    assert report.totals.params_trainable == down + up + 64 * 2 + 2 == 31_030_658


# -- FCN and DeepLabV3: torchvision's modules, one by one -------------------------------------

@cache
def segmentation_model(name: str, aux: bool):
    from torchvision.models import segmentation

    return getattr(segmentation, name)(weights=None, weights_backbone=None, aux_loss=aux)


@pytest.mark.slow
@pytest.mark.parametrize("spec, name", [(FCN, "fcn_resnet50"), (DEEPLAB, "deeplabv3_resnet50")])
@pytest.mark.parametrize("aux", [False, True])
def test_segmentation_parameters_module_by_module(spec: Path, name: str, aux: bool) -> None:
    variant = "resnet50_aux" if aux else "resnet50"
    assert spec_params_by_name(spec, variant) == torch_params_by_module(
        segmentation_model(name, aux))


@pytest.mark.parametrize("spec", [FCN, DEEPLAB])
def test_segmentation_outputs_and_dilation(spec: Path) -> None:
    g = graph(spec, "resnet50_aux")
    assert g.outputs == ("out", "aux")  # torchvision's {"out", "aux"}, in that order
    assert g.node("out").out_shape == g.node("aux").out_shape == (21, 520, 520)
    # output stride 8: layer2 strides, layer3 and layer4 dilate (2 and 4; their first block
    # keeps the previous stage's dilation)
    assert g.node("backbone.layer4.2.relu_out").out_shape == (2048, 65, 65)
    assert [g.node(f"backbone.layer{s}.{i}.conv2").attrs["dilation"] for s, i in
            ((2, 0), (3, 0), (3, 1), (4, 0), (4, 1))] == [(1, 1), (1, 1), (2, 2), (2, 2), (4, 4)]
    assert graph(spec, "resnet50").outputs == ("out",)


def test_deeplab_aspp_branches() -> None:
    g = graph(DEEPLAB)
    assert [g.node(f"classifier.0.convs.{b}.0").attrs["dilation"] for b in (1, 2, 3)] == [
        (12, 12), (24, 24), (36, 36)]
    assert g.node("classifier.0.convs.4.interpolate").out_shape == (256, 65, 65)
    assert g.node("classifier.0.convs.concat").out_shape == (1280, 65, 65)


# -- ShuffleNet V2 -----------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("variant", ["x0_5", "x1_0", "x1_5", "x2_0"])
def test_shufflenet_parameters_module_by_module(variant: str) -> None:
    import torchvision

    model = getattr(torchvision.models, f"shufflenet_v2_{variant}")(weights=None)
    assert spec_params_by_name(SHUFFLENET, variant) == torch_params_by_module(model)


def test_shufflenet_splits_the_channels_in_two() -> None:
    g = graph(SHUFFLENET, "x1_0")
    # a stride-1 unit of stage 3 (232 channels): two halves of 116, the first passing through
    assert g.node("stage3.1.x1").out_shape == g.node("stage3.1.x2").out_shape == (116, 14, 14)
    assert g.inputs_of("stage3.1.branch2.0") == ("stage3.1.x2",)
    assert g.inputs_of("stage3.1.cat") == ("stage3.1.x1", "stage3.1.branch2.7")
    # a stage's first unit has no split: both branches read the whole input
    assert "stage3.0.x1" not in g
    assert g.inputs_of("stage3.0.branch1.0") == g.inputs_of("stage3.0.branch2.0")


# -- RegNet: the stage plan the spec computes, against torchvision's ---------------------------

REGNET_VARIANTS = ["y_400mf", "y_800mf", "y_1_6gf", "y_3_2gf", "y_8gf", "y_16gf", "y_32gf",
                   "y_128gf", "x_400mf", "x_800mf", "x_1_6gf", "x_3_2gf", "x_8gf", "x_16gf",
                   "x_32gf"]


def regnet_plan(variant: str) -> tuple[list[int], list[int], list[int]]:
    """(widths, depths, group widths) of the spec's stages, read off its graph."""
    g = graph(REGNET, variant)
    blocks: dict[int, list[str]] = {}
    for node in g:
        m = re.fullmatch(r"trunk_output\.block(\d+)\.block\d+-(\d+)\.f\.b\.0", node.name)
        if m:
            blocks.setdefault(int(m.group(1)), []).append(node.name)
    widths, depths, groups = [], [], []
    for stage in sorted(blocks):
        b = g.node(blocks[stage][0])
        widths.append(b.out_shape[0])
        depths.append(len(blocks[stage]))
        groups.append(b.out_shape[0] // b.attrs["groups"])
    return widths, depths, groups


def torchvision_design(variant: str) -> dict[str, float]:
    """The literal arguments torchvision's ``regnet_<variant>`` passes to
    ``BlockParams.from_init_params`` (read from its source)."""
    import ast
    import inspect
    import textwrap

    from torchvision.models import regnet

    tree = ast.parse(textwrap.dedent(inspect.getsource(getattr(regnet, f"regnet_{variant}"))))
    call = next(n for n in ast.walk(tree) if isinstance(n, ast.Call)
                and isinstance(n.func, ast.Attribute) and n.func.attr == "from_init_params")
    return {k.arg: ast.literal_eval(k.value) for k in call.keywords if k.arg is not None}


@pytest.mark.parametrize("variant", REGNET_VARIANTS)
def test_regnet_stage_plan_is_torchvisions(variant: str) -> None:
    from torchvision.models import regnet

    design = torchvision_design(variant)
    spec_design = api.load(REGNET).spec.variants[variant]
    assert {k: spec_design[k] for k in design} == design  # the same six numbers
    params = regnet.BlockParams.from_init_params(**design)
    assert regnet_plan(variant) == (params.widths, params.depths, params.group_widths)


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["y_400mf", "x_8gf"])
def test_regnet_parameters_module_by_module(variant: str) -> None:
    import torchvision

    model = getattr(torchvision.models, f"regnet_{variant}")(weights=None)
    assert spec_params_by_name(REGNET, variant) == torch_params_by_module(model)
