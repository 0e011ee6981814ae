"""Whose fault: the user's models, files and inputs give a CheckError naming what is wrong; a
bug of ours keeps its traceback and says it is a bug (never a disguised CheckError)."""

from __future__ import annotations

import numpy as np
import pytest

from pytest_coremlcheck import CheckError, assert_equivalent
from pytest_coremlcheck.errors import InternalError, guarded, is_internal
from pytest_coremlcheck.inputs import as_input_source
from pytest_coremlcheck.report.labels import check_label

from .helpers import convert_image_model, tiny_conv_net


def test_a_python_error_inside_the_package_is_an_internal_error():
    with pytest.raises(InternalError) as caught:
        guarded("report label", lambda: check_label(None))  # our code subscripts None
    message = str(caught.value)
    assert "internal error in pytest-coremlcheck (report label)" in message
    assert "This is a bug" in message and "/issues" in message
    assert isinstance(caught.value.__cause__, (TypeError, AttributeError))


def test_a_deliberate_type_error_about_user_input_stays_a_check_error():
    with pytest.raises(CheckError, match="inputs: inputs must be images"):
        guarded("inputs", lambda: as_input_source(42))


def test_an_error_raised_by_user_code_is_a_check_error():
    def users_model():
        return {}["missing"]  # a KeyError in the user's own code

    with pytest.raises(CheckError, match="source model: 'missing'"):
        guarded("source model", users_model)
    try:
        users_model()
    except KeyError as exc:
        assert not is_internal(exc)


def test_a_failing_source_model_is_reported_as_the_users_problem():
    torch = pytest.importorskip("torch")

    class Broken(torch.nn.Module):
        def forward(self, x):
            return x.reshape(7, 7)  # raises inside the user's forward

    with pytest.raises(CheckError) as caught:
        assert_equivalent(Broken(), inputs={"x": np.zeros((1, 3), np.float32)})
    assert not isinstance(caught.value, InternalError)


@pytest.fixture(scope="module")
def fp32_model():
    return convert_image_model(tiny_conv_net())


def test_a_variant_that_fails_in_user_code_is_a_check_error(fp32_model):
    from pytest_coremlcheck.compare.tolerance import Tolerance
    from pytest_coremlcheck.convert.variants import Variant, build

    def users_build(mlmodel):
        return mlmodel.no_such_method()  # the user's own build function is wrong

    variant = Variant("mine", "fp32", 0, Tolerance(), build=users_build)
    with pytest.raises(CheckError, match="building variant 'mine': AttributeError") as caught:
        build(variant, fp32_model)
    assert not isinstance(caught.value, InternalError)


def test_a_bug_of_ours_while_building_a_variant_is_an_internal_error(fp32_model):
    from pytest_coremlcheck.compare.tolerance import Tolerance
    from pytest_coremlcheck.convert.variants import Variant, build

    variant = Variant("ours", "fp32", 0, Tolerance(), build=lambda m: check_label(None))
    with pytest.raises(InternalError, match=r"building variant 'ours'.*This is a bug"):
        build(variant, fp32_model)
