"""How reports name a check (its test id, plus what tells it apart from the test's other
checks: its name, variant, shape) and the verdict of each of its outputs. How metrics are
shown is in ``metric_table``."""

from __future__ import annotations


def check_label(check: dict) -> str:
    """The one name of a check, shown in reports and the terminal and used as its key in
    baseline and golden files: the test's node id, then the check's name in brackets when it
    is not the test's own, then what the name does not already carry (variant, shape).

    ``tests/x.py::test_a`` (a test's only check), ``tests/x.py::test_a [fp16]`` (a variant or
    shape), ``tests/x.py::test_a [backbone]`` (a named check), ``tests/x.py::test_a [backbone]
    [fp16]``.
    """
    name = check.get("name") or ""
    test = check.get("test") or name
    function = test.rsplit("::", 1)[-1]
    head, bracket, tail = name.partition(" [")
    label = test if head in ("", function) else f"{test} [{head}]"
    if bracket:
        label += f" [{tail}"
    extra = [str(v) for v in (check.get("variant"), check.get("shape")) if v and str(v) not in name]
    return f"{label} [{', '.join(extra)}]" if extra else label


def verdict(check: dict, out: dict, passed: str = "ok") -> str:
    """ERROR (the check could not run), FAIL (this output broke its tolerance), FAIL (check)
    (the output passed, the check failed on something else), else ``passed``."""
    if check.get("error"):
        return "ERROR"
    if not out.get("passed"):
        return "FAIL"
    return passed if check.get("passed") else "FAIL (check)"
