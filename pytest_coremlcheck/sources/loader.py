"""Source specs as text: a saved model file, or ``module:attribute`` naming Python code.

Used by ``coremlcheck compare SOURCE`` and by the ``source`` key of declarative gates:

- a path: TorchScript (``.pt``, ``.pth``, ``.ts``), ExportedProgram (``.pt2``), Keras
  (``.h5``, ``.keras``) or a SavedModel directory;
- ``package.module:attr.path``: imported with ``base_dir`` first on ``sys.path`` (as
  ``python -m`` puts the working directory first). A function or class found there is called
  without arguments and must return the source model (a torch module, ExportedProgram, Keras
  model, ``tf.function``, or a path as above); any other object is the source model itself.
"""

from __future__ import annotations

import importlib
import inspect
import re
import sys
from pathlib import Path
from typing import Any

from ..result import CheckError

TORCH_SUFFIXES = (".pt", ".pth", ".ts", ".pt2")
_SPEC = re.compile(r"^(?P<module>[A-Za-z_][\w.]*):(?P<attr>[A-Za-z_][\w.]*)$")


class SourceSpecError(CheckError):
    """A source spec names no file, or its module, attribute or callable failed."""


def is_module_spec(text: str, base_dir: str | Path = ".") -> bool:
    """True for ``module:attr`` text that is not an existing path below ``base_dir``."""
    return bool(_SPEC.match(text)) and not (Path(base_dir) / text).exists()


def check_source_spec(text: str, base_dir: str | Path) -> None:
    """Validate a spec without importing anything: the file must exist, or the text must be
    ``module:attr``. Raises SourceSpecError naming what was expected."""
    if is_module_spec(text, base_dir):
        return
    path = Path(base_dir) / text
    if not path.exists():
        raise SourceSpecError(f"source {path} does not exist (expected a model file, a "
                              "SavedModel directory or module:callable)")


def load_source_spec(text: str, base_dir: str | Path) -> Any:
    """The source model named by ``text``; relative paths and modules resolve from
    ``base_dir``. Raises SourceSpecError naming the file, module or attribute."""
    if is_module_spec(text, base_dir):
        return _from_module(text, Path(base_dir))
    return load_source_file(Path(base_dir) / text)


def load_source_file(path: str | Path) -> Any:
    """A saved source model: torch files loaded here, TensorFlow paths by the TF source."""
    file = Path(path)
    if not file.exists():
        raise SourceSpecError(f"source {file} does not exist")
    if file.suffix.lower() not in TORCH_SUFFIXES:
        return file
    import torch

    try:
        if file.suffix.lower() == ".pt2":
            return torch.export.load(str(file))
        return torch.jit.load(str(file), map_location="cpu").eval()
    except Exception as exc:
        kind = "ExportedProgram" if file.suffix.lower() == ".pt2" else "TorchScript"
        raise SourceSpecError(f"source {file}: not a readable {kind} file "
                              f"({type(exc).__name__}: {str(exc).splitlines()[0][:200]})") from exc


def _from_module(text: str, base_dir: Path) -> Any:
    module_name, _, attr_path = text.partition(":")
    root = str(base_dir.resolve())
    if root not in sys.path:
        sys.path.insert(0, root)
    try:
        obj = importlib.import_module(module_name)
    except Exception as exc:
        raise SourceSpecError(f"source {text}: cannot import module {module_name!r} from "
                              f"{root}: {type(exc).__name__}: {exc}") from exc
    for part in attr_path.split("."):
        if not hasattr(obj, part):
            raise SourceSpecError(f"source {text}: {getattr(obj, '__name__', obj)!s} has no "
                                  f"attribute {part!r}")
        obj = getattr(obj, part)
    if inspect.isfunction(obj) or inspect.ismethod(obj) or inspect.isclass(obj) \
            or inspect.isbuiltin(obj):
        try:
            obj = obj()
        except Exception as exc:
            raise SourceSpecError(f"source {text}: calling {attr_path}() raised "
                                  f"{type(exc).__name__}: {exc}") from exc
    if isinstance(obj, (str, Path)):
        return load_source_file(base_dir / obj)
    return obj


class LazySource:
    """The source a spec names, loaded and wrapped (``as_source``) on first use.

    Handed to a check in place of the model, it makes a source that cannot be loaded a check
    that could not run (recorded and reported like any other), not an error before it.
    """

    def __init__(self, text: str, base_dir: str | Path):
        self._spec = (text, Path(base_dir))
        self._source = None

    def __getattr__(self, name: str):
        if name.startswith("__") or name in ("_spec", "_source"):
            raise AttributeError(name)
        if self._source is None:
            from . import as_source

            self._source = as_source(load_source_spec(*self._spec))
        return getattr(self._source, name)
