"""``slice_update`` into a state writes in place only where nothing can see the old values
(``reference/mil/inplace.py``): a key/value-cache write, read by nothing else and stored back.
Expected values are computed by hand in numpy; each unsafe pattern must keep the copy."""

from __future__ import annotations

import coremltools as ct
import numpy as np
import pytest
from coremltools.converters.mil import Builder as mb
from coremltools.converters.mil.mil import types

from pytest_coremlcheck.reference import ReferenceModel

ROWS, COLS = 4, 3


def _program(pattern: str):
    """A cache of ROWS × COLS (fp16 state); each prediction writes ``x`` into row ``pos``.
    ``pattern`` adds what may make writing in place unsafe."""
    specs = [mb.StateTensorSpec((ROWS, COLS), dtype=types.fp16),
             mb.TensorSpec((1, COLS), dtype=types.fp16), mb.TensorSpec((1,), dtype=types.int32)]

    @mb.program(input_specs=specs, opset_version=ct.target.iOS18)
    def program(cache, x, pos):
        old = mb.read_state(input=cache)
        view = mb.slice_by_index(x=old, begin=[0, 0], end=[1, COLS]) \
            if pattern == "view used after" else None
        begin = mb.concat(values=[pos, np.array([0], np.int32)], axis=0)
        end = mb.concat(values=[mb.add(x=pos, y=np.int32(1)), np.array([COLS], np.int32)],
                        axis=0)
        update = mb.slice_by_index(x=old, begin=[ROWS - 1, 0], end=[ROWS, COLS]) \
            if pattern == "update read from old" else x
        new = mb.slice_update(x=old, update=update, begin=begin, end=end)
        if pattern == "read between":
            again = mb.read_state(input=cache)
        if pattern != "no write back":
            mb.coreml_update_state(state=cache, value=new)
        total = mb.reduce_sum(x=new, axes=[0], keep_dims=True)
        if pattern == "old read after":
            total = mb.add(x=total, y=mb.reduce_sum(x=old, axes=[0], keep_dims=True))
        if pattern == "view used after":
            total = mb.add(x=total, y=view)
        if pattern == "read between":
            total = mb.add(x=total, y=mb.reduce_sum(x=again, axes=[0], keep_dims=True))
        return mb.identity(x=total, name="total")

    return ct.convert(program, minimum_deployment_target=ct.target.iOS18,
                      compute_precision=ct.precision.FLOAT16, skip_model_load=True)


def _expected(pattern: str, initial: np.ndarray, rows: list[np.ndarray]):
    """(the output after each prediction, the final cache), by hand."""
    cache, outs = initial.copy(), []
    for pos, row in enumerate(rows):
        old = cache.copy()
        new = old.copy()
        new[pos] = old[ROWS - 1] if pattern == "update read from old" else row
        total = new.sum(0, keepdims=True)
        if pattern in ("old read after", "read between"):
            total = total + old.sum(0, keepdims=True)
        if pattern == "view used after":
            total = total + old[:1]
        outs.append(total)
        cache = old if pattern == "no write back" else new
    return outs, cache


PATTERNS = {"cache write": True, "old read after": False, "view used after": False,
            "read between": False, "no write back": False, "update read from old": False}


@pytest.mark.parametrize("pattern", list(PATTERNS))
def test_in_place_only_where_no_one_sees_the_old_values(pattern):
    model = ReferenceModel(_program(pattern))
    (update,) = [s for s in model._engine.block.steps if s.node.op_type == "slice_update"]
    assert update.node.writes_state is PATTERNS[pattern]
    rng = np.random.default_rng(0)
    rows = [rng.integers(-8, 8, COLS).astype(np.float32) for _ in range(ROWS)]
    initial = rng.integers(-8, 8, (ROWS, COLS)).astype(np.float32)
    expected, cache = _expected(pattern, initial, rows)
    state = model.make_state()
    state.write("cache", initial)
    for pos, (row, want) in enumerate(zip(rows, expected)):
        out = model.predict({"x": row[None], "pos": np.array([pos], np.int32)}, state=state)
        np.testing.assert_array_equal(out["total"], want, err_msg=f"{pattern}, step {pos}")
    np.testing.assert_array_equal(state.read("cache"), cache)


def test_a_recording_keeps_the_old_value_it_recorded():
    """A recording (localisation) keeps copies of op outputs: the zeros ``read_state`` gave
    stay zeros after the write into them."""
    model = ReferenceModel(_program("cache write"))
    state = model.make_state()
    row = np.array([[1, 2, 3]], np.float32)
    recording = model.record({"x": row, "pos": np.array([0], np.int32)}, state=state)
    (read,) = [op for op in recording.ops if op.op_type == "read_state"]
    assert not np.any(read.values[read.outputs[0]])
    np.testing.assert_array_equal(state.read("cache")[0], row[0])
