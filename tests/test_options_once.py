"""Options and ini values are validated once, in pytest_configure: a bad value is one usage
error (exit 4) at startup; an unwritable report path never ends a run with exit 0."""

import pytest

TESTS = """
import numpy as np


def test_one(coreml_check):
    pass


def test_two(coreml_check):
    pass
"""


@pytest.fixture
def inner(pytester):
    pytester.makepyfile(TESTS)
    return pytester


@pytest.mark.parametrize("args, message", [
    (["--coreml-compute-units=FOO"],
     "--coreml-compute-units: unknown compute unit(s) FOO; expected a comma list of"),
    (["--coreml-tolerance=bogus=1"], "--coreml-tolerance: unknown tolerance field(s) bogus"),
    (["--coreml-tolerance=min_snr_db=nan"],
     "--coreml-tolerance: min_snr_db must be a finite number, got nan"),
    (["--coreml-tolerance=atol=-inf"], "--coreml-tolerance: atol must be a finite number"),
])
def test_bad_option_is_one_usage_error_at_startup(inner, args, message):
    result = inner.runpytest("-p", "no:cacheprovider", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert result.stderr.str().count(message) == 1, result.stderr.str()
    assert "test_one" not in result.stdout.str() and "Traceback" not in result.stderr.str()


@pytest.mark.parametrize("ini, message", [
    ("coreml_tolerance = min_cosine=inf", "ini coreml_tolerance: min_cosine must be a finite"),
    ("coreml_backend = gpu", "ini coreml_backend: 'gpu' is not one of auto, coreml, reference"),
    ("coreml_fp16_mode = half", "ini coreml_fp16_mode: 'half' is not one of typed"),
    ("coreml_compute_units = NPU", "ini coreml_compute_units: unknown compute unit(s) NPU"),
])
def test_bad_ini_value_is_a_usage_error_naming_the_key(inner, ini, message):
    inner.makeini(f"[pytest]\n{ini}\n")
    result = inner.runpytest("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.str()


def test_valid_options_are_parsed_once_and_stashed(inner):
    inner.makeconftest("""
        def pytest_sessionstart(session):
            from pytest_coremlcheck.plugin import run_settings
            settings = run_settings(session.config)
            assert settings.compute_units == ["CPU_ONLY", "ALL"]
            assert settings.default_tolerance.min_snr_db == 35.0
            assert settings.fp16_mode == "fp32"
    """)
    result = inner.runpytest("-p", "no:cacheprovider",
                                        "--coreml-compute-units=cpu_only,ALL",
                                        "--coreml-tolerance=min_snr_db=35",
                                        "--coreml-fp16-mode=fp32")
    result.assert_outcomes(passed=2)


def test_report_under_a_file_is_a_usage_error(inner):
    (inner.path / "notadir").write_text("x")
    result = inner.runpytest("-p", "no:cacheprovider",
                                        "--coreml-report=notadir/r.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "--coreml-report" in result.stderr.str()
    assert "notadir is not a directory" in result.stderr.str()
    result = inner.runpytest("-p", "no:cacheprovider", "--coreml-report=r.txt")
    assert result.ret == pytest.ExitCode.USAGE_ERROR and "unknown format '.txt'" in \
        result.stderr.str()


def test_report_that_cannot_be_written_at_the_end_fails_the_run(pytester):
    """The report directory exists at startup; the test replaces it with a file."""
    pytester.makeconftest(MODEL)
    pytester.makepyfile("""
        import shutil

        def test_passes_then_breaks_the_report_dir(coreml_check, good_package, pytestconfig):
            from conftest import Net
            coreml_check(Net(), good_package)
            out = pytestconfig.rootpath / "out"
            shutil.rmtree(out)
            out.write_text("now a file")
    """)
    (pytester.path / "out").mkdir()
    result = pytester.runpytest("-p", "no:cacheprovider", "--coreml-backend=reference",
                                           "--coreml-report=out/r.json")
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stdout.fnmatch_lines(["*coreml report *out/r.json: not written:*"])


MODEL = '''
import coremltools as ct
import pytest
import torch


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.fc = torch.nn.Linear(6, 4)

    def forward(self, x):
        return torch.tanh(self.fc(x))


@pytest.fixture(scope="session")
def good_package(tmp_path_factory):
    path = tmp_path_factory.mktemp("m") / "Good.mlpackage"
    ct.convert(torch.jit.trace(Net(), torch.ones(1, 6)), skip_model_load=True,
               inputs=[ct.TensorType(name="x", shape=(1, 6))], outputs=[ct.TensorType(name="y")],
               compute_precision=ct.precision.FLOAT32).save(str(path))
    return path
'''
