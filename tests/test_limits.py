"""The bounds on reading and expanding a spec: defaults, the environment, ``using``."""

from __future__ import annotations

import pytest

from cnncost import limits
from cnncost.errors import UsageError


def test_defaults_and_environment(monkeypatch) -> None:
    assert limits.current() == limits.Limits()
    monkeypatch.setenv("CNNCOST_MAX_NODES", "1_000_000")
    assert limits.current().max_nodes == 1_000_000
    assert limits.current().max_yaml_depth == 64  # the others keep their defaults
    for bad in ("0", "-3", "many"):
        monkeypatch.setenv("CNNCOST_MAX_NODES", bad)
        with pytest.raises(UsageError, match="CNNCOST_MAX_NODES must be a positive integer"):
            limits.current()


def test_using_raises_some_bounds_for_a_block_only() -> None:
    with limits.using(max_nodes=7, max_int_bits=64) as inside:
        assert inside.max_nodes == 7 and limits.current().max_int_bits == 64
        with limits.using(max_nodes=8):
            assert limits.current().max_nodes == 8 and limits.current().max_int_bits == 64
        assert limits.current().max_nodes == 7
    assert limits.current() == limits.Limits()
    with pytest.raises(UsageError, match="unknown limit 'max_layers'"), \
            limits.using(max_layers=3):
        pass
    with pytest.raises(UsageError, match="positive integer"), limits.using(max_nodes=0):
        pass
