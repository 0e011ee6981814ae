"""docs/rules.md is generated from the rules; [tool.coremlcheck] is read as documented."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_coremlcheck.lint import LintUsageError
from pytest_coremlcheck.lint.config import find_pyproject, from_mapping, load_config
from pytest_coremlcheck.lint.docs import explain, render_all
from pytest_coremlcheck.lint.registry import all_rules
from pytest_coremlcheck.lint.rule import GROUPS, ID_RE

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_rules_md_is_up_to_date():
    assert (DOCS / "rules.md").read_text(encoding="utf-8") == render_all(), (
        "regenerate with: python -m pytest_coremlcheck.lint.docs > docs/rules.md")


def test_every_rule_is_documented():
    for rule in all_rules().values():
        assert ID_RE.match(rule.id) and rule.group in GROUPS
        for text in (rule.summary, rule.why, rule.fix, rule.source):
            assert text and text == text.strip()
        page = explain(rule.id)
        assert page.startswith(f"# {rule.id} — {rule.name}")
        for label in ("**What.**", "**Why.**", "**Fix.**", "**Source.**", rule.severity):
            assert label in page


def test_lint_md_mentions_every_group():
    text = (DOCS / "lint.md").read_text(encoding="utf-8")
    for letter in ("V", "T", "M", "O", "Q", "N", "F", "I", "C", "D", "P"):
        assert f"CML-{letter}" in text


def test_config_from_pyproject(tmp_path):
    (tmp_path / "pyproject.toml").write_text("""
[tool.coremlcheck]
target = "macOS14"
select = ["CML-T", "O001"]
ignore = "CML-D"
fail-on = "warning"
bundle-dirs = ["App/Resources"]
scan-weights = false

[tool.coremlcheck.per-path-ignores]
"models/legacy/*.mlmodel" = ["CML-V005"]
""")
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    assert find_pyproject(nested) == tmp_path / "pyproject.toml"
    config = load_config(nested)
    assert config.target == "macOS14" and config.fail_on == "warning"
    assert config.select == ("CML-T", "CML-O001") and config.ignore == ("CML-D",)
    assert config.bundle_dirs == (tmp_path.resolve() / "App/Resources",)
    assert config.scan_weights is False
    legacy = tmp_path / "models" / "legacy" / "Old.mlmodel"
    assert config.ignored_for(str(legacy)) == ("CML-V005",)
    assert config.ignored_for(str(tmp_path / "models" / "New.mlmodel")) == ()


def test_pyproject_without_the_table_is_skipped(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.other]\ntarget = "iOS16"\n')
    inner = tmp_path / "inner"
    inner.mkdir()
    (inner / "pyproject.toml").write_text('[tool.coremlcheck]\ntarget = "iOS17"\n')
    assert find_pyproject(inner) == inner / "pyproject.toml"
    assert find_pyproject(tmp_path) != tmp_path / "pyproject.toml"
    assert load_config(inner).target == "iOS17"


@pytest.mark.parametrize("table,message", [
    ({"target": ["iOS16"]}, "target must be"),
    ({"select": "CML-Q999"}, "unknown rule"),
    ({"fail-on": "never"}, "fail-on"),
    ({"per-path-ignores": ["x"]}, "per-path-ignores"),
    ({"bundle-dirs": [1]}, "list of strings"),
    ({"colour": "blue"}, "unknown key"),
])
def test_config_errors(table, message):
    with pytest.raises(LintUsageError, match=message):
        from_mapping(table)
