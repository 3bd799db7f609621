"""Model references -> nn.Modules: ``torchvision:NAME``, ``timm:NAME``, ``path/to/file.py:fn``
and ``package.module:fn``. Imports torch when called.

Weights are never downloaded: torchvision models are built with ``weights=None`` (and, for
segmentation models, ``weights_backbone=None``), timm models with ``pretrained=False``. A
reference's default input is what its weights were trained at (torchvision: the crop of the
default weights' transforms; timm: the model's ``pretrained_cfg``), 3x224x224 otherwise.
Everything a user can get wrong is a UsageError (exit 2) or a FileAccessError (exit 4) whose
message says what and where, never a traceback.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cnncost.errors import FileAccessError, UsageError

#: The input of a model that says nothing about its own.
DEFAULT_INPUT = (3, 224, 224)


@dataclass
class LoadedModel:
    """A built model: what it is called, how it was built and the input it expects."""

    model: Any
    ref: str
    name: str
    builder: str
    input_shape: tuple[int, ...]
    library: str = ""
    versions: dict[str, str] = field(default_factory=dict)


def parse_input(text: str) -> tuple[int, ...]:
    """``3x224x224`` -> (3, 224, 224) (per sample, batch excluded).

    Raises:
        UsageError: not positive integers separated by ``x``.
    """
    parts = text.lower().replace(",", "x").split("x")
    try:
        shape = tuple(int(p) for p in parts)
    except ValueError:
        raise UsageError(f"--input {text!r}: expected sizes separated by 'x', such as "
                         "3x224x224 (channels x height x width, no batch)") from None
    if not shape or any(s <= 0 for s in shape):
        raise UsageError(f"--input {text!r}: every size must be a positive integer")
    return shape


def _did_you_mean(name: str, names: list[str]) -> str:
    close = difflib.get_close_matches(name, names, n=3)
    return f"; did you mean {', '.join(close)}?" if close else ""


def _versions(*names: str) -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in names:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            continue
    return out


def _user_frame(err: BaseException, file: str | None) -> str:
    """``file:line`` of the innermost frame of ``err`` in the user's file (else the last)."""
    frames = traceback.extract_tb(err.__traceback__)
    mine = [f for f in frames if file and Path(f.filename).resolve() == Path(file).resolve()]
    shown = mine or frames
    return f" ({shown[-1].filename}:{shown[-1].lineno})" if shown else ""


def _raised(what: str, err: BaseException, file: str | None = None) -> UsageError:
    text = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return UsageError(f"{what} raised {type(err).__name__}: {text}{_user_frame(err, file)}")


def _torchvision(name: str, kwargs: dict[str, Any]) -> LoadedModel:
    import torchvision  # type: ignore[import-untyped]  # no stubs

    names = torchvision.models.list_models()
    if name not in names:
        raise UsageError(f"torchvision has no model {name!r}{_did_you_mean(name, names)} "
                         "(torchvision.models.list_models() lists them)")
    segmentation = name in torchvision.models.list_models(module=torchvision.models.segmentation)
    built = {"weights": None, **({"weights_backbone": None} if segmentation else {}), **kwargs}
    try:
        model = torchvision.models.get_model(name, **built)
    except Exception as err:  # noqa: BLE001 - the builder's own error, reported
        raise _raised(f"torchvision.models.get_model({name!r}, ...)", err) from None
    shown = ", ".join(f"{k}={v!r}" for k, v in built.items())
    size = getattr(model, "image_size", None)
    shape = (3, size, size) if isinstance(size, int) else _torchvision_input(name)
    return LoadedModel(model, f"torchvision:{name}", name, f"torchvision.models.{name}({shown})",
                       shape, "torchvision", _versions("torch", "torchvision"))


def _torchvision_input(name: str) -> tuple[int, ...]:
    """The crop of the model's IMAGENET1K_V1 weights, else the smallest of its weights'."""
    import torchvision

    try:
        weights = list(torchvision.models.get_model_weights(name))
    except (ValueError, KeyError):
        return DEFAULT_INPUT
    sizes = {}
    for w in weights:
        keywords = getattr(w.transforms, "keywords", {})
        size = keywords.get("crop_size") or keywords.get("resize_size")
        if isinstance(size, (list, tuple)):
            size = size[0]
        if isinstance(size, int):
            sizes[w.name] = size
    if not sizes:
        return DEFAULT_INPUT
    size = sizes.get("IMAGENET1K_V1", min(sizes.values()))
    return (3, size, size)


def _timm(name: str, kwargs: dict[str, Any]) -> LoadedModel:
    try:
        import timm
    except ImportError:
        raise UsageError("timm:... models need timm: pip install timm") from None
    if not timm.is_model(name):
        raise UsageError(f"timm has no model {name!r}"
                         f"{_did_you_mean(name, timm.list_models())}")
    built = {"pretrained": False, **kwargs}
    try:
        model = timm.create_model(name, **built)
    except Exception as err:  # noqa: BLE001 - the builder's own error, reported
        raise _raised(f"timm.create_model({name!r}, ...)", err) from None
    cfg = getattr(model, "pretrained_cfg", None) or {}
    size = tuple(int(s) for s in cfg.get("input_size", DEFAULT_INPUT))
    shown = ", ".join(f"{k}={v!r}" for k, v in built.items())
    return LoadedModel(model, f"timm:{name}", name, f"timm.create_model({name!r}, {shown})",
                       size, "timm", _versions("torch", "timm"))


def _callable(ref: str, target: str, kwargs: dict[str, Any]) -> LoadedModel:
    from torch import nn

    where, _, attr = target.rpartition(":")
    file: str | None = None
    if where.endswith(".py") or "/" in where or "\\" in where:
        path = Path(where)
        if not path.is_file():
            raise FileAccessError(f"{ref}: no file {where}" + (
                "" if path.parent.is_dir() else f" (no folder {path.parent})"))
        file = str(path)
        module_name, k = path.stem, 1
        while module_name in sys.modules:  # the file's stem, as its classes will be named
            k += 1
            module_name = f"{path.stem}_{k}"
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            raise FileAccessError(f"{ref}: cannot load {where} as Python")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except OSError as err:
            raise FileAccessError(f"cannot read {where}: {err.strerror or err}") from None
        except Exception as err:  # noqa: BLE001 - the user's module failed: say where
            raise _raised(f"importing {where}", err, file) from None
    else:
        try:
            module = importlib.import_module(where)
        except ImportError as err:
            raise UsageError(f"{ref}: cannot import module {where!r}: {err}") from None
        except Exception as err:  # noqa: BLE001 - the user's module failed: say where
            raise _raised(f"importing {where}", err) from None
    fn = getattr(module, attr, None)
    if fn is None:
        names = [n for n in dir(module) if not n.startswith("_") and callable(getattr(module, n))]
        raise UsageError(f"{where} has no {attr!r}{_did_you_mean(attr, names)}")
    if not callable(fn):
        raise UsageError(f"{where}:{attr} is a {type(fn).__name__}, not a callable that builds "
                         "a model")
    if isinstance(fn, nn.Module):
        model = fn
    else:
        try:
            model = fn(**kwargs)
        except Exception as err:  # noqa: BLE001 - the user's builder failed: say where
            raise _raised(f"{attr}({', '.join(f'{k}={v!r}' for k, v in kwargs.items())})",
                          err, file) from None
    if not isinstance(model, nn.Module):
        raise UsageError(f"{where}:{attr} returned {type(model).__name__}, not a "
                         "torch.nn.Module")
    shown = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
    return LoadedModel(model, ref, attr, f"{where}:{attr}({shown})", DEFAULT_INPUT, "",
                       _versions("torch"))


def load_model(ref: str, kwargs: dict[str, Any] | None = None) -> LoadedModel:
    """Build the model ``ref`` names, in eval mode.

    Raises:
        UsageError: a malformed reference, an unknown model, a builder that raises or returns
            something other than an nn.Module.
        FileAccessError: the file of ``path/to/file.py:fn`` does not exist or cannot be read.
    """
    kwargs = dict(kwargs or {})
    library, sep, name = ref.partition(":")
    if not sep or not name or not library:
        raise UsageError(f"model {ref!r}: expected torchvision:NAME, timm:NAME, "
                         "path/to/file.py:FUNCTION or package.module:FUNCTION")
    if library == "torchvision":
        loaded = _torchvision(name, kwargs)
    elif library == "timm":
        loaded = _timm(name, kwargs)
    else:
        loaded = _callable(ref, ref, kwargs)
    loaded.model.eval()
    return loaded
