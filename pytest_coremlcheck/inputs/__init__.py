"""Inputs shared by both models of a check, materialised once per check.

An input source turns the converted model's input features into ``Sample`` objects: what
Core ML receives (arrays, PIL images) and what the source model receives (arrays).
"""

from pathlib import Path

from .base import InputSource, Sample
from .feeds import feeds
from .images import images
from .tensors import tensors


def as_input_source(inputs) -> InputSource:
    """Accept an InputSource, a dict of arrays, a list of dicts or a path to an ``.npz``."""
    if inputs is None:
        return tensors()
    if hasattr(inputs, "materialize"):
        return inputs
    if isinstance(inputs, (dict, list, tuple, str, Path)):
        return feeds(inputs)
    raise TypeError(
        "inputs must be images(...), tensors(...), a dict {input_name: array}, a list of such "
        f"dicts or a path to an .npz file; got {type(inputs).__name__}"
    )


__all__ = ["InputSource", "Sample", "as_input_source", "feeds", "images", "tensors"]
