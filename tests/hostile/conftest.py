"""The hostile tests bound cnncost's own time: the rest of the test process's heap (torch,
Keras, fvcore, imported by other tests in the same worker) is frozen for them, so that a
collection of the garbage cnncost makes does not walk it."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True, scope="module")
def _heap_of_other_tests_frozen() -> Iterator[None]:
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
