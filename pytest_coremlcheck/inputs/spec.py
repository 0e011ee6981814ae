"""Inputs written as text, for the command line and declared checks.

- ``random:N``: ``tensors(n=N)``, N seeded random samples shaped from the model's inputs;
- a path ending in ``.npz``: ``feeds(path)``;
- ``module:callable`` (see ``sources.pyref``): what the callable returns, e.g. ``images(dir,
  preprocess=...)``, a ``{name: array}`` dict or a list of them;
- anything else (a directory, an image file or a glob): ``images(path, resize=resize)``.

Relative paths and modules resolve from ``base_dir``. With ``confine`` (declared checks) a
path or glob must stay inside ``base_dir``: absolute paths and ``..`` that leave it are refused.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..sources.pyref import is_module_spec, load_object
from . import as_input_source
from .base import InputSource
from .feeds import feeds
from .images import images
from .tensors import tensors


def inputs_from_spec(text: str, base_dir: str | Path = ".", *, resize: str = "fit",
                     confine: bool = False) -> InputSource:
    """The input source ``text`` names; ValueError/FileNotFoundError name the file or value."""
    text = text.strip()
    if text.startswith("random:"):
        count = text.partition(":")[2]
        if not count.isdigit() or int(count) < 1:
            raise ValueError(f"inputs {text!r}: expected random:N with N a positive integer")
        return tensors(n=int(count))
    if names_code(text, base_dir):
        return _from_code(text, load_object(text, base_dir, "inputs"))
    path = Path(base_dir) / text
    if confine:
        _check_inside(text, Path(base_dir))
    if path.suffix.lower() == ".npz":
        if not path.is_file():
            raise FileNotFoundError(f"inputs file {path} does not exist")
        return feeds(path)
    source = images(str(path), resize=resize)
    source.files()  # fail now, naming the path, when it holds no images
    return source


def _check_inside(text: str, base_dir: Path) -> None:
    """ValueError unless path or glob ``text`` stays inside ``base_dir``."""
    if Path(text).is_absolute() or text.startswith("~"):
        raise ValueError(f"inputs {text!r}: absolute paths are not allowed here; write the path "
                         f"or glob relative to {base_dir}")
    root = Path(os.path.abspath(base_dir))
    target = Path(os.path.normpath(root / text))
    if target != root and root not in target.parents:
        raise ValueError(f"inputs {text!r}: leads outside {root}; paths and globs must stay "
                         "inside the directory of the file that names them")


def _from_code(text: str, value) -> InputSource:
    """The input source a ``module:callable`` returned; ValueError naming it otherwise."""
    expected = ("expected images(...), tensors(...), feeds(...), a dict {input_name: array}, a "
                "non-empty list of such dicts or a path to an .npz file")
    if isinstance(value, (list, tuple)) and not (value and all(isinstance(v, dict)
                                                              for v in value)):
        kinds = sorted({type(v).__name__ for v in value}) or ["nothing"]
        raise ValueError(f"inputs {text}: returned a {type(value).__name__} of "
                         f"{', '.join(kinds)}; {expected}")
    try:
        return as_input_source(value)
    except TypeError:
        raise ValueError(f"inputs {text}: returned {type(value).__name__}; {expected}") from None


def names_code(text: str, base_dir: str | Path = ".") -> bool:
    """True when ``text`` is ``module:callable`` (``random:N`` is not)."""
    return not text.strip().startswith("random:") and is_module_spec(text.strip(), base_dir)
