"""Spec linter: deployment-target incompatibilities and shipping hazards of Core ML models, found
from the file alone (no prediction, any OS).

    from pytest_coremlcheck.lint import lint

    result = lint("Model.mlpackage", target="iOS16")   # or an MLModel, or a spec
    result.required_target, result.required_by          # ('iOS17', 'CML-Q002')
    errors = [f for f in result.findings if f.severity == "error"]

Rules are documented in ``docs/rules.md`` (``coremlcheck lint --explain CML-Q004``).
"""

from typing import TYPE_CHECKING

from ..lazy import lazy_attributes

if TYPE_CHECKING:  # imported on first use (``__getattr__``): the pytest plugin loads cheaply
    from .config import LintConfig, load_config
    from .engine import lint
    from .errors import InvalidModelError, LintUsageError
    from .findings import SEVERITIES, Finding, severity_at_least
    from .result import LintResult

#: public name -> the module that defines it
_LAZY = {"lint": "engine", "LintResult": "result", "Finding": "findings",
         "InvalidModelError": "errors", "LintUsageError": "errors", "LintConfig": "config",
         "load_config": "config", "SEVERITIES": "findings", "severity_at_least": "findings"}

__all__ = [
    "lint",
    "LintResult",
    "Finding",
    "InvalidModelError",
    "LintUsageError",
    "LintConfig",
    "load_config",
    "SEVERITIES",
    "severity_at_least",
]


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, globals())
