"""The pytest plugin, through real inner pytest sessions (pytester)."""

from __future__ import annotations

import shutil

import pytest

pytest_plugins = ["pytester"]
#: Inner sessions skip hypothesis' plugin: its terminal summary re-imports hypothesis each time.
QUIET = ("-p", "no:hypothesispytest", "-p", "no:cacheprovider")


@pytest.fixture
def run(pytester):
    return lambda *args: pytester.runpytest(*QUIET, *args)


@pytest.fixture
def models(pytester, zoo):
    """A repository with two models under models/: one for iOS16, one for iOS18."""
    directory = pytester.path / "models"
    directory.mkdir()
    shutil.copytree(zoo("iOS16-cnn"), directory / "Small.mlpackage")
    shutil.copytree(zoo("iOS18-stateful"), directory / "Stateful.mlpackage")
    return directory


def _ini(pytester, **values):
    lines = "\n".join(f"{k} = {v}" for k, v in values.items())
    pytester.makeini(f"[pytest]\n{lines}\n")


def test_models_are_collected_as_lint_items(pytester, models, run):
    _ini(pytester, coreml_lint_paths="models/*.mlpackage", coreml_target="iOS17")
    result = run("-v")
    result.stdout.fnmatch_lines([
        "*models/Small.mlpackage::coreml-lint PASSED*",
        "*models/Stateful.mlpackage::coreml-lint FAILED*",
        "*CML-T006 error: state 'acc' needs iOS18 (spec 9); the target is iOS17 (spec 8)*",
    ])
    result.assert_outcomes(passed=1, failed=1)


def test_option_overrides_ini_and_fail_on(pytester, models, run):
    _ini(pytester, coreml_lint_paths="models/*.mlpackage", coreml_target="iOS17")
    run("--coreml-target", "iOS18").assert_outcomes(passed=2)
    result = run("--coreml-target", "iOS18", "--coreml-lint-fail-on", "info")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*finding(s) at or above 'info'*", "*CML-D001 info*"])


def test_findings_below_threshold_are_summarized(pytester, models, run):
    _ini(pytester, coreml_lint_paths="models/Small.mlpackage", coreml_target="iOS16")
    shutil.copytree(pytester.path / "models" / "Small.mlpackage",
                    pytester.path / "models" / "Not An Identifier.mlpackage")
    _ini(pytester, coreml_lint_paths="models/*.mlpackage", coreml_target="iOS18")
    result = run()
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["*coremlcheck lint*", "*CML-I003 warning*",
                                 "*info finding(s) below the fail-on threshold*"])


def test_pyproject_configures_target_and_ignores(pytester, models, run):
    pytester.makepyprojecttoml("""
        [tool.pytest.ini_options]
        coreml_lint_paths = ["models/**/*.mlpackage"]

        [tool.coremlcheck]
        target = "iOS17"
        fail-on = "warning"

        [tool.coremlcheck.per-path-ignores]
        "models/Stateful.mlpackage" = ["CML-T006", "CML-O001", "CML-V001", "CML-V007"]
    """)
    result = run("-v")
    result.assert_outcomes(passed=2)


def test_explicit_paths_limit_lint_items(pytester, models, run):
    _ini(pytester, coreml_lint_paths="models/*.mlpackage", coreml_target="iOS18")
    pytester.makepyfile(test_other="def test_other():\n    pass\n")
    run("test_other.py").assert_outcomes(passed=1)
    result = run("models/Small.mlpackage", "-v")
    result.assert_outcomes(passed=1)
    run().assert_outcomes(passed=3)
    run("-k", "Stateful").assert_outcomes(passed=1)


def test_unreadable_model_fails_its_item(pytester, run):
    _ini(pytester, coreml_lint_paths="*.mlmodel")
    (pytester.path / "Broken.mlmodel").write_bytes(b"\x08\x07\xff\xff\xff")
    result = run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*CML-V000 error: not a valid Core ML model: *"])


@pytest.mark.parametrize("target", ["iOS19", "iOS99"])
def test_bad_target_is_a_usage_error(pytester, run, target):
    result = run("--coreml-target", target)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*unknown deployment target '{target}': there is no Core ML "
                                 f"release for iOS {target[3:]}; valid iOS targets are iOS11, "
                                 "iOS12, *, iOS26*"])


def test_findings_for_check(pytester, models, run):
    pytester.makeconftest("""
        import pytest
        from pytest_coremlcheck.lint.pytest_plugin import findings_for_check

        @pytest.fixture
        def lint_model(request):
            return lambda path: findings_for_check(request.config, path)
    """)
    pytester.makepyfile(test_models="""
        def test_lint(lint_model):
            every, failing = lint_model("models/Stateful.mlpackage")
            assert {f.id for f in failing} >= {"CML-T006", "CML-V001"}
            assert all(f.severity == "error" for f in failing)
            assert len(every) > len(failing)
            _, failing = lint_model("models/Small.mlpackage")
            assert failing == []
    """)
    run("--coreml-target", "iOS17").assert_outcomes(passed=1)


def test_plugin_loads_with_the_main_plugin_under_its_module_name(pytestconfig):
    plugin = pytestconfig.pluginmanager.get_plugin("pytest_coremlcheck.lint.pytest_plugin")
    assert plugin is not None and hasattr(plugin, "pytest_coremlcheck_lint_model")
