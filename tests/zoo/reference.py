"""Shared helpers for reference-model tests: build once, count params, MACs and Keras depth.

Reference models are built with random weights (never downloaded) and give independent figures:
torchvision / timm parameter counts and FlopCounterMode MACs, Keras count_params and the Keras
model's own topological depth.
"""

from __future__ import annotations

import os
from collections import Counter
from functools import cache
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "torch")


def torch_param_counts(model: Any) -> tuple[int, int]:
    """(sum of parameters, sum of batch-norm running mean/var buffers) of a torch module."""
    params = sum(p.numel() for p in model.parameters())
    stats = sum(b.numel() for name, b in model.named_buffers()
                if name.endswith(("running_mean", "running_var")))
    return params, stats


def torch_param_shapes(model: Any) -> Counter:
    """Multiset of parameter tensor shapes (as tuples)."""
    return Counter(tuple(p.shape) for p in model.parameters())


def torch_conv_linear_macs(model: Any, shape: tuple[int, ...]) -> int:
    """conv + linear MACs of one eval-mode forward pass (FlopCounterMode FLOPs / 2)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    model.eval()
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(torch.zeros(1, *shape))
    total = counter.get_total_flops()
    assert total % 2 == 0
    return total // 2


def keras_parents(model: Any) -> dict[str, list[Any]]:
    """Layer name -> the layers of a functional Keras model that feed it (from its inbound
    nodes' input tensors), in the model's layer order."""
    layers = {id(layer) for layer in model.layers}
    parents: dict[str, list[Any]] = {layer.name: [] for layer in model.layers}
    for layer in model.layers:
        for node in layer._inbound_nodes:
            for tensor in node.input_tensors:
                history = tensor._keras_history
                parent = history.operation if hasattr(history, "operation") else history[0]
                if id(parent) in layers and parent not in parents[layer.name]:
                    parents[layer.name].append(parent)
    return parents


def keras_depth(model: Any) -> int:
    """Layers on the longest input -> output path of a functional Keras model, input included."""
    parents = {name: [p.name for p in ps] for name, ps in keras_parents(model).items()}

    @cache
    def depth(name: str) -> int:
        return 1 + max((depth(p) for p in parents[name]), default=0)

    return max(depth(name) for name in parents)


def keras_param_shapes(model: Any) -> Counter:
    """Multiset of weight shapes of a Keras model, converted to torch layout (channels first).

    Conv kernels [kh, kw, in, out] -> [out, in, kh, kw]; dense [in, out] -> [out, in].
    """
    out: Counter = Counter()
    for w in model.weights:
        shape = tuple(w.shape)
        if len(shape) == 4:
            shape = (shape[3], shape[2], shape[0], shape[1])
        elif len(shape) == 2:
            shape = (shape[1], shape[0])
        out[shape] += 1
    return out


def spec_param_shapes(spec: Any, variant: str | None = None, layout: str = "torch",
                      overrides: dict | None = None) -> Counter:
    """Multiset of the weight shapes a spec's nodes imply, channels first.

    layout "torch": ``parameters()`` only (batch-norm running statistics are buffers); depthwise
    kernels ``(C*m, 1, kh, kw)``. layout "keras": every Keras weight, as ``keras_param_shapes``
    converts it: batch-norm moving mean/variance included, depthwise kernels ``(m, C, kh, kw)``,
    the Normalization layer's mean, variance and count.
    """
    from cnncost import api

    keras = layout == "keras"
    graph, _ = api.build_graph(spec, variant=variant, overrides=overrides)
    out: Counter = Counter()
    for node in graph:
        a, c = node.attrs, node.in_shapes[0][0] if node.in_shapes else None
        if node.op == "conv2d":
            shapes = [(a["out"], c // a["groups"], *a["kernel"])] + [(a["out"],)] * a["bias"]
        elif node.op in ("depthwise_conv2d", "separable_conv2d"):
            m = a["multiplier"]
            shapes = [(m, c, *a["kernel"]) if keras else (c * m, 1, *a["kernel"])]
            if node.op == "separable_conv2d":
                shapes += [(a["out"], c * m, 1, 1)] + [(a["out"],)] * a["bias"]
            else:
                shapes += [(c * m,)] * a["bias"]
        elif node.op == "linear":
            shapes = [(a["out"], c)] + [(a["out"],)] * a["bias"]
        elif node.op == "batch_norm":
            shapes = [(c,)] * (a["scale"] + a["center"] + 2 * keras)
        elif node.op == "normalization":
            shapes = [(c,), (c,), ()]
        else:
            assert node.opdef.params(node.context).total == 0, f"{node.name}: {node.op}"
            shapes = []
        out.update(shapes)
    return out
