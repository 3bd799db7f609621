"""LeNet-5, AlexNet and VGG specs against the papers and against reference models.

Reference models are built with random weights (never downloaded): torchvision's alexnet and
vgg*, Keras' VGG16/VGG19, and, where no library has the network, a torch module written here
from the paper (LeNet-5 of 1998, the 2012 two-GPU AlexNet, the PyTorch tutorial's LeNet). Every
torch reference names its modules as the spec names its nodes, so the comparison is a dictionary
join: per-module parameters and output shapes, plus total parameters, the multiset of parameter
tensor shapes and FlopCounterMode conv+linear MACs.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from pathlib import Path

import pytest

from cnncost import api

from .reference import (
    keras_depth,
    keras_param_shapes,
    spec_param_shapes,
    torch_conv_linear_macs,
    torch_param_counts,
    torch_param_shapes,
)

SPECS = Path(__file__).resolve().parents[2] / "specs"
LENET, ALEXNET, VGG = SPECS / "lenet5.yaml", SPECS / "alexnet.yaml", SPECS / "vgg.yaml"


# -- helpers: what the spec says -------------------------------------------------------------

def spec_layers(spec: Path, variant: str, convention: str = "cnncost") -> dict:
    return {l.name: l for l in api.analyze(spec, variant=variant, convention=convention).layers}


def params_by_name(layers: dict) -> dict[str, int]:
    return {n: l.params_trainable for n, l in layers.items() if l.params_trainable}


# -- helpers: what a torch reference says ----------------------------------------------------

def on_meta(build):
    """Build a torch reference on the meta device: shapes and FLOPs without 100M random weights."""
    import torch

    with torch.device("meta"):
        return build()


def torch_forward(model, shape: tuple[int, ...], names) -> tuple[int, dict[str, tuple]]:
    """(conv+linear MACs, {module name: per-sample output shape}) of one eval forward pass."""
    import torch

    modules = dict(model.named_modules())
    shapes: dict[str, tuple] = {}
    hooks = [modules[n].register_forward_hook(
        lambda _m, _i, out, n=n: shapes.__setitem__(n, tuple(out.shape[1:])))
        for n in names if n in modules]
    device = next(model.parameters()).device
    try:
        with torch.device(device):
            macs = torch_conv_linear_macs(model, shape)
    finally:
        for h in hooks:
            h.remove()
    return macs, shapes


def torch_leaf_names(model) -> set[str]:
    return {n for n, m in model.named_modules() if n and not list(m.children())}


def torch_params_by_module(model) -> dict[str, int]:
    out = {}
    for name, m in model.named_modules():
        own = sum(p.numel() for p in m.parameters(recurse=False))
        if own:
            out[name] = own
    return out


def assert_matches_torch(model, spec: Path, variant: str, functional: set[str] = frozenset()
                         ) -> None:
    """Parameters (total, per module, shape multiset), MACs and per-module output shapes.

    ``functional``: spec nodes the torch model computes in ``forward`` without a module
    (``torch.flatten``), so the module names are the spec's node names less these.
    """
    r = api.analyze(spec, variant=variant, convention="torchvision")
    layers = {l.name: l for l in r.layers}
    params, stats = torch_param_counts(model)
    assert params == r.totals.params_trainable
    assert stats == r.totals.params_non_trainable
    assert torch_params_by_module(model) == params_by_name(layers)
    assert torch_param_shapes(model) == spec_param_shapes(spec, variant)
    assert torch_leaf_names(model) == set(layers) - {"input"} - functional
    macs, out_shapes = torch_forward(model, r.totals.input_shapes[0], set(layers))
    assert macs == r.totals.macs
    assert out_shapes == {n: tuple(l.out_shape) for n, l in layers.items()
                          if n not in functional | {"input"}}


# == LeNet-5 =================================================================================

# LeCun et al. 1998, sec. II.B: (trainable parameters, connections) of each layer.
LENET_PAPER = {
    "C1": (156, 122_304), "S2": (12, 5_880), "C3": (1_516, 151_600), "S4": (32, 2_000),
    "C5": (48_120, 48_120), "F6": (10_164, 10_164), "output": (0, 840),
}

# LeCun et al. 1998, Table I, as printed: row = S2 map, column = C3 map, X = connected.
TABLE_I = [
    "X   XXX  XXXX XX",
    "XX   XXX  XXXX X",
    "XXX   XXX  X XXX",
    " XXX  XXXX  X XX",
    "  XXX  XXXX XX X",
    "   XXX  XXXX XXX",
]


def test_lenet5_paper_layers() -> None:
    """Every layer of sec. II.B: parameters and connections, and C3's connection table."""
    params = spec_layers(LENET, "lecun1998")
    links = spec_layers(LENET, "lecun1998", convention="connections")
    got: dict[str, list[int]] = {}
    for name, layer in params.items():
        if name in ("input", "flatten"):
            continue
        entry = got.setdefault(name.split(".")[0], [0, 0])
        entry[0] += layer.params_trainable
        entry[1] += links[name].macs
    assert {k: tuple(v) for k, v in got.items()} == LENET_PAPER
    graph, _ = api.build_graph(LENET, variant="lecun1998")
    table = graph.node("C3.conv").attrs["table"]
    assert [sorted(row) for row in table] == [
        [s for s in range(6) if TABLE_I[s][o] == "X"] for o in range(16)]
    assert sum(row.count("X") for row in TABLE_I) == 60      # sec. II.B: 60 of 96 pairs


def lenet5_1998():
    """LeNet-5 as sec. II.B describes it, module names = the spec's node names."""
    import torch
    from torch import nn

    class ScaledTanh(nn.Module):           # f(a) = A tanh(S a), A = 1.7159, S = 2/3 (eq. 6)
        def forward(self, x):
            return 1.7159 * torch.tanh(x * 2 / 3)

    class Affine(nn.Module):               # S2/S4: trainable coefficient and bias per map
        def __init__(self, c):
            super().__init__()
            self.weight, self.bias = nn.Parameter(torch.ones(c)), nn.Parameter(torch.zeros(c))

        def forward(self, x):
            return x * self.weight[:, None, None] + self.bias[:, None, None]

    class TableConv(nn.Module):            # C3: map o convolves only the S2 maps of column o
        def __init__(self, k):
            super().__init__()
            self.rows = [[s for s in range(6) if TABLE_I[s][o] == "X"] for o in range(16)]
            self.maps = nn.ModuleList(nn.Conv2d(len(r), 1, k) for r in self.rows)

        def forward(self, x):
            return torch.cat([m(x[:, r]) for m, r in zip(self.maps, self.rows)], 1)

    class RBF(nn.Module):                  # Euclidean RBF, centres fixed by hand: a buffer
        def __init__(self, f, n):
            super().__init__()
            self.register_buffer("centres", torch.zeros(n, f))

        def forward(self, x):
            return ((x[:, None, :] - self.centres) ** 2).sum(-1)

    def seq(**modules):
        return nn.Sequential(OrderedDict(modules))

    def sub(c):
        return seq(pool=nn.AvgPool2d(2), coeff=Affine(c), squash=ScaledTanh())

    return seq(C1=seq(conv=nn.Conv2d(1, 6, 5), squash=ScaledTanh()), S2=sub(6),
               C3=seq(conv=TableConv(5), squash=ScaledTanh()), S4=sub(16),
               C5=seq(conv=nn.Conv2d(16, 120, 5), squash=ScaledTanh()), flatten=nn.Flatten(),
               F6=seq(full=nn.Linear(120, 84), squash=ScaledTanh()), output=RBF(84, 10))


@pytest.mark.slow
def test_lenet5_1998_reference() -> None:
    model = lenet5_1998()
    r = api.analyze(LENET, variant="lecun1998", convention="torchvision")
    layers = spec_layers(LENET, "lecun1998")
    assert sum(p.numel() for p in model.parameters()) == r.totals.params_trainable
    assert sum(b.numel() for b in model.buffers()) == r.totals.params_non_trainable  # centres
    macs, shapes = torch_forward(model, (1, 32, 32), set(layers))
    assert macs == r.totals.macs            # C3 counts its 60 5x5 kernels, not 96
    assert shapes == {n: tuple(l.out_shape) for n, l in layers.items() if n != "input"}
    own = {n: sum(p.numel() for p in m.parameters()) for n, m in model.named_modules()
           if n in layers}
    assert own == {n: l.params_trainable for n, l in layers.items() if n != "input"}


@pytest.mark.slow
def test_lenet5_modern_reference() -> None:
    """The PyTorch tutorial's Net ("Neural Networks", 60-minute blitz), transcribed."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 6, 5)
            self.conv2 = nn.Conv2d(6, 16, 5)
            self.fc1 = nn.Linear(16 * 5 * 5, 120)
            self.fc2 = nn.Linear(120, 84)
            self.fc3 = nn.Linear(84, 10)

        def forward(self, x):
            x = F.max_pool2d(F.relu(self.conv1(x)), (2, 2))
            x = F.max_pool2d(F.relu(self.conv2(x)), 2)
            x = torch.flatten(x, 1)
            x = F.relu(self.fc1(x))
            x = F.relu(self.fc2(x))
            return self.fc3(x)

    model = Net()
    to_spec = {"conv1": "C1.conv", "conv2": "C3.conv", "fc1": "C5.full", "fc2": "F6.full",
               "fc3": "output"}
    layers = spec_layers(LENET, "modern")
    r = api.analyze(LENET, variant="modern", convention="torchvision")
    assert torch_param_counts(model) == (r.totals.params_trainable, 0)
    assert torch_param_shapes(model) == spec_param_shapes(LENET, "modern")
    assert {to_spec[n]: p for n, p in torch_params_by_module(model).items()} \
        == params_by_name(layers)
    macs, shapes = torch_forward(model, (1, 32, 32), set(to_spec))
    assert macs == r.totals.macs
    assert {to_spec[n]: s for n, s in shapes.items()} \
        == {n: tuple(layers[n].out_shape) for n in to_spec.values()}


# == AlexNet =================================================================================

def test_alexnet_2012_figure2_neurons() -> None:
    """Figure 2's caption: neurons per layer 253,440-186,624-64,896-64,896-43,264-4096-4096-1000.

    conv2 .. fc8 match. conv1's 253,440 matches no conv1 output (227: 55x55x96 = 290,400;
    224: 54x54x96 = 279,936); it is one of the paper's known size inconsistencies.
    """
    layers = spec_layers(ALEXNET, "krizhevsky2012")
    neurons = {n: layers[n].out_shape for n in ("conv2", "conv3", "conv4", "conv5",
                                                "fc6", "fc7", "fc8")}
    count = {n: 1 for n in neurons}
    for n, shape in neurons.items():
        for d in shape:
            count[n] *= d
    assert list(count.values()) == [186_624, 64_896, 64_896, 43_264, 4096, 4096, 1000]
    assert layers["input"].out_shape == (3, 227, 227)
    assert layers["conv1"].out_shape == (96, 55, 55)        # sec. 3.5 / Figure 2: 55x55
    assert layers["pool5"].out_shape == (256, 6, 6)


def alexnet_2012():
    """The 2012 network in Caffe's bvlc_alexnet layout and layer names (groups = 2 GPUs)."""
    from torch import nn

    def lrn():   # paper: k = 2, n = 5, alpha = 1e-4, beta = 0.75; torch divides alpha by n
        return nn.LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2.0)

    return nn.Sequential(OrderedDict(
        conv1=nn.Conv2d(3, 96, 11, stride=4), relu1=nn.ReLU(), norm1=lrn(),
        pool1=nn.MaxPool2d(3, 2),
        conv2=nn.Conv2d(96, 256, 5, padding=2, groups=2), relu2=nn.ReLU(), norm2=lrn(),
        pool2=nn.MaxPool2d(3, 2),
        conv3=nn.Conv2d(256, 384, 3, padding=1), relu3=nn.ReLU(),
        conv4=nn.Conv2d(384, 384, 3, padding=1, groups=2), relu4=nn.ReLU(),
        conv5=nn.Conv2d(384, 256, 3, padding=1, groups=2), relu5=nn.ReLU(),
        pool5=nn.MaxPool2d(3, 2), flatten=nn.Flatten(),
        fc6=nn.Linear(256 * 6 * 6, 4096), relu6=nn.ReLU(), drop6=nn.Dropout(),
        fc7=nn.Linear(4096, 4096), relu7=nn.ReLU(), drop7=nn.Dropout(),
        fc8=nn.Linear(4096, 1000), prob=nn.Softmax(1)))


@pytest.mark.slow
def test_alexnet_2012_reference() -> None:
    assert_matches_torch(on_meta(alexnet_2012), ALEXNET, "krizhevsky2012")


@pytest.mark.slow
def test_alexnet_torchvision_reference() -> None:
    from torchvision.models import alexnet

    assert_matches_torch(on_meta(lambda: alexnet(weights=None)), ALEXNET, "torchvision",
                         functional={"flatten"})


# == VGG =====================================================================================

TORCHVISION_VGG = ["vgg11", "vgg13", "vgg16", "vgg19",
                   "vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn"]


@pytest.mark.slow
@pytest.mark.parametrize("name", TORCHVISION_VGG)
def test_vgg_torchvision_reference(name: str) -> None:
    import torchvision

    model = on_meta(lambda: getattr(torchvision.models, name)(weights=None))
    assert_matches_torch(model, VGG, f"{name}_torchvision", functional={"flatten"})


@pytest.mark.slow
@pytest.mark.parametrize("name", ["VGG16", "VGG19"])
def test_vgg_keras_reference(name: str) -> None:
    import keras

    model = getattr(keras.applications, name)(weights=None)
    variant = name.lower()
    r = api.analyze(VGG, variant=variant)
    layers = spec_layers(VGG, variant)
    assert model.count_params() == r.totals.params_total
    trainable = sum(math.prod(w.shape) for w in model.trainable_weights)
    assert trainable == r.totals.params_trainable
    assert keras_depth(model) == r.totals.depth
    assert keras_param_shapes(model) == spec_param_shapes(VGG, variant)
    # one Keras layer per spec node: block1_conv1 <-> block1.conv1, same count and output shape
    ours = {n.replace(".", "_"): l for n, l in layers.items() if n != "input"}
    theirs = {l.name: l for l in model.layers if type(l).__name__ != "InputLayer"}
    assert set(theirs) == set(ours)
    for name_, layer in theirs.items():
        assert layer.count_params() == ours[name_].params_total, name_
        h_w_c = tuple(layer.output.shape[1:])
        assert (h_w_c[-1], *h_w_c[:-1]) == tuple(ours[name_].out_shape), name_
