"""Small models for the importer's tests, also imported as ``tests/importer/models.py:NAME``
by the command-line tests (each function builds a model; some fail on purpose)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Block(nn.Module):
    """A residual block (the ResNet basic block, with an optional projection)."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                      nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.down is None else self.down(x)
        out = F.relu(self.bn1(self.conv1(x)), inplace=True)
        out = self.bn2(self.conv2(out))
        out += identity
        return F.relu(out)


class TinyResNet(nn.Module):
    """Two stages of three blocks, a squeeze-excitation style gate, a classifier."""

    def __init__(self, num_classes: int = 10, width: int = 8) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, width, 3, padding=1)
        self.stage1 = nn.Sequential(*[Block(width, width) for _ in range(3)])
        self.stage2 = nn.Sequential(Block(width, 2 * width, 2),
                                    *[Block(2 * width, 2 * width) for _ in range(2)])
        self.fc = nn.Linear(2 * width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stage2(self.stage1(torch.relu(self.stem(x))))
        gate = torch.sigmoid(x.mean((2, 3), keepdim=True))
        x = x * gate
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def tiny_resnet(num_classes: int = 10, width: int = 8) -> nn.Module:
    return TinyResNet(num_classes, width)


class Branches(nn.Module):
    """Two branches concatenated, a functional max-pool, a view as flatten."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(3, 4, 1)
        self.b = nn.Conv2d(3, 6, 3, padding=1)
        self.head = nn.Linear(10 * 8 * 8, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.cat([self.a(x), self.b(x)], 1)
        y = F.max_pool2d(y, 2, ceil_mode=True)
        return self.head(y.view(y.size(0), -1))


def branches() -> nn.Module:
    return Branches()


class Upsampling(nn.Module):
    """A model cnncost cannot express today: it resizes a feature map bicubically."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return F.interpolate(y, scale_factor=2.0, mode="bicubic")


def upsampling() -> nn.Module:
    return Upsampling()


class SizeDependent(nn.Module):
    """Control flow on a tensor's size: torch.fx cannot trace it, the hooks can."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] > 16:
            x = F.avg_pool2d(x, 2)
        y = self.conv(x).relu_()
        return self.fc(self.pool(y).flatten(1))


def size_dependent() -> nn.Module:
    return SizeDependent()


def raises() -> nn.Module:
    raise ValueError("no such width: 7")


def not_a_module() -> dict[str, int]:
    return {"width": 7}


def small_only() -> nn.Module:
    """Accepts 3x32x32 only (a Linear after a fixed flatten)."""
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.Flatten(), nn.Linear(4 * 32 * 32, 2))


class DenseLayer(nn.Module):
    """A DenseNet layer: BN-ReLU-conv on the concatenation of every earlier map."""

    def __init__(self, cin: int, growth: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(cin)
        self.conv = nn.Conv2d(cin, growth, 3, padding=1, bias=False)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        return self.conv(F.relu(self.norm(torch.cat(features, 1))))


class TinyDense(nn.Module):
    """Three dense layers (their concatenations take 1, 2 and 3 maps), then a classifier."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.layers = nn.ModuleList(DenseLayer(8 + 4 * k, 4) for k in range(3))
        self.fc = nn.Linear(20, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [self.stem(x)]
        for layer in self.layers:
            features.append(layer(features))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(torch.cat(features, 1), 1), 1))


def tiny_dense() -> nn.Module:
    return TinyDense()


class TinyConvNeXt(nn.Module):
    """A stem and two of torchvision's ConvNeXt blocks (permutes, a channels-last layer norm and
    linears, a layer scale held as a parameter of the block itself), then a classifier."""

    def __init__(self) -> None:
        super().__init__()
        from torchvision.models.convnext import CNBlock

        self.stem = nn.Conv2d(3, 16, 4, stride=4)
        self.blocks = nn.Sequential(CNBlock(16, 1e-6, 0.0), CNBlock(16, 1e-6, 0.1))
        self.head = nn.Linear(16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.stem(x)).mean((2, 3)))


def tiny_convnext() -> nn.Module:
    return TinyConvNeXt()
