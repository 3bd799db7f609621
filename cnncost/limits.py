"""Bounds on the time and memory that reading and expanding a spec may take. Must not import torch.

A spec is untrusted input: a two-kilobyte file can ask for 10^9 layers, an alias bomb, or an
expression that builds a gigabyte string. Every stage checks its own bound and reports a located
problem when a spec goes past it, before it allocates the excess. The defaults are far above what
the zoo needs (its deepest YAML nests 10 levels, its largest graph has a few thousand nodes) and
far below what would take a person's machine down.

Each bound can be raised for one process with an environment variable (``CNNCOST_MAX_NODES=
1000000 cnncost report big.yaml``) or for a block of Python code with ``using``::

    with limits.using(max_nodes=1_000_000):
        api.analyze("big.yaml")
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, fields, replace

from cnncost.errors import UsageError


@dataclass(frozen=True)
class Limits:
    """The bounds; each field's environment variable is ``CNNCOST_`` + its name in capitals."""

    #: Bytes of one spec or block file (the whole file is read before parsing).
    max_spec_bytes: int = 8 * 2**20
    #: YAML nodes (scalars, sequences, mappings) of one file, as written.
    max_yaml_nodes: int = 1_000_000
    #: Nesting of YAML sequences and mappings, aliases followed.
    max_yaml_depth: int = 64
    #: Values that aliases and merge keys add to a file beyond those written (an alias bomb).
    max_alias_values: int = 100_000
    #: Layers plus repeat iterations of one expansion.
    max_nodes: int = 200_000
    #: Nesting of block calls, repeats and parallel blocks.
    max_nesting: int = 50
    #: Characters of one expression.
    max_expression_chars: int = 2_000
    #: Evaluation steps of one expression, spec functions it calls included.
    max_expression_steps: int = 100_000
    #: Evaluation steps of all the expressions of one expansion.
    max_total_steps: int = 5_000_000
    #: Elements of a list or characters of a string that an expression builds.
    max_value_size: int = 100_000
    #: Bits of an integer that an expression builds (2**4096 is past any real count).
    max_int_bits: int = 4_096
    #: Nested calls of spec functions.
    max_call_depth: int = 100


_DEFAULTS = Limits()
_override: ContextVar[Limits | None] = ContextVar("cnncost_limits", default=None)


def env_name(field: str) -> str:
    return "CNNCOST_" + field.upper()


def current() -> Limits:
    """The limits in force: those of an enclosing ``using`` block, else the environment's.

    Raises:
        UsageError: an environment variable is not a positive integer.
    """
    chosen = _override.get()
    if chosen is not None:
        return chosen
    values = {}
    for f in fields(Limits):
        text = os.environ.get(env_name(f.name))
        if text is None:
            continue
        try:
            values[f.name] = int(text.replace("_", ""))
        except ValueError:
            values[f.name] = 0
        if values[f.name] < 1:
            raise UsageError(f"{env_name(f.name)} must be a positive integer, got {text!r}")
    return replace(_DEFAULTS, **values) if values else _DEFAULTS


@contextmanager
def holding(chosen: Limits) -> Iterator[Limits]:
    """Make ``chosen`` the limits in force inside a ``with`` block: a stage reads the environment
    once (``current()``) and the code it calls gets the same limits cheaply."""
    token = _override.set(chosen)
    try:
        yield chosen
    finally:
        _override.reset(token)


@contextmanager
def using(**bounds: int) -> Iterator[Limits]:
    """Raise (or lower) some bounds inside a ``with`` block; the others stay as they are.

    Raises:
        UsageError: an unknown bound, or a value that is not a positive integer.
    """
    names = {f.name for f in fields(Limits)}
    for name, value in bounds.items():
        if name not in names:
            raise UsageError(f"unknown limit {name!r}; limits: {', '.join(sorted(names))}")
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise UsageError(f"limit {name} must be a positive integer, got {value!r}")
    token = _override.set(replace(current(), **bounds))
    try:
        yield _override.get() or _DEFAULTS
    finally:
        _override.reset(token)
