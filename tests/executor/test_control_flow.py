"""Control flow (cond, while_loop) and lists, run through nested blocks."""

from __future__ import annotations

import coremltools as ct
import numpy as np
from coremltools.converters.mil import Builder as mb
from coremltools.converters.mil.mil import types

from .helpers import run, spec


def test_cond_picks_a_branch():
    @mb.program(input_specs=[spec(3)], opset_version=ct.target.iOS17)
    def prog(x):
        positive = mb.greater(x=mb.reduce_sum(x=x), y=0.0)
        return mb.cond(pred=positive, _true_fn=lambda: mb.mul(x=x, y=2.0),
                       _false_fn=lambda: mb.mul(x=x, y=-1.0))

    np.testing.assert_array_equal(run(prog, {"x": np.array([1, 2, 3], np.float32)})[0], [2, 4, 6])
    np.testing.assert_array_equal(run(prog, {"x": np.array([-1, -2, 0], np.float32)})[0],
                                  [1, 2, 0])


def test_while_loop_counts_and_doubles():
    @mb.program(input_specs=[spec(2), spec(1, dtype=types.int32)], opset_version=ct.target.iOS17)
    def prog(x, n):
        limit = mb.squeeze(x=n)

        def body(a, i):
            return mb.add(x=a, y=a), mb.add(x=i, y=1)

        def cond(a, i):
            return mb.less(x=i, y=limit)

        return mb.while_loop(_cond=cond, _body=body, loop_vars=(x, 0))

    a, i = run(prog, {"x": np.array([1.0, -0.5], np.float32), "n": np.array([5], np.int32)})
    np.testing.assert_array_equal(a, [32.0, -16.0])
    assert int(np.asarray(i).reshape(-1)[0]) == 5


def test_list_write_read_gather_scatter_length():
    @mb.program(input_specs=[spec(2, 3)], opset_version=ct.target.iOS17)
    def prog(x):
        ls = mb.make_list(init_length=2, elem_shape=[mb.const(val=3)], dtype="fp32",
                          dynamic_length=True)
        ls = mb.list_write(ls=ls, index=0, value=mb.slice_by_index(
            x=x, begin=[0, 0], end=[1, 3], squeeze_mask=[True, False]))
        ls = mb.list_write(ls=ls, index=3, value=mb.mul(x=mb.slice_by_index(
            x=x, begin=[1, 0], end=[2, 3], squeeze_mask=[True, False]), y=10.0))
        ls = mb.list_scatter(ls=ls, indices=np.array([1], np.int32), value=mb.add(
            x=mb.slice_by_index(x=x, begin=[1, 0], end=[2, 3]), y=100.0))
        return (mb.list_read(ls=ls, index=3), mb.list_gather(ls=ls, indices=[0, 1, 2]),
                mb.list_length(ls=ls))

    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    read, gathered, length = run(prog, {"x": x})
    np.testing.assert_array_equal(read, x[1] * 10)
    np.testing.assert_array_equal(gathered, [x[0], x[1] + 100, [0, 0, 0]])  # slot 2 unwritten
    assert int(np.asarray(length).reshape(-1)[0]) == 4


def test_tensorflow_style_loop_accumulates_in_a_list():
    """A TensorArray-style loop: write one row per iteration, then gather them all."""

    @mb.program(input_specs=[spec(4, 2)], opset_version=ct.target.iOS17)
    def prog(x):
        ls = mb.make_list(init_length=4, elem_shape=[mb.const(val=2)], dtype="fp32",
                          dynamic_length=False)

        def body(i, ls):
            row = mb.gather(x=x, indices=i, axis=0)
            return mb.add(x=i, y=1), mb.list_write(ls=ls, index=i, value=mb.mul(x=row, y=row))

        def cond(i, ls):
            return mb.less(x=i, y=4)

        _, final = mb.while_loop(_cond=cond, _body=body, loop_vars=(0, ls))
        return mb.list_gather(ls=final, indices=[3, 2, 1, 0])

    x = np.arange(8, dtype=np.float32).reshape(4, 2)
    np.testing.assert_array_equal(run(prog, {"x": x})[0], (x * x)[::-1])
