"""The optional libraries and programs the pictures need, and what to say when one is missing.

Must not import torch. Each ``need_*`` function imports (or finds) one dependency when a command
asks for it, so the analytic path never loads them; a missing one is a ``MissingDependency``
naming what to install, never a traceback.
"""

from __future__ import annotations

import shutil
from types import ModuleType

from cnncost.errors import EXIT_USAGE, CnncostError

EXTRA = 'pip install -e ".[pictures]"  (or: pip install "cnncost[pictures]")'
DOT_HINT = ("install Graphviz: apt-get install graphviz (Debian, Ubuntu), brew install graphviz "
            "(macOS), conda install graphviz, or https://graphviz.org/download/; --format dot "
            "writes the DOT text without it, and cnncost report --format html draws the graph "
            "in the browser")


class MissingDependency(CnncostError):
    """An output needs a library or program that is not installed (the message says which)."""

    exit_code = EXIT_USAGE


def need_matplotlib() -> ModuleType:
    """matplotlib with its non-interactive Agg canvas (figures are built without pyplot).

    Raises:
        MissingDependency: matplotlib is not installed.
    """
    try:
        import matplotlib
    except ImportError:
        raise MissingDependency(f"plots need matplotlib: {EXTRA}") from None
    return matplotlib


def need_jinja2() -> ModuleType:
    """Raises: MissingDependency: jinja2 is not installed."""
    try:
        import jinja2
    except ImportError:
        raise MissingDependency(f"HTML output needs jinja2: {EXTRA}") from None
    return jinja2


def need_graphviz() -> ModuleType:
    """The ``graphviz`` Python package (it writes DOT text; rendering needs ``need_dot``).

    Raises:
        MissingDependency: the package is not installed.
    """
    try:
        import graphviz
    except ImportError:
        raise MissingDependency(f"drawings need the graphviz package: {EXTRA}") from None
    return graphviz


def need_dot(fmt: str) -> str:
    """The path of Graphviz's ``dot`` program, which lays out and renders SVG, PNG and PDF.

    Raises:
        MissingDependency: ``dot`` is not on the PATH.
    """
    path = shutil.which("dot")
    if path is None:
        raise MissingDependency(f"drawing {fmt.upper()} needs Graphviz's dot program, which is "
                                f"not on the PATH: {DOT_HINT}")
    return path
