"""A pytest plugin: every checked documented figure of a spec is a test. Must not import torch.

Installed with cnncost (the ``cnncost`` ``pytest11`` entry point); it collects nothing until the
project names its specs, with glob patterns relative to pytest's root folder, in pytest's
configuration, and lets pytest walk their folder::

    [tool.pytest.ini_options]
    testpaths = ["tests", "specs"]
    cnncost_specs = ["specs/*.yaml"]

Then ``pytest`` collects one item per checked figure of every variant,
``specs/resnet.yaml::resnet50:params_total``, which fails with the documented figure, the
computed one and the counting convention: a repository asserts its documented counts the way
cnncost's own does. The comparison rules are ``cnncost.cost.documented``'s, the same that the
report's ✓ and ``cnncost validate`` follow.
"""

from __future__ import annotations

from collections.abc import Iterator
from fnmatch import fnmatch
from functools import cache
from pathlib import Path
from typing import Any

import pytest

INI_SPECS = "cnncost_specs"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(INI_SPECS, type="args", default=[],
                  help="glob patterns (relative to the root folder) of cnncost specs whose "
                       "checked documented figures are collected as tests")


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.suffix not in (".yaml", ".yml"):
        return None
    config = parent.config
    patterns = config.getini(INI_SPECS)
    if not patterns:
        return None
    try:
        relative = file_path.resolve().relative_to(config.rootpath.resolve()).as_posix()
    except ValueError:
        return None
    if not any(_matches(relative, pattern) for pattern in patterns):
        return None
    return SpecFigures.from_parent(parent, path=file_path)


def _matches(relative: str, pattern: str) -> bool:
    """Glob matching part by part: ``*`` does not cross a ``/`` (``specs/*.yaml`` is not
    ``specs/blocks/se.yaml``)."""
    parts, globs = relative.split("/"), pattern.strip("/").split("/")
    return len(parts) == len(globs) and all(fnmatch(p, g) for p, g in zip(parts, globs))


@cache
def _report(path: str, variant: str | None, convention: str) -> Any:
    from cnncost import api

    return api.analyze(path, variant=variant, convention=convention, layers=False)  # totals only


class SpecFigures(pytest.File):
    """The checked documented figures of one spec file."""

    def collect(self) -> Iterator[pytest.Item]:
        from cnncost import api
        from cnncost.cost import documented
        from cnncost.errors import CnncostError

        try:
            loaded = api.load(self.path)
        except CnncostError as err:
            yield SpecLoadItem.from_parent(self, name="load", error=str(err))
            return
        seen: dict[str, int] = {}
        for variant in documented.variants_to_check(loaded.spec):
            for figure in api.documented_figures(loaded, variant):
                if not figure.checked or figure.metric not in documented.DOCUMENTED_METRICS:
                    continue
                name = f"{variant or '-'}:{figure.metric}"
                convention = documented.convention_of(figure)
                if figure.convention:
                    name += f"[{convention}]"
                seen[name] = seen.get(name, 0) + 1
                if seen[name] > 1:
                    name += f"#{seen[name]}"
                yield FigureItem.from_parent(self, name=name, variant=variant, figure=figure)


class FigureItem(pytest.Item):
    """One documented figure, compared under its convention."""

    def __init__(self, *, variant: str | None, figure: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.variant = variant
        self.figure = figure

    def runtest(self) -> None:
        from cnncost.cost import documented

        convention = documented.convention_of(self.figure) or "cnncost"
        report = _report(str(self.path), self.variant, convention)
        verdict = documented.verdict(self.figure, report)
        if verdict.status == "mismatch":
            raise FigureMismatch(documented.failure_text(verdict, self.nodeid))
        if not verdict.compared:
            pytest.skip(f"not comparable here ({verdict.status})")

    def repr_failure(self, excinfo: Any, style: Any = None) -> str:
        if isinstance(excinfo.value, FigureMismatch):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo, style))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, self.name


class SpecLoadItem(pytest.Item):
    """A spec that does not load: one failing item with its problems."""

    def __init__(self, *, error: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.error = error

    def runtest(self) -> None:
        raise FigureMismatch(self.error)

    def repr_failure(self, excinfo: Any, style: Any = None) -> str:
        return str(excinfo.value)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, "load"


class FigureMismatch(AssertionError):
    """A documented figure differs from the computed one (or the spec does not load)."""
