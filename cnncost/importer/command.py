"""The ``cnncost import`` command's body and ``cnncost check --against``, for ``cnncost.cli``
to call. Importing this module imports no torch; calling its functions does.

The CLI keeps the option parsing, the output and the exit; these functions return what they
found and raise the typed errors of ``cnncost.errors`` (exit codes: 2 usage, 4 file access,
5 a model cnncost cannot express).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from cnncost.errors import UsageError

if TYPE_CHECKING:
    from cnncost.importer.pipeline import ImportResult
    from cnncost.importer.roundtrip import RoundTrip


def parse_args(items: list[str] | None) -> dict[str, Any]:
    """``--arg k=v`` values (YAML, as ``--set``): ``["num_classes=10"]`` -> ``{...: 10}``.

    Raises:
        UsageError: an item without ``=``.
    """
    from cnncost import api

    try:
        return api.parse_overrides(list(items or []))
    except UsageError as err:
        raise UsageError(str(err).replace("--set", "--arg")) from None


def run_import(model: str, *, args: list[str] | None = None, input_shape: str | None = None,
               allow_unknown: bool = False, name: str | None = None) -> ImportResult:
    """Import ``model`` (see ``cnncost.importer.pipeline.import_model``).

    Raises:
        UsageError, FileAccessError, ModelImportError: as ``import_model``.
    """
    _quiet()
    from cnncost.importer.pipeline import import_model
    from cnncost.importer.source import parse_input

    shape = parse_input(input_shape) if input_shape else None
    return import_model(model, args=parse_args(args), input_shape=shape,
                        allow_unknown=allow_unknown, name=name)


def run_against(spec: str | Path, model: str, *, args: list[str] | None = None
                ) -> RoundTrip:
    """The spec against the model it was imported from, at the spec's input.

    Raises:
        UsageError, FileAccessError: the model cannot be built or the spec read.
        SpecError: the spec is invalid.
    """
    _quiet()
    from cnncost.bridge import require_torch

    require_torch()
    from cnncost import api
    from cnncost.importer.roundtrip import against
    from cnncost.importer.source import load_model

    graph, _ = api.build_graph(spec)
    if len(graph.input_names) != 1:
        raise UsageError("--against compares specs of one input")
    shape = tuple(graph.node(graph.input_names[0]).out_shape)
    loaded = load_model(model, parse_args(args))
    return against(spec, loaded.model, shape)


def _quiet() -> None:
    """fvcore's and torch.jit's deprecation notices are not the user's concern."""
    import warnings

    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=UserWarning, module="torchvision")
