"""How reports name a check (its test id, plus what tells it apart from the test's other
checks: its name, variant, shape) and the verdict of each of its outputs."""

from __future__ import annotations


def check_label(check: dict) -> str:
    """``tests/x.py::test_a`` for a test's only check, ``tests/x.py::test_a [fp16]`` for a
    variant or shape, ``tests/x.py::test_a [name]`` for a named check."""
    test, name = check.get("test", check["name"]), check["name"]
    function = test.rsplit("::", 1)[-1]
    if name == function:
        return test
    if name.startswith(function):
        return f"{test} {name[len(function):].strip()}"
    return f"{test} [{name}]"


def verdict(check: dict, out: dict, passed: str = "ok") -> str:
    """ERROR (the check could not run), FAIL (this output broke its tolerance), FAIL (check)
    (the output passed, the check failed on something else), else ``passed``."""
    if check.get("error"):
        return "ERROR"
    if not out.get("passed"):
        return "FAIL"
    return passed if check.get("passed") else "FAIL (check)"
