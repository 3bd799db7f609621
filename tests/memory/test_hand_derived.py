"""The eager memory model on small graphs, every live tensor listed by hand.

CPU semantics (no allocator rounding) unless a test says otherwise; float32 (4 bytes); batch 2.
An input of (4, 8, 8) is 2 * 256 = 512 elements = 2,048 bytes, and so is every (4, 8, 8) map.
``peak_bytes`` counts everything the device holds: parameters, buffers, the input batch (and in
training the int64 labels, 16 bytes) and the activations.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from cnncost import api
from cnncost.errors import SpecError
from cnncost.memory.models import MemoryConfig, analyze_memory

MAP = 2 * 4 * 8 * 8 * 4  # one (4, 8, 8) map at batch 2, float32: 2,048 bytes


def graph(tmp_path: Path, layers: list, shape: tuple[int, ...] = (4, 8, 8), **extra):
    path = tmp_path / "g.yaml"
    path.write_text(yaml.safe_dump({"name": "g", "input": {"shape": list(shape)}, **extra,
                                    "layers": layers}), encoding="utf-8")
    return api.build_graph(path)[0]


def conv(name: str, out: int = 4, kernel: int = 3, **kw) -> dict:
    return {"conv2d": {"name": name, "out": out, "kernel": kernel, "padding": kernel // 2,
                       "bias": False, **kw}}


def inference(g, **kw):
    return analyze_memory(g, MemoryConfig(batch=2, device="cpu", **kw))


def test_residual_block_inference(tmp_path: Path) -> None:
    # conv (144 weights) -> batch_norm (scale, offset: 8 trainable; running mean and variance:
    # 8 buffers) -> relu -> add(relu, input) -> relu
    g = graph(tmp_path, [conv("c"), {"batch_norm": {"name": "bn"}}, {"relu": {"name": "r"}},
                         {"add": {"name": "sum", "inputs": ["r", "input"]}},
                         {"relu": {"name": "out"}}])
    m = inference(g)
    assert (m.weights_bytes, m.buffers_bytes, m.input_bytes) == (152 * 4, 8 * 4, MAP)
    base = 152 * 4 + 8 * 4 + MAP
    # c: input + c                 (the input is the caller's, the add reads it later)
    # bn: + bn, then c dies        -> at most input + c + bn = input + 2 maps
    # r: + r, then bn dies; sum: + sum, then r dies; out: + out, then sum dies
    assert m.activation_peak_bytes == 2 * MAP
    assert m.peak_bytes == base + 2 * MAP
    assert m.layer("bn").peak_bytes == base + 2 * MAP
    assert m.layer("bn").after_bytes == base + MAP  # c freed after its last reader
    assert m.layer("sum").before_bytes == base + MAP  # only r is alive besides the input


def test_in_place_relu_and_sum_allocate_nothing(tmp_path: Path) -> None:
    layers = [conv("c"), {"batch_norm": {"name": "bn"}}, {"relu": {"name": "r"}},
              conv("c2"), {"add": {"name": "sum", "inputs": ["c2", "r"]}},
              {"relu": {"name": "out"}}]
    eager = inference(graph(tmp_path, layers))
    for layer in layers[2:]:
        key = next(iter(layer))
        if key in ("relu", "add"):
            layer[key]["inplace"] = True
    in_place = inference(graph(tmp_path, layers))
    # out of place, the relu, the sum and the final relu each allocate one map; in place none
    assert [in_place.layer(n).allocated_bytes for n in ("r", "sum", "out")] == [0, 0, 0]
    assert [eager.layer(n).allocated_bytes for n in ("r", "sum", "out")] == [MAP, MAP, MAP]
    # peak at c2 out of place: r, c2 and (bn died at r) -> 2 maps; in place the same two maps
    # (r is bn's storage); at sum out of place: c2 + r + sum = 3 maps, in place c2 + r = 2
    assert eager.activation_peak_bytes == 3 * MAP
    assert in_place.activation_peak_bytes == 2 * MAP


def test_inception_block_keeps_its_branches_for_the_concat(tmp_path: Path) -> None:
    # two branches read the input: a = 1x1 (2 ch), b = 1x1 (2 ch) -> 3x3 (2 ch); cat -> 4 ch
    half = MAP // 2
    g = graph(tmp_path, [
        conv("a", out=2, kernel=1), conv("b1", out=2, kernel=1, input="input"),
        conv("b2", out=2), {"concat": {"name": "cat", "inputs": ["a", "b2"]}}])
    m = inference(g)
    base = m.weights_bytes + MAP
    assert m.layer("a").peak_bytes == base + half  # a
    assert m.layer("b1").peak_bytes == base + 2 * half  # a, b1
    assert m.layer("b2").peak_bytes == base + 3 * half  # a, b1, b2; then b1 dies
    assert m.layer("cat").peak_bytes == base + 2 * half + MAP  # a, b2, cat
    assert m.peak_bytes == base + 2 * half + MAP


def test_dense_block_concatenations_grow(tmp_path: Path) -> None:
    # x0 = input (4 ch); x1 = conv(x0) (2 ch); cat01 = [x0, x1] (6); x2 = conv(cat01) (2);
    # cat012 = [x0, x1, x2] (8)
    ch = MAP // 4  # one channel's map: 512 bytes
    g = graph(tmp_path, [
        conv("x1", out=2), {"concat": {"name": "cat01", "inputs": ["input", "x1"]}},
        conv("x2", out=2), {"concat": {"name": "cat012", "inputs": ["input", "x1", "x2"]}}])
    m = inference(g)
    base = m.weights_bytes + MAP
    assert m.layer("cat01").peak_bytes == base + 2 * ch + 6 * ch  # x1, cat01
    assert m.layer("x2").peak_bytes == base + 2 * ch + 6 * ch + 2 * ch  # cat01 dies after x2
    assert m.layer("cat012").peak_bytes == base + 2 * ch + 2 * ch + 8 * ch


def test_training_saves_what_autograd_saves(tmp_path: Path) -> None:
    # conv (no bias) -> relu -> max_pool 2x2 (output (4, 4, 4): 512 bytes, int64 indices 1,024)
    g = graph(tmp_path, [conv("c"), {"relu": {"name": "r"}},
                         {"max_pool2d": {"name": "p", "kernel": 2}}])
    m = analyze_memory(g, MemoryConfig(mode="training", batch=2, device="cpu"))
    step = m.steps[-1]
    assert step.saved["c"] == MAP  # the conv saves its input (the weight is a parameter)
    assert step.saved["r"] == MAP  # relu saves its result
    assert step.saved["p"] == MAP + 2 * 4 * 4 * 4 * 8  # max_pool: its input and the indices
    # at the end of the forward and loss: relu out (saved twice, stored once), indices, the
    # pool's output, the loss (a mean: 4 bytes); the conv's output died after relu read it
    assert m.saved_bytes == MAP + 1024 + 512 + 4
    assert m.gradients_bytes == 144 * 4 and m.optimizer_bytes == 0


@pytest.mark.parametrize("optimizer, implementation, state, temporaries", [
    ("sgd", "for_loop", 0, 0),
    ("sgd_momentum", "for_loop", 260, 0),  # one buffer per parameter
    # exp_avg, exp_avg_sq, and a float32 step counter per parameter tensor (2 tensors)
    ("adam", "for_loop", 520 + 8, 2 * 240),  # sqrt and div of the 240-byte weight at once
    ("adamw", "foreach", 520 + 8, 260),  # one list the size of all parameters
])
def test_optimizer_state_and_step(tmp_path: Path, optimizer: str, implementation: str,
                                  state: int, temporaries: int) -> None:
    # linear 12 -> 5 with bias: 65 parameters, 260 bytes in two tensors (240 and 20)
    g = graph(tmp_path, [{"linear": {"name": "fc", "out": 5}}], shape=(12,))
    m = analyze_memory(g, MemoryConfig(mode="training", batch=2, device="cpu",
                                       optimizer=optimizer, implementation=implementation))
    assert m.optimizer_bytes == state
    step = {p.phase: p.peak_bytes for p in m.phases}["optimizer"]
    # in the step: parameters, input (96) and labels (16), gradients, state, temporaries
    assert step == 260 + 96 + 16 + 260 + state + temporaries


def test_autocast_saves_half_precision_copies(tmp_path: Path) -> None:
    g = graph(tmp_path, [conv("c", bias=True), {"relu": {"name": "r"}}])
    fp32 = analyze_memory(g, MemoryConfig(mode="training", batch=2, device="cuda"))
    bf16 = analyze_memory(g, MemoryConfig(mode="training", batch=2, device="cuda",
                                          precision="bfloat16-autocast"))
    # float32: the conv saves the input (2,048 B); bfloat16: the input's bfloat16 copy
    # (1,024 B) and the weight's cached bfloat16 copy (288 B, one 512-byte CUDA block)
    assert fp32.steps[-1].saved["c"] == MAP
    assert bf16.steps[-1].saved["c"] == MAP // 2 + 512
    assert bf16.steps[-1].saved["r"] == MAP // 2  # relu's bfloat16 result


def test_softmax_reads_a_float16_input_directly_on_cuda(tmp_path: Path) -> None:
    g = graph(tmp_path, [conv("c"), {"softmax": {"name": "s"}}])
    runs = {precision: analyze_memory(g, MemoryConfig(mode="training", batch=2, device="cuda",
                                                      precision=precision))
            for precision in ("bfloat16-autocast", "float16-autocast")}
    # CUDA autocast runs softmax in float32: a bfloat16 input (1,024 B) is first cast to a
    # float32 copy (2,048 B) that lives while softmax runs; a float16 input is read as it is
    # (_softmax with half_to_float), so the float16 peak at s is that copy lower
    bf16, fp16 = (runs[p].steps[-1] for p in ("bfloat16-autocast", "float16-autocast"))
    assert bf16.saved["s"] == fp16.saved["s"] == MAP  # the float32 result, both
    assert bf16.forward["s"][1] - fp16.forward["s"][1] == MAP


def test_cuda_rounds_every_allocation_to_512_bytes(tmp_path: Path) -> None:
    # a (1, 5, 5) input at batch 1: 100 bytes, one 512-byte block on CUDA
    g = graph(tmp_path, [{"relu": {"name": "r"}}], shape=(1, 5, 5))
    cuda = analyze_memory(g, MemoryConfig(batch=1, device="cuda"))
    cpu = analyze_memory(g, MemoryConfig(batch=1, device="cpu"))
    assert (cuda.input_bytes, cuda.peak_bytes) == (512, 1024)
    assert (cpu.input_bytes, cpu.peak_bytes) == (100, 200)


def test_a_block_keeps_its_input_until_it_returns(tmp_path: Path) -> None:
    # stem -> blk.a -> blk.b: blk is called with stem's output, which lives until blk.b returns
    # (nested modules); with flat names it dies after a, its last reader
    nested = graph(tmp_path, [conv("stem"), conv("blk.a"), conv("blk.b")])
    flat = graph(tmp_path, [conv("stem"), conv("a"), conv("b")])
    base = inference(flat).weights_bytes + MAP
    assert inference(flat).layer("b").peak_bytes == base + 2 * MAP  # a, b
    assert inference(nested).layer("blk.b").peak_bytes == base + 3 * MAP  # stem, a, b


def test_an_in_place_op_on_a_shared_tensor_is_a_located_error(tmp_path: Path) -> None:
    g = graph(tmp_path, [conv("c"), {"relu": {"name": "r", "inplace": True}},
                         {"add": {"name": "sum", "inputs": ["r", "c"]}}])
    with pytest.raises(SpecError) as err:
        inference(g)
    (problem,) = err.value.problems
    assert problem.kind == "inplace" and problem.layer == "r"
    assert "'c'" in problem.message and "'sum'" in problem.message
    assert problem.location is not None and problem.location.line > 0


def test_liveness_and_sum_models_reproduce_the_report_figures(tmp_path: Path) -> None:
    for spec in ("specs/resnet.yaml@resnet18", "specs/inception_v1.yaml"):
        path, variant = api.parse_spec_ref(spec)
        g, _ = api.build_graph(path, variant=variant)
        costs = api.analyze(path, variant=variant, batch=2)
        for model, figure in (("liveness", costs.totals.peak_activation_bytes),
                              ("sum", costs.totals.activation_bytes)):
            m = analyze_memory(g, MemoryConfig(batch=2, device="cpu", model=model))
            # the report's figures count the input as an activation; the model as the input
            assert m.peak_bytes == costs.totals.weight_bytes + figure


def test_blocks_aggregate_their_layers(tmp_path: Path) -> None:
    g = graph(tmp_path, [conv("stem"), conv("blk.a"), conv("blk.b"), conv("head")])
    m = analyze_memory(g, MemoryConfig(mode="training", batch=2, device="cpu"))
    blk = m.block("blk")
    a, b = m.layer("blk.a"), m.layer("blk.b")
    assert (blk.level, blk.layers) == (1, 2)
    assert blk.peak_bytes == max(a.peak_bytes, b.peak_bytes)
    assert blk.saved_bytes == a.saved_bytes + b.saved_bytes == 2 * MAP  # each conv's input
    assert blk.allocated_bytes == a.allocated_bytes + b.allocated_bytes
    from cnncost.cost.training import training_cost

    t = training_cost(g, "torchvision", 2)
    # 3x3 conv 4 -> 4 on 8x8: 2 * 64 * 4 * 36 = 18,432 MACs at batch 2; forward 2x, backward:
    # input and weight gradients 4x
    assert t.block_flops()["blk"] == (2 * 2 * 18432, 2 * 4 * 18432)
