"""Hooks the coremlcheck plugins declare for each other (and for other plugins)."""

from __future__ import annotations

import pytest


@pytest.hookspec(firstresult=True)
def pytest_coremlcheck_lint_model(config: pytest.Config, model):
    """Lint a model a check loaded or converted (a path, ``MLModel`` or spec).

    Return ``(every finding, the findings that fail the check)``, or None when no linter
    is active. The first non-None result wins. The linter's plugin implements it.
    """
