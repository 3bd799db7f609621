"""What the CUDA caching allocator really holds while the zoo runs: inference and training steps.

Run on a machine with a CUDA GPU, in the repository root (``device_sweep.sh`` runs it)::

    python3 benchmarks/gpu/memory_probe.py --out reports/gpu/memory --budget 200

These are raw measurements, taken once and committed, that cnncost's analytic memory figures are
compared with (by a test that needs no GPU). Nothing here is analytic; the probe only reads
``torch.cuda.memory_allocated`` / ``max_memory_allocated`` around what it runs.

Subjects: the module the torch bridge builds from a spec variant (``spec:<model>@<variant>``,
built exactly as ``cnncost check`` builds it), and, where the variant has one, its reference
implementation (``torchvision:<name>`` or ``timm:<name>``, built as its library builds it, with
in-place ReLUs where the library has them). For each subject:

- **inference**: ``eval()``, ``no_grad``, module and input in the run's dtype. One warm-up
  forward (so persistent library workspaces, e.g. cuBLAS', are in the baseline), then an
  uninstrumented forward (``peak``), then an instrumented one: for every node (spec) or leaf
  module (reference) the allocated bytes before and after it, its peak, and the peak in the gap
  since the previous node (functional operations of a reference's ``forward``).
- **training**: ``train()``, float32 weights, optional autocast (``autocast_bfloat16``), one
  optimizer (``sgd``: no momentum; ``sgd_momentum``: 0.9; ``adam``; ``adamw``; torch's default
  implementation for the device, foreach on CUDA). Three steps of
  ``zero_grad(set_to_none=True); out = model(x); loss = cross_entropy(out, y) (2-D outputs, else
  the mean); loss.backward(); opt.step()``: for each step the allocated bytes at its start, after
  the forward, backward and step, and the peak of each phase. The third step is instrumented:
  per node, the bytes after it in the forward (what autograd keeps grows node by node), and the
  bytes allocated when the gradient of its output is ready in the backward.

Each subject's runs go to ``<out>/<subject>.json`` as soon as they finish; an out-of-memory run
is recorded with ``status: "out of memory"``. No subject starts after ``--budget`` seconds.
``--dry-run`` runs everything on the CPU with zero memory readings (to test the script).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from cnncost import api  # after the path insert
from cnncost.bridge.module import GraphModule, to_module

SPECS = REPO / "specs"
OPTIMIZERS = ("sgd", "sgd_momentum", "adam", "adamw")
PRECISIONS = ("float32", "autocast_bfloat16")


# --------------------------------------------------------------------------- readings


class Meter:
    """The CUDA allocator's counters (zeros in a dry run)."""

    def __init__(self, dry: bool) -> None:
        self.dry = dry

    def alloc(self) -> int:
        return 0 if self.dry else torch.cuda.memory_allocated()

    def peak(self) -> int:
        return 0 if self.dry else torch.cuda.max_memory_allocated()

    def reset(self) -> None:
        if not self.dry:
            torch.cuda.reset_peak_memory_stats()

    def sync(self) -> None:
        if not self.dry:
            torch.cuda.synchronize()

    def clear(self) -> None:
        if not self.dry:
            torch.cuda.synchronize()
            torch.cuda.empty_cache()


# --------------------------------------------------------------------------- subjects


@dataclass
class Subject:
    name: str  # spec:resnet@resnet50, torchvision:resnet50, timm:inception_v4
    build: Callable[[], nn.Module]
    input_shape: Callable[[], tuple[int, ...]]  # per sample (computed when the subject runs)
    pair: str | None = None  # the spec variant a reference belongs to
    runs: list[dict[str, Any]] = field(default_factory=list)


def spec_subject(spec: str, variant: str | None) -> Subject:
    """The bridge's module of a spec variant; the graph is expanded only when it runs."""
    loaded = api.load(SPECS / spec)
    graph_of = lru_cache(maxsize=1)(lambda: api.build_graph(loaded, variant=variant)[0])

    def shape() -> tuple[int, ...]:
        graph = graph_of()
        (inp,) = graph.input_names
        return graph.node(inp).out_shape

    label = f"spec:{loaded.spec.name}" + (f"@{variant}" if variant else "")
    return Subject(label, lambda: to_module(graph_of()), shape)


def tv(name: str, **kwargs: Any) -> Callable[[], nn.Module]:
    def build() -> nn.Module:
        import torchvision

        return getattr(torchvision.models, name)(weights=None, **kwargs)
    return build


def tm(name: str) -> Callable[[], nn.Module]:
    def build() -> nn.Module:
        import timm

        return timm.create_model(name, pretrained=False)
    return build


# spec file, variant, reference label, builder, input side (as tests/bridge's reference table)
REFERENCES: list[tuple[str, str, str, Callable[[], nn.Module], int]] = [
    ("resnet.yaml", "resnet50", "torchvision:resnet50", tv("resnet50"), 224),
    ("vgg.yaml", "vgg16_torchvision", "torchvision:vgg16", tv("vgg16"), 224),
    ("efficientnet.yaml", "torchvision_b0", "torchvision:efficientnet_b0",
     tv("efficientnet_b0"), 224),
    ("resnet.yaml", "resnet18", "torchvision:resnet18", tv("resnet18"), 224),
    ("inception_v1.yaml", "torchvision", "torchvision:googlenet",
     tv("googlenet", aux_logits=False, init_weights=False), 224),
    ("alexnet.yaml", "torchvision", "torchvision:alexnet", tv("alexnet"), 224),
    ("mobilenet_v2.yaml", "torchvision", "torchvision:mobilenet_v2", tv("mobilenet_v2"), 224),
    ("densenet.yaml", "densenet121", "torchvision:densenet121", tv("densenet121"), 224),
    ("inception_v3.yaml", "torchvision_noaux", "torchvision:inception_v3",
     tv("inception_v3", aux_logits=False, init_weights=False, transform_input=True), 299),
    ("vgg.yaml", "vgg16_bn_torchvision", "torchvision:vgg16_bn", tv("vgg16_bn"), 224),
    ("resnet.yaml", "resnet101", "torchvision:resnet101", tv("resnet101"), 224),
    ("se_resnet.yaml", "seresnet50", "timm:seresnet50", tm("seresnet50"), 224),
    ("xception.yaml", "timm", "timm:legacy_xception", tm("legacy_xception"), 299),
    ("inception_v4.yaml", "timm", "timm:inception_v4", tm("inception_v4"), 299),
    ("inception_resnet_v2.yaml", "timm", "timm:inception_resnet_v2",
     tm("inception_resnet_v2"), 299),
    ("efficientnet.yaml", "torchvision_b4", "torchvision:efficientnet_b4",
     tv("efficientnet_b4"), 380),
    ("nasnet.yaml", "large", "timm:nasnetalarge", tm("nasnetalarge"), 331),
]


def full_grid() -> list[dict[str, Any]]:
    """Inference at batch 64 in float32 and bfloat16; a training step at batch 64 for every
    precision and optimizer; and the zoo's training run (batch 32, float32, SGD)."""
    runs: list[dict[str, Any]] = [{"mode": "inference", "batch": 64, "dtype": "float32"},
                                  {"mode": "inference", "batch": 64, "dtype": "bfloat16"}]
    for precision in PRECISIONS:
        for opt in OPTIMIZERS:
            runs.append({"mode": "training", "batch": 64, "precision": precision,
                         "optimizer": opt})
    runs.append({"mode": "training", "batch": 32, "precision": "float32", "optimizer": "sgd"})
    return runs


BASIC = [{"mode": "inference", "batch": 64, "dtype": "float32"},
         {"mode": "training", "batch": 32, "precision": "float32", "optimizer": "sgd"}]


def plan(specs: Path = SPECS) -> Iterator[tuple[Subject, list[dict[str, Any]]]]:
    """Subjects in priority order: the three models of the full grid (spec and reference), the
    other reference pairs, every spec's default variant, then every other variant."""
    seen: set[tuple[str, str | None]] = set()
    for i, (spec, variant, label, build, side) in enumerate(REFERENCES):
        grid = full_grid() if i < 3 else BASIC
        subject = spec_subject(spec, variant)
        seen.add((spec, variant))
        yield subject, grid
        yield Subject(label, build, lambda side=side: (3, side, side), pair=subject.name), grid
    rest: list[tuple[str, str | None]] = []
    for path in sorted(specs.glob("*.yaml")):
        loaded = api.load(path)
        names: list[str | None] = list(loaded.spec.variants) or [None]
        default = loaded.spec.default_variant if loaded.spec.default_variant else names[0]
        rest.append((path.name, default))
        rest.extend((path.name, n) for n in names if n != default)
    defaults = {path: variant for path, variant in reversed(rest)}  # each spec's first entry
    order = ([(p, v) for p, v in rest if defaults[p] == v]
             + [(p, v) for p, v in rest if defaults[p] != v])
    for spec, variant in order:
        if (spec, variant) not in seen:
            yield spec_subject(spec, variant), BASIC


# --------------------------------------------------------------------------- instrumentation


@contextmanager
def node_hooks(model: nn.Module, meter: Meter, records: list[list[Any]],
               grads: list[list[Any]] | None) -> Iterator[None]:
    """Record [name, before, after, gap peak, peak] per node (or leaf module) while it runs; with
    ``grads``, [name, allocated] when the gradient of its output is computed."""

    def pre(name: str) -> None:
        gap = meter.peak()
        records.append([name, meter.alloc(), 0, gap, 0])
        meter.reset()

    def post(name: str, out: Any) -> None:
        rec = records[-1]
        rec[2], rec[4] = meter.alloc(), meter.peak()
        meter.reset()
        if grads is not None and isinstance(out, torch.Tensor) and out.requires_grad:
            out.register_hook(lambda g, name=name: grads.append([name, meter.alloc()]))

    if isinstance(model, GraphModule):
        original = model.forward

        def around(name: str, call: Callable[[], torch.Tensor]) -> torch.Tensor:
            pre(name)
            out = call()
            post(name, out)
            return out

        model.forward = lambda *inputs: model.run(inputs, around=around)  # type: ignore
        try:
            yield
        finally:
            model.forward = original  # type: ignore[method-assign]
        return
    handles = []
    for name, module in model.named_modules():
        if next(module.children(), None) is None:
            handles.append(module.register_forward_pre_hook(
                lambda m, a, name=name: pre(name)))
            handles.append(module.register_forward_hook(
                lambda m, a, out, name=name: post(name, out)))
    try:
        yield
    finally:
        for h in handles:
            h.remove()


def tensor_bytes(tensors: Iterator[torch.Tensor]) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


# --------------------------------------------------------------------------- runs


def inference(model: nn.Module, shape: tuple[int, ...], run: dict[str, Any], meter: Meter,
              device: torch.device) -> dict[str, Any]:
    dtype = getattr(torch, run["dtype"])
    model = model.to(device=device, dtype=dtype).eval()
    x = torch.randn(run["batch"], *shape, device=device, dtype=dtype)
    meter.clear()
    out: dict[str, Any] = {"allocated_before_warmup": meter.alloc()}
    with torch.no_grad():
        y = model(x)
        del y
        meter.clear()
        out["baseline"] = meter.alloc()
        meter.reset()
        y = model(x)
        meter.sync()
        out["peak"] = meter.peak()
        out["after"] = meter.alloc()
        out["output_bytes"] = tensor_bytes(iter(y if isinstance(y, tuple) else (y,)))
        del y
        meter.clear()
        layers: list[list[Any]] = []
        meter.reset()
        with node_hooks(model, meter, layers, None):
            y = model(x)
        meter.sync()
        out["instrumented_peak"] = meter.peak()
        del y
    out["layers"] = layers
    return out


def optimizer(name: str, params: Any) -> torch.optim.Optimizer:
    if name == "sgd":
        return torch.optim.SGD(params, lr=1e-3)
    if name == "sgd_momentum":
        return torch.optim.SGD(params, lr=1e-3, momentum=0.9)
    if name == "adam":
        return torch.optim.Adam(params, lr=1e-4)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=1e-4)
    raise ValueError(name)


def loss_of(out: Any, labels: torch.Tensor) -> torch.Tensor:
    outs = out if isinstance(out, tuple) else (out,)
    total = None
    for o in outs:
        term = F.cross_entropy(o, labels[: o.shape[0]] % o.shape[1]) if o.dim() == 2 else o.mean()
        total = term if total is None else total + term
    assert total is not None
    return total


def training(model: nn.Module, shape: tuple[int, ...], run: dict[str, Any], meter: Meter,
             device: torch.device) -> dict[str, Any]:
    model = model.to(device=device, dtype=torch.float32).train()
    opt = optimizer(run["optimizer"], model.parameters())
    x = torch.randn(run["batch"], *shape, device=device)
    labels = torch.randint(0, 1000, (run["batch"],), device=device)
    autocast = (torch.autocast(device.type, dtype=torch.bfloat16)
                if run["precision"] == "autocast_bfloat16" else nullcontext())
    meter.clear()
    result: dict[str, Any] = {"baseline": meter.alloc(), "steps": []}
    for step in range(3):
        s: dict[str, Any] = {"start": meter.alloc()}
        opt.zero_grad(set_to_none=True)
        s["after_zero_grad"] = meter.alloc()
        layers: list[list[Any]] = []
        grads: list[list[Any]] = []
        hooks = node_hooks(model, meter, layers, grads) if step == 2 else nullcontext()
        meter.reset()
        with hooks:
            with autocast:
                y = model(x)
                loss = loss_of(y, labels)
            meter.sync()
            s["forward_peak"], s["after_forward"] = meter.peak(), meter.alloc()
            del y
            s["after_forward_output_freed"] = meter.alloc()
            meter.reset()
            loss.backward()
            meter.sync()
        s["backward_peak"], s["after_backward"] = meter.peak(), meter.alloc()
        del loss
        s["grad_bytes"] = tensor_bytes(p.grad for p in model.parameters() if p.grad is not None)
        meter.reset()
        opt.step()
        meter.sync()
        s["step_peak"], s["after_step"] = meter.peak(), meter.alloc()
        s["optimizer_state_bytes"] = tensor_bytes(
            v for st in opt.state.values() for v in st.values()
            if isinstance(v, torch.Tensor) and v.dim() > 0)
        if step == 2:
            s["layers"], s["grads"] = layers, grads
        result["steps"].append(s)
    del opt
    return result


def measure(subject: Subject, run: dict[str, Any], meter: Meter,
            device: torch.device) -> dict[str, Any]:
    meter.clear()
    record: dict[str, Any] = dict(run)
    start = time.perf_counter()
    model = None
    try:
        torch.manual_seed(0)
        with device:  # parameters initialised on the device (fast for the large models)
            model = subject.build()
        model = model.to(device)
        record["param_bytes"] = tensor_bytes(p for p in model.parameters())
        record["buffer_bytes"] = tensor_bytes(b for b in model.buffers())
        record["params"] = sum(p.numel() for p in model.parameters())
        body = inference if run["mode"] == "inference" else training
        record.update(body(model, subject.input_shape(), run, meter, device))
        record["status"] = "ok"
    except torch.cuda.OutOfMemoryError as err:
        record["status"], record["message"] = "out of memory", str(err).splitlines()[0]
    except Exception as err:  # noqa: BLE001  # recorded, the probe goes on
        record["status"] = "error"
        record["message"] = "".join(traceback.format_exception_only(err)).strip()
    finally:
        del model
        meter.clear()
    record["seconds"] = round(time.perf_counter() - start, 3)
    return record


def slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=+-]", "_", name.replace(":", "-").replace("@", "-"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "reports/gpu/memory")
    parser.add_argument("--budget", type=float, default=200.0)
    parser.add_argument("--dry-run", action="store_true")
    parser.add_argument("--only", default=None, help="regex on subject names")
    parser.add_argument("--grid", choices=("plan", "basic"), default="plan")
    parser.add_argument("--batch", type=int, default=None, help="replace every run's batch")
    args = parser.parse_args(argv)
    meter = Meter(args.dry_run)
    device = torch.device("cpu" if args.dry_run else "cuda")
    torch.backends.cudnn.benchmark = False
    args.out.mkdir(parents=True, exist_ok=True)
    env = {"torch": torch.__version__, "cuda": str(torch.version.cuda),
           "cudnn": str(torch.backends.cudnn.version()), "cudnn_benchmark": False,
           "device": "cpu (dry run)" if args.dry_run else torch.cuda.get_device_name()}
    start = time.perf_counter()
    for subject, grid in plan():
        if args.only and not re.search(args.only, subject.name):
            continue
        if time.perf_counter() - start > args.budget:
            print(f"budget spent: {subject.name} and the subjects after it not run", flush=True)
            break
        path = args.out / f"{slug(subject.name)}.json"
        if path.exists():
            continue
        runs = BASIC if args.grid == "basic" else grid
        for run in runs:
            run = dict(run, batch=args.batch or run["batch"])
            record = measure(subject, run, meter, device)
            subject.runs.append(record)
            print(f"{time.perf_counter() - start:7.1f}s {subject.name} {run} "
                  f"{record['status']} {record['seconds']}s", flush=True)
        data = {"subject": subject.name, "pair": subject.pair,
                "input_shape": list(subject.input_shape()), "environment": env,
                "runs": subject.runs}
        path.write_text(json.dumps(data, separators=(",", ":")) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
