"""An analysis leaves nothing for the cyclic collector: the graph, its scopes, the spec's
functions, the memory simulation (parameters, tensors, autograd nodes) and the report are freed
by reference counting as soon as they are dropped (``cnncost.gcpause``). A cycle left per analysis would be walked and freed only by the collector,
at a cost that grows with every graph a sweep has made.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from pathlib import Path

import pytest

from cnncost import api
from cnncost.memory.models import MemoryConfig

ROOT = Path(__file__).resolve().parents[2]


def _garbage_of(fn: Callable[[], object]) -> list:
    """What the collector finds unreachable after ``fn`` runs with the collector off."""
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        fn()
        gc.collect()
        return list(gc.garbage)
    finally:
        gc.garbage.clear()
        gc.set_debug(0)
        gc.enable()


def _kinds(objects: list) -> dict[str, int]:
    kinds: dict[str, int] = {}
    for o in objects:
        kinds[type(o).__name__] = kinds.get(type(o).__name__, 0) + 1
    return kinds


@pytest.mark.parametrize("spec, variant", [
    ("mobilenet_v1.yaml", None),           # functions (width), a repeat calling a block
    ("efficientnet.yaml", "b0"),           # recursive spec functions, shape_of in blocks
    ("inception_v1.yaml", None),           # parallel branches
    ("resnet.yaml", "resnet50"),           # replayed block calls
])
def test_an_analysis_leaves_no_cycle(spec: str, variant: str | None) -> None:
    loaded = api.load(ROOT / "specs" / spec)
    api.analyze(loaded, variant=variant)  # caches filled: what stays is not garbage

    def analyses() -> None:
        api.analyze(loaded, variant=variant, overrides={})
        expanded = api.expand(loaded, variant=variant)
        api.memory(expanded)  # the eager simulation: parameters, storages
        api.memory(expanded, MemoryConfig(mode="training", batch=2, optimizer="adam",
                                          precision="bfloat16-autocast"))  # autograd nodes

    garbage = _garbage_of(analyses)
    assert garbage == [], _kinds(garbage)


def test_the_check_can_fail() -> None:
    class Node:
        def __init__(self) -> None:
            self.me = self

    assert "Node" in _kinds(_garbage_of(Node))
