"""Declared checks: coremlcheck.toml / pyproject.toml checks collected as pytest items."""

import json
import textwrap

import pytest

MODULE = """
from pytest_coremlcheck import tensors
from tests.helpers import tiny_conv_net


def samples():
    return tensors(n=3, seed=5)


def build():
    return tiny_conv_net(0)


def other():
    return tiny_conv_net(1)


def broken():
    raise RuntimeError("weights missing")
"""


@pytest.fixture
def gate_dir(pytester, saved_models):
    """A directory with a source module; returns a function writing the TOML file."""
    pytester.makepyfile(gate_zoo=MODULE)
    model = saved_models["image_fp32"]

    def write(text: str, name: str = "coremlcheck.toml"):
        path = pytester.path / name
        path.write_text(textwrap.dedent(text).replace("MODEL", str(model)))
        return path

    return write


def test_passing_failing_and_on_the_fly_checks(pytester, gate_dir):
    gate_dir("""
        [[check]]
        name = "classifier"
        source = "gate_zoo:build"
        model = "MODEL"
        inputs = "random:2"

        [[check]]
        name = "other_weights"
        source = "gate_zoo:other"
        model = "MODEL"
        inputs = "random:2"
        tolerance = { min_snr_db = 40, per_output = { probs = { min_cosine = 0.9 } } }

        [[check]]
        name = "converted_here"
        source = "gate_zoo:build"
        inputs = "random:2"

        [check.convert]
        minimum_deployment_target = "iOS16"
        compute_precision = "float16"
        inputs = [{ name = "x", shape = [1, 3, 32, 32] }]
    """)
    result = pytester.runpytest_inprocess("--coreml-backend=reference", "-p", "no:cacheprovider",
                                          "--coreml-report=r.json")
    result.assert_outcomes(passed=2, failed=1)
    out = result.stdout.str()
    assert "FAILED coremlcheck.toml::other_weights" in out
    assert "Core ML equivalence check 'other_weights' FAILED" in out
    assert "min_snr_db=40" in out and "probs" in out
    assert "Traceback" not in out and "def check" not in out
    checks = json.loads((pytester.path / "r.json").read_text())["checks"]
    by_test = {c["test"]: c for c in checks}
    assert set(by_test) == {"coremlcheck.toml::classifier", "coremlcheck.toml::other_weights",
                            "coremlcheck.toml::converted_here"}
    assert by_test["coremlcheck.toml::classifier"]["passed"]
    assert by_test["coremlcheck.toml::other_weights"]["tolerance"]["per_output"] == {
        "probs": {"min_cosine": 0.9}}
    assert by_test["coremlcheck.toml::converted_here"]["precision"] == "fp16"


def test_pyproject_check_tables(pytester, gate_dir):
    gate_dir("""
        [tool.coremlcheck]
        target = "iOS16"

        [[tool.coremlcheck.check]]
        name = "classifier"
        source = "gate_zoo:build"
        model = "MODEL"
        inputs = "gate_zoo:samples"
    """, name="pyproject.toml")
    result = pytester.runpytest_inprocess("--coreml-backend=reference", "-p", "no:cacheprovider",
                                          "--coreml-report=r.json")
    result.assert_outcomes(passed=1)
    assert "pyproject.toml::classifier" in result.stdout.str()
    check = json.loads((pytester.path / "r.json").read_text())["checks"][0]
    assert check["inputs"].startswith("tensors(n=3, seed=5")


def test_pyproject_inline_check_array_is_collected(pytester, gate_dir):
    gate_dir("""
        [tool.coremlcheck]
        check = [{ name = "inline", source = "gate_zoo:build", model = "MODEL" }]
    """, name="pyproject.toml")
    result = pytester.runpytest_inprocess("--collect-only", "-p", "no:cacheprovider")
    result.assert_outcomes()
    assert "<DeclaredCheckItem inline>" in result.stdout.str()


def test_source_that_raises_is_a_check_that_could_not_run(pytester, gate_dir):
    gate_dir("""
        [[check]]
        name = "broken"
        source = "gate_zoo:broken"
        model = "MODEL"

        [[check]]
        name = "broken_inputs"
        source = "gate_zoo:build"
        model = "MODEL"
        inputs = "gate_zoo:missing"
    """)
    result = pytester.runpytest_inprocess("--coreml-backend=reference", "-p", "no:cacheprovider",
                                          "--coreml-report=r.json")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*could not run*calling broken() raised RuntimeError: weights "
                                 "missing*", "*could not run*inputs gate_zoo:missing: gate_zoo "
                                 "has no attribute 'missing'*"])
    checks = json.loads((pytester.path / "r.json").read_text())["checks"]
    assert checks[0]["test"] == "coremlcheck.toml::broken"
    assert "weights missing" in checks[0]["error"]
    assert "has no attribute 'missing'" in checks[1]["error"]


@pytest.mark.parametrize("text, message", [
    ("[[check]]\nsource = ", "coremlcheck.toml: not valid TOML"),
    ('[[check]]\nsource = "gate_zoo:build"\n[[check]]\nsource = "gate_zoo:build"\n'
     'modle = "X.mlpackage"\n', "coremlcheck.toml: check[1]: unknown key(s) modle; valid keys"),
    ('[[check]]\nname = "a"\n', "coremlcheck.toml: check[0]: missing key 'source'"),
    ('[[check]]\nsource = "gate_zoo:build"\nmodel = "Gone.mlpackage"\n',
     "check[0]: model: *Gone.mlpackage does not exist"),
    ('[[check]]\nsource = "gate_zoo:build"\nconvert = { minimum_deployment_target = "iOS99" }\n',
     "check[0]: convert: minimum_deployment_target = 'iOS99'; expected one of iOS13*"),
    ('[[check]]\nsource = "gate_zoo:build"\ntolerance = { snr = 3 }\n',
     "check[0]: tolerance: unknown tolerance field(s) snr*"),
    ('[[check]]\nsource = "gate_zoo:build"\ntolerance = { min_snr_db = "abc" }\n',
     "check[0]: tolerance: min_snr_db must be a number, got 'abc'"),
    ('[[check]]\nsource = "gate_zoo:build"\ntolerance = { atol = nan }\n',
     "check[0]: tolerance: atol must be a finite number, got nan*"),
    ('[[check]]\nsource = "gate_zoo:build"\ntolerance = { per_output = { probs = { min_cosine '
     '= inf } } }\n', "check[0]: tolerance: per_output['probs']: min_cosine must be a finite*"),
    ('[[check]]\nsource = "gate_zoo:build"\nvariants = ["fp16"]\n'
     'tolerance = { int8 = { min_snr_db = 20 } }\n',
     "check[0]: tolerance.int8: not a tolerance field nor one of this check's variants (fp16)"),
    ('[[check]]\nsource = "gate_zoo:build"\nvariants = ["fp17"]\n',
     "check[0]: variants: unknown variant 'fp17'*"),
    ('[[check]]\nsource = "gone.pt"\n', "check[0]: source: source *gone.pt does not exist*"),
    ('[[check]]\nsource = "gate_zoo:build"\ninputs = "random:x"\n',
     "check[0]: inputs: inputs 'random:x': expected random:N*"),
    ('[[check]]\nsource = "gate_zoo:build"\n[[check]]\nsource = "gate_zoo:build"\n'
     'name = "check0"\n', "check[1]: name 'check0' is already used*"),
])
def test_bad_files_are_collection_errors_naming_file_table_and_key(pytester, gate_dir, text,
                                                                     message):
    gate_dir(text)
    result = pytester.runpytest_inprocess("--collect-only", "-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([f"*{message.replace('[', '[[]')}*"])


def test_per_output_naming_a_missing_output_fails_the_check_naming_the_outputs(pytester,
                                                                               gate_dir):
    gate_dir("""
        [[check]]
        source = "gate_zoo:build"
        model = "MODEL"
        inputs = "random:1"
        tolerance = { per_output = { logits = { min_top1 = 1.0 } } }
    """)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--coreml-backend=reference")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*per_output names 'logits', which the model does not output; "
                                 "its outputs are probs*"])
