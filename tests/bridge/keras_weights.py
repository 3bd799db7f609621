"""Copy a Keras model's weights into a spec's bridged module, for output-equality tests.

Keras leaves many layers unnamed (conv2d_12, batch_normalization_3) and creates some in another
order than the spec lists them (a residual shortcut before the branch it bypasses), so the join is
structural: every weighted layer on both sides gets a signature (its weight shapes in torch
layout, the number of weighted layers on the longest path from the input to it, and from it to
the output), and Keras layers take the first unused spec module with the same signature. Where
the join were wrong, the outputs would differ and the test fail: it can never pass by accident.

Torch layout: conv kernels (kh, kw, in, out) -> (out, in, kh, kw); depthwise (kh, kw, C, m) ->
(C*m, 1, kh, kw); dense (in, out) -> (out, in), with the rows of a Dense after a Flatten of an
(H, W, C) map put in (C, H, W) order, since the bridge flattens channels first.
"""

from __future__ import annotations

from graphlib import TopologicalSorter
from typing import Any

import numpy as np
import torch
from zoo.reference import keras_parents  # tests/ is the root of both test packages

from cnncost.bridge.module import GraphModule
from cnncost.graph.layergraph import LayerGraph


def _ranks(parents: dict[str, set[str]], weighted: set[str]) -> dict[str, tuple[int, int]]:
    """(weighted layers on the longest path from an input to n, from n to an output), for the
    weighted n; computed in topological order (NASNet is too deep for recursion)."""
    order = list(TopologicalSorter(parents).static_order())
    depth: dict[str, int] = {}
    for n in order:
        depth[n] = (n in weighted) + max((depth[p] for p in parents.get(n, ())), default=0)
    height: dict[str, int] = {}
    children: dict[str, list[str]] = {n: [] for n in order}
    for n, ps in parents.items():
        for p in ps:
            children[p].append(n)
    for n in reversed(order):
        height[n] = (n in weighted) + max((height[c] for c in children[n]), default=0)
    return {n: (depth[n], height[n]) for n in weighted}


def _torch_layout(layer: Any, weight: Any, parents: list[Any]) -> torch.Tensor:
    import keras

    t = torch.as_tensor(np.asarray(keras.ops.convert_to_numpy(weight)))
    depthwise = type(layer).__name__ == "DepthwiseConv2D" or weight.path.endswith(
        "depthwise_kernel")
    if t.dim() == 4 and depthwise:
        kh, kw, c, m = t.shape
        return t.permute(2, 3, 0, 1).reshape(c * m, 1, kh, kw)
    if t.dim() == 4:
        return t.permute(3, 2, 0, 1)
    if t.dim() == 2:
        flat = [p for p in parents if type(p).__name__ == "Flatten"]
        if flat and len(flat[0].input.shape) == 4:
            h, w, c = flat[0].input.shape[1:]
            t = t.reshape(h, w, c, -1).permute(2, 0, 1, 3).reshape(c * h * w, -1)
        return t.t()
    return t


def copy_keras_weights(model: Any, module: GraphModule, graph: LayerGraph) -> dict[str, str]:
    """Load every weight of the Keras ``model`` into ``module`` (see the module docstring);
    returns the join: Keras layer name -> spec node name.

    Raises:
        AssertionError: the two sides do not have the same weighted layers.
    """
    ours = {name: leaf for name, leaf in module.named_leaves() if leaf.state_dict()}
    theirs = {layer.name: layer for layer in model.layers if layer.weights}
    assert len(ours) == len(theirs), (len(ours), len(theirs))
    parents = keras_parents(model)
    keras_ranks = _ranks({n: {p.name for p in ps} for n, ps in parents.items()}, set(theirs))
    spec_ranks = _ranks({n.name: set(n.inputs) for n in graph}, set(ours))
    free = list(ours)
    joined: dict[str, str] = {}
    for name, layer in theirs.items():
        weights = [_torch_layout(layer, w, parents[name]) for w in layer.weights]
        signature = ([tuple(w.shape) for w in weights], keras_ranks[name])
        match = next((n for n in free if ([tuple(v.shape) for v in ours[n].state_dict().values()],
                                           spec_ranks[n]) == signature), None)
        assert match is not None, f"no spec module for Keras layer {name} {signature}"
        free.remove(match)
        joined[name] = match
        state = ours[match].state_dict()
        ours[match].load_state_dict({k: w.to(v.dtype) for (k, v), w in zip(state.items(),
                                                                             weights)})
    return joined


def spread_batch_norm(model: Any, seed: int = 0) -> None:
    """Give every Keras BatchNormalization random gamma, beta and moving statistics (their
    initial 1, 0, 0, 1 would hide a wrong epsilon or a missing scale)."""
    generator = torch.Generator().manual_seed(seed)
    for layer in model.layers:
        if type(layer).__name__ != "BatchNormalization":
            continue
        for w in layer.weights:
            noise = torch.randn(tuple(w.shape), generator=generator) * 0.1
            if w.path.endswith("moving_variance"):
                w.assign((1 + noise.abs()).numpy())
            elif w.path.endswith("gamma"):
                w.assign((1 + noise).numpy())
            else:
                w.assign(noise.numpy())
