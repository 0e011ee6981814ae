"""Reference execution of NeuralNetwork specs (``.mlmodel``, spec versions 1–5) with torch."""

from .engine import NeuralNetworkEngine
from .registry import implemented
from .updatable import format_summary, training_summary

__all__ = ["NeuralNetworkEngine", "implemented", "training_summary", "format_summary"]
