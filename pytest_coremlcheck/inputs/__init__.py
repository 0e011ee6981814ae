"""Inputs shared by both models of a check, materialised once per check.

An input source turns the converted model's input features into ``Sample`` objects: what
Core ML receives (arrays, PIL images) and what the source model receives (arrays).
"""

from .base import InputSource, Sample, as_input_source
from .feeds import feeds
from .images import images
from .tensors import tensors

__all__ = ["InputSource", "Sample", "as_input_source", "feeds", "images", "tensors"]
