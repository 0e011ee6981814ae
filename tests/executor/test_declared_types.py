"""Every op's result is checked against the shape and element type the program declares."""

from __future__ import annotations

import coremltools as ct
import numpy as np
import pytest
from coremltools.converters.mil import Builder as mb
from coremltools.converters.mil.mil import get_new_symbol, types

from pytest_coremlcheck.reference import ExecutionError, ReferenceModel

from .helpers import convert, spec


@pytest.fixture(scope="module")
def model():
    @mb.program(input_specs=[spec(2, 3)], opset_version=ct.target.iOS17)
    def prog(x):
        return mb.reduce_argmax(x=mb.relu(x=x, name="act"), axis=1, name="best")

    return convert(prog)


def _step(reference: ReferenceModel, op_type: str):
    return next(s for s in reference._engine.block.steps if s.node.op_type == op_type)


def test_results_of_the_declared_shape_and_type_pass(model):
    x = np.array([[1.0, -2.0, 3.0], [0.5, 4.0, -1.0]], np.float32)
    (best,) = ReferenceModel(model).predict({"x": x}).values()
    np.testing.assert_array_equal(best, [2, 1])
    assert best.dtype == np.int32  # computed as int64 by torch, stored as declared


def test_a_result_of_another_shape_names_the_op_and_both_shapes(model):
    reference = ReferenceModel(model)
    _step(reference, "relu").impl = lambda ins, node: ins["x"][:, :2]  # an executor bug
    with pytest.raises(ExecutionError) as error:
        reference.predict({"x": np.ones((2, 3), np.float32)})
    message = str(error.value)
    assert "op 'act' (relu)" in message
    assert "declares shape (2, 3) of fp32" in message and "computed shape (2, 2)" in message


def test_a_result_of_another_element_type_category_is_an_error(model):
    reference = ReferenceModel(model)
    _step(reference, "reduce_argmax").impl = lambda ins, node: ins["x"].max(dim=1).values
    with pytest.raises(ExecutionError, match=r"op 'best' \(reduce_argmax\).*of int32.*"
                                             r"shape \(2,\) of float32"):
        reference.predict({"x": np.ones((2, 3), np.float32)})


def test_symbolic_dims_are_skipped_but_rank_is_checked():
    n = get_new_symbol()

    @mb.program(input_specs=[mb.TensorSpec(shape=(n, 3))], opset_version=ct.target.iOS17)
    def prog(x):
        return mb.relu(x=x, name="act")

    reference = ReferenceModel(convert(prog))
    for rows in (1, 2):
        (out,) = reference.predict({"x": np.ones((rows, 3), np.float32)}).values()
        assert out.shape == (rows, 3)
    _step(reference, "relu").impl = lambda ins, node: ins["x"].reshape(-1)
    with pytest.raises(ExecutionError, match=r"declares shape \(\?, 3\) of fp32"):
        reference.predict({"x": np.ones((2, 3), np.float32)})


@pytest.mark.parametrize("mode", ["typed", "fp32"])
def test_fp16_values_computed_in_float32_match_their_declared_fp16(mode):
    @mb.program(input_specs=[spec(2, 3)], opset_version=ct.target.iOS17)
    def prog(x):
        return mb.mul(x=mb.sin(x=x), y=3.0)

    model = convert(prog, precision="fp16")
    assert any(v.dtype == types.fp16 for op in model._mil_program.functions["main"].operations
               for v in op.outputs)
    x = np.full((2, 3), 0.1, np.float32)
    (out,) = ReferenceModel(model, fp16_mode=mode).predict({"x": x}).values()
    np.testing.assert_allclose(out, 3 * np.sin(0.1), rtol=2e-3)
