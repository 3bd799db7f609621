"""Typed, located errors shared by every stage. Must not import torch.

Library code raises these; only the CLI prints them and chooses the exit code.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Exit codes of the ``cnncost`` command (documented in the README).
EXIT_OK = 0
EXIT_CHECK_FAILED = 1  # ``cnncost check``: analytic and measured numbers differ
EXIT_USAGE = 2  # bad command line (unknown option, malformed --set)
EXIT_SPEC = 3  # the spec is invalid: every problem is listed with file:line:column
EXIT_IO = 4  # a file could not be read or written
EXIT_IMPORT = 5  # ``cnncost import``: the model does what no cnncost operator expresses

#: The kinds of problem a spec can have (the error contract tests pin these).
PROBLEM_KINDS = (
    "file",  # the spec (or an imported block file) cannot be read
    "yaml",  # YAML syntax
    "schema",  # unknown key, missing key, wrong type
    "unknown-op",  # a layer item names neither an operator nor a block
    "expression",  # an expression does not parse or does not evaluate
    "unknown-variant",
    "unknown-param",
    "reference",  # a reference to a name that does not exist (yet)
    "duplicate-name",
    "argument",  # an operator argument is out of range (groups not dividing channels, ...)
    "arity",  # wrong number of inputs for an operator
    "shape",  # shapes do not agree, or a spatial size is not positive
    "cycle",
    "convention",  # a counting convention does not define an operator present in the graph
    "inplace",  # an in-place operator modifies a tensor another layer or autograd still needs
    "limit",  # the spec goes past a bound on size (cnncost.limits: nodes, nesting)
)


#: Bounds on what one problem prints (the parts are built from what a spec wrote).
_MAX_LAYER, _MAX_TEXT = 200, 600


@dataclass(frozen=True, order=True)
class Location:
    """A position in a source file; line and column are 1-based."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a spec, located and explained."""

    kind: str
    message: str
    location: Location | None = None
    layer: str | None = None
    hint: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in PROBLEM_KINDS:
            raise ValueError(f"unknown problem kind {self.kind!r}; kinds: {PROBLEM_KINDS}")

    def format(self) -> str:
        """``file:line:col: kind [layer]: message (hint)``, each part within a bounded length."""
        where = f"{self.location}: " if self.location else ""
        layer = f" [{excerpt(self.layer, _MAX_LAYER)}]" if self.layer else ""
        hint = f" ({excerpt(self.hint, _MAX_TEXT)})" if self.hint else ""
        return f"{where}{self.kind}{layer}: {excerpt(self.message, _MAX_TEXT)}{hint}"


class CnncostError(Exception):
    """Base of every error a user can cause."""

    exit_code = EXIT_USAGE


class UsageError(CnncostError):
    """The command line or API call is malformed (e.g. ``--set`` without ``=``)."""

    exit_code = EXIT_USAGE


class FileAccessError(CnncostError):
    """A file could not be read or written."""

    exit_code = EXIT_IO


class ModelImportError(CnncostError):
    """``cnncost import`` cannot express a model as a spec; ``unknown`` lists every operation
    cnncost has no operator for (each with its fx node and source line)."""

    exit_code = EXIT_IMPORT

    def __init__(self, message: str, unknown: tuple[str, ...] = ()) -> None:
        self.unknown = unknown
        self.text: str | None = None  # the spec as written, when it was written
        self.reasons: tuple[str, ...] = ()  # the kinds of reason, without particulars
        super().__init__(message)


class SpecError(CnncostError):
    """A spec is invalid; ``problems`` holds every problem found, sorted by location."""

    exit_code = EXIT_SPEC

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems, key=_problem_order)
        super().__init__("\n".join(p.format() for p in self.problems))


def _problem_order(p: Problem) -> tuple:
    loc = p.location
    return (loc is None, loc.file if loc else "", loc.line if loc else 0, loc.column if loc else 0)


class OpArgumentError(ValueError):
    """Raised by operator formulas for an argument they cannot accept; located by the caller."""


class ShapeError(ValueError):
    """Raised by shape inference when inputs do not fit the operator; located by the caller."""


def excerpt(value: object, limit: int = 60) -> str:
    """``value`` as text for a message: its first line, at most ``limit`` characters.

    Messages quote what a spec wrote; a value may be a whole file (an import of /etc/passwd) or
    a megabyte string, and an error must not echo more than the offending line.
    """
    text = str(value)
    first, newline, _ = text.partition("\n")
    if len(first) > limit:
        return first[: limit - 1] + "…"
    return first + ("…" if newline else "")
