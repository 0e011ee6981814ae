"""Every converted model lints clean at its own target, and the target just below its declared
version names the rule that raised the requirement."""

from __future__ import annotations

import pytest

from pytest_coremlcheck.lint import lint
from pytest_coremlcheck.lint.targets import os_name

from ._lint_zoo import CASES, SPEC


def _param(case):
    marks = () if case.fast else (pytest.mark.slow,)
    return pytest.param(case, id=case.id, marks=marks)


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_clean_at_own_target_and_named_rule_below(case, zoo):
    path = zoo(case.id)

    at_target = lint(path, target=case.target)
    errors = [f for f in at_target.findings if f.severity == "error"]
    assert errors == [], f"{case.id} at {case.target}: {errors}"
    crashes = [f for f in at_target.findings if f.id == "CML-V999"]
    assert crashes == []
    declared = at_target.declared_spec_version
    assert at_target.required_spec <= declared <= SPEC[case.target]
    if case.expect:
        assert at_target.required_by in case.expect, (at_target.required_by,
                                                      at_target.required_reason)
    if at_target.model_type == "mlProgram":
        # the opset string alone needs the conversion target
        assert at_target.required_spec == declared == SPEC[case.target]
        assert at_target.required_target == case.target

    below = os_name(declared - 1)
    result = lint(path, target=below)
    ids = {f.id for f in result.findings if f.severity == "error"}
    assert "CML-V001" in ids
    if result.required_spec == declared:
        assert result.required_by in ids
        assert any(result.required_reason in f.message for f in result.findings
                   if f.id == result.required_by)
