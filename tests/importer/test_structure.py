"""The spec an import writes is readable and exact: blocks for submodules of one class, repeats
for runs of them, parameters for what a user changes, documented figures of the original.

The model is ``tests/importer/models.py``'s TinyResNet: six residual blocks (the first of the
second stage with a projection), a squeeze-style gate, a classifier.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from cnncost import api
from cnncost.importer.emit import float_text, flow

from .conftest import MODELS, imported


def test_blocks_repeats_and_parameters(tmp_path: Path) -> None:
    path, result = imported(f"{MODELS}:tiny_resnet", tmp_path, input_shape=(3, 32, 32))
    spec = yaml.safe_load(result.text)
    # the six residual blocks are one block, with and without the projection
    assert list(spec["blocks"]) == ["block"]
    block = spec["blocks"]["block"]
    assert block["args"] == {"out": 16, "stride": 1, "with_down": False}
    layers = {next(iter(item.values()))["name"]: item for item in block["layers"]}
    assert layers["down.0"]["conv2d"]["when"] == "with_down"
    assert layers["add"]["add"] == {"name": "add", "inputs": ["bn2", "down.1|input"],
                                    "inplace": True}  # out += identity: in place
    # ... called from two repeats
    repeats = [item["repeat"] for item in spec["layers"] if "repeat" in item]
    assert repeats == [
        {"name": "stage1", "times": 3, "block": "block", "args": {"out": 8}},
        {"name": "stage2", "times": 3, "block": "block",
         "args": {"stride": "2 if i == 0 else 1", "with_down": "i == 0"}}]
    # the input size and the classes stay parameters
    assert spec["params"] == {"resolution": 32, "num_classes": 10}
    assert spec["input"] == {"channels": 3, "height": "resolution", "width": "resolution"}
    assert {"linear": {"name": "fc", "out": "num_classes"}} in spec["layers"]
    assert spec["defaults"] == {"conv2d": {"bias": False}, "batch_norm": {"counter": True}}
    # the original's own figures, checked by validate
    assert [(d["metric"], d["value"]) for d in spec["documented"]] == [
        ("params_trainable", 16970), ("params_non_trainable", 320), ("flops", 14074176)]
    assert api.validate(path) == ()
    # node names are the module names, every one
    graph, _ = api.build_graph(path)
    assert {"stage2.0.down.0", "stage2.0.conv1", "stage1.2.add", "stem", "fc"} <= {
        n.name for n in graph}


def test_parameters_change_the_network(tmp_path: Path) -> None:
    path, _ = imported(f"{MODELS}:tiny_resnet", tmp_path, input_shape=(3, 32, 32))
    base = api.analyze(path)
    bigger = api.analyze(path, overrides={"resolution": 64, "num_classes": 3})
    assert bigger.totals.output_shapes == ((3,),)
    # 7 classes fewer: 7 * (16 weights + 1 bias) fewer fc parameters
    assert bigger.totals.params_trainable == base.totals.params_trainable - 7 * (16 + 1)
    # the convolutions cost 4x at twice the resolution
    assert bigger.totals.macs > 3 * base.totals.macs


def test_a_branching_model_reads_its_inputs_by_name(tmp_path: Path) -> None:
    path, result = imported(f"{MODELS}:branches", tmp_path, input_shape=(3, 16, 16))
    spec = yaml.safe_load(result.text)
    assert spec["layers"][1] == {"conv2d": {"name": "b", "input": "input", "out": 6,
                                            "kernel": 3, "padding": 1}}
    assert spec["layers"][2] == {"concat": {"name": "concat", "inputs": ["a", "b"]}}
    assert "blocks" not in spec  # nothing repeats
    assert api.validate(path) == ()


def test_the_hook_trace_takes_over_where_fx_cannot(tmp_path: Path) -> None:
    path, result = imported(f"{MODELS}:size_dependent", tmp_path, input_shape=(3, 32, 32))
    assert result.tracer == "hooks"
    assert any("torch.fx could not trace" in note for note in result.notes)
    ops = [next(iter(item)) for item in yaml.safe_load(result.text)["layers"]]
    # the branch taken at 32x32, the conv's in-place ReLU, the pool, flatten, classifier
    assert ops == ["avg_pool2d", "conv2d", "relu", "adaptive_avg_pool2d", "flatten", "linear"]
    assert api.validate(path) == ()


def test_yaml_helpers() -> None:
    assert float_text(1e-5) == "1.0e-05"  # YAML 1.1 reads 1e-05 as a string
    assert float_text(0.001) == "0.001"
    assert float_text(1e20) == "1.0e+20"
    text = flow({"name": "a" * 30, "args": {f"k{i}": "x" * 10 for i in range(8)}}, 10)
    assert all(len(line) + (10 if i == 0 else 0) <= 100
               for i, line in enumerate(text.splitlines()))
    assert yaml.safe_load(text) == {"name": "a" * 30, "args": {f"k{i}": "x" * 10
                                                               for i in range(8)}}


def test_a_merge_of_every_input_goes_before_the_call(tmp_path: Path) -> None:
    """DenseNet's layers concatenate 1, 2, 3... maps: written before each call, the
    concatenation leaves one block of one input for all of them."""
    path, result = imported(f"{MODELS}:tiny_dense", tmp_path, input_shape=(3, 16, 16))
    spec = yaml.safe_load(result.text)
    assert list(spec["blocks"]) == ["dense_layer"]
    assert spec["blocks"]["dense_layer"]["layers"][0] == {
        "batch_norm": {"name": "norm", "counter": True}}
    assert spec["layers"][1:7] == [
        {"concat": {"name": "layers.0.concat"}},
        {"dense_layer": {"name": "layers.0"}},
        {"concat": {"name": "layers.1.concat", "inputs": ["stem", "layers.0"]}},
        {"dense_layer": {"name": "layers.1"}},
        {"concat": {"name": "layers.2.concat", "inputs": ["stem", "layers.0", "layers.1"]}},
        {"dense_layer": {"name": "layers.2"}}]
    assert api.validate(path) == ()
