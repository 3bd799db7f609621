"""A scoped pause of Python's cyclic garbage collector. Must not import torch.

Expanding and costing a graph allocate many objects that live as long as the graph (nodes,
attribute mappings, shapes, scopes); each gen-0 collection walks the young ones, and the full
collections that follow as they age walk them all again, so that with the collector on, time per
layer grows with the graph: a 100,000-layer chain took 69 us per layer with it and 46 us without
(45 and 33 at 1,000 layers). Inside ``paused()`` the collector is off; reference counting still
frees what is not in a cycle. An expansion leaves no cycle behind (a scope's ``shape_of`` holds
its scope weakly, the evaluation and the references are unlinked when it ends, the spec's
functions reach each other through a weak proxy: tests/graph/test_no_cycles.py), so a graph is
freed as soon as it is dropped, and ``api.analyze`` drops it before the collector runs again:
the collection that follows walks the report, not the graph.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused() -> Iterator[None]:
    """Turn the cyclic collector off inside a ``with`` block and restore its previous state
    (on or off) however the block ends; nests."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
