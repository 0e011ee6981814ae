"""Channel-order rules between the check's arrays and TensorFlow models (no TensorFlow needed)."""

import numpy as np
import pytest

from pytest_coremlcheck.sources.tensorflow import layout


@pytest.mark.parametrize("shape, declared, moved", [
    ((1, 3, 32, 32), (None, 32, 32, 3), True),  # RGB image into an NHWC model
    ((1, 1, 28, 28), (None, 28, 28, 1), True),  # grayscale
    ((1, 3, 32, 32), (None, 3, 32, 32), False),  # channels_first model: unchanged
    ((1, 32, 32, 3), (None, 32, 32, 3), False),  # already NHWC
    ((1, 3, 64, 48), (None, None, None, 3), True),  # flexible spatial size
    ((1, 3, 32, 32), (None, None, None, None), False),  # nothing known: unchanged
    ((1, 3, 32, 32), None, False),
    ((2, 5), (None, 5), False),  # not 4-D
])
def test_inputs_move_to_nhwc_only_when_that_is_what_fits(shape, declared, moved):
    array = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    out, note = layout.to_model_layout(array, declared, "image")
    if moved:
        np.testing.assert_array_equal(out, array.transpose(0, 2, 3, 1))
        assert note.startswith("input 'image': NCHW") and "→ NHWC" in note
    else:
        assert out is array and note is None


def test_outputs_move_to_nchw_only_to_match_the_core_ml_shape():
    source = np.random.default_rng(0).random((1, 8, 6, 3))
    out, note = layout.to_coreml_layout(source, (1, 3, 8, 6), "styled")
    np.testing.assert_array_equal(out, source.transpose(0, 3, 1, 2))
    assert note == "output 'styled': source NHWC (1, 8, 6, 3) → NCHW (1, 3, 8, 6) to match " \
                   "the Core ML output"
    same, none = layout.to_coreml_layout(source, (1, 8, 6, 3), "styled")
    assert same is source and none is None
    other, none = layout.to_coreml_layout(source, (1, 144), "flat")
    assert other is source and none is None
