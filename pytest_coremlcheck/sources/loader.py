"""Source specs as text: a saved model file, or ``module:attribute`` naming Python code.

Used by ``coremlcheck compare SOURCE`` and by the ``source`` key of declared checks:

- a path: TorchScript (``.pt``, ``.pth``, ``.ts``), ExportedProgram (``.pt2``), Keras
  (``.h5``, ``.keras``) or a SavedModel directory;
- ``package.module:attr.path`` (see ``pyref``): the object, or what the function or class
  there returns: a torch module, ExportedProgram, Keras model, ``tf.function``, or a path as
  above.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .pyref import Lazy, SpecError, is_module_spec, load_object

TORCH_SUFFIXES = (".pt", ".pth", ".ts", ".pt2")


def check_source_spec(text: str, base_dir: str | Path) -> None:
    """Validate a spec without importing anything: the file must exist, or the text must be
    ``module:attr``. Raises SpecError naming what was expected."""
    if is_module_spec(text, base_dir):
        return
    path = Path(base_dir) / text
    if not path.exists():
        raise SpecError(f"source {path} does not exist (expected a model file, a "
                        "SavedModel directory or module:callable)")


def load_source_spec(text: str, base_dir: str | Path) -> Any:
    """The source model named by ``text``; relative paths and modules resolve from
    ``base_dir``. Raises SpecError naming the file, module or attribute."""
    if not is_module_spec(text, base_dir):
        return load_source_file(Path(base_dir) / text)
    obj = load_object(text, base_dir, "source")
    if isinstance(obj, (str, Path)):
        return load_source_file(Path(base_dir) / obj)
    return obj


def lazy_source(text: str, base_dir: str | Path) -> Lazy:
    """The source ``text`` names, loaded and wrapped (``as_source``) when a check first uses
    it: a source that cannot be loaded is then a check that could not run."""
    from . import as_source

    return Lazy(lambda: as_source(load_source_spec(text, base_dir)))


def load_source_file(path: str | Path) -> Any:
    """A saved source model: torch files loaded here, TensorFlow paths by the TF source."""
    file = Path(path)
    if not file.exists():
        raise SpecError(f"source {file} does not exist")
    if file.suffix.lower() not in TORCH_SUFFIXES:
        return file
    import torch

    try:
        if file.suffix.lower() == ".pt2":
            return torch.export.load(str(file))
        return torch.jit.load(str(file), map_location="cpu").eval()
    except Exception as exc:
        kind = "ExportedProgram" if file.suffix.lower() == ".pt2" else "TorchScript"
        raise SpecError(f"source {file}: not a readable {kind} file "
                        f"({type(exc).__name__}: {str(exc).splitlines()[0][:200]})") from exc
