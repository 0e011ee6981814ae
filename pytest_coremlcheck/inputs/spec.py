"""Inputs written as text, for the command line and declarative gates.

- ``random:N``: ``tensors(n=N)``, N seeded random samples shaped from the model's inputs;
- a path ending in ``.npz``: ``feeds(path)``;
- ``module:callable`` (see ``pyref``): what the callable returns, e.g. ``images(dir,
  preprocess=...)``, a ``{name: array}`` dict or a list of them;
- anything else (a directory, an image file or a glob): ``images(path, resize=resize)``.

Relative paths and modules resolve from ``base_dir``.
"""

from __future__ import annotations

from pathlib import Path

from ..pyref import is_module_spec, load_object
from .base import InputSource, as_input_source
from .feeds import feeds
from .images import images
from .tensors import tensors


def inputs_from_spec(text: str, base_dir: str | Path = ".", *, resize: str = "fit"
                     ) -> InputSource:
    """The input source ``text`` names; ValueError/FileNotFoundError name the file or value."""
    text = text.strip()
    if text.startswith("random:"):
        count = text.partition(":")[2]
        if not count.isdigit() or int(count) < 1:
            raise ValueError(f"inputs {text!r}: expected random:N with N a positive integer")
        return tensors(n=int(count))
    if names_code(text, base_dir):
        return as_input_source(load_object(text, base_dir, "inputs"))
    path = Path(base_dir) / text
    if path.suffix.lower() == ".npz":
        if not path.is_file():
            raise FileNotFoundError(f"inputs file {path} does not exist")
        return feeds(path)
    source = images(str(path), resize=resize)
    source.files()  # fail now, naming the path, when it holds no images
    return source


def names_code(text: str, base_dir: str | Path = ".") -> bool:
    """True when ``text`` is ``module:callable`` (``random:N`` is not)."""
    return not text.strip().startswith("random:") and is_module_spec(text.strip(), base_dir)
