"""Declared checks: checks listed in ``coremlcheck.toml`` / ``pyproject.toml``, collected by
pytest as test items (``plugin.py``); the file format is in ``spec.py``."""
