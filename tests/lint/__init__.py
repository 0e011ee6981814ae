"""Tests of the spec linter (pytest_coremlcheck.lint)."""
