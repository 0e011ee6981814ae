"""Build small MIL programs, convert them, and run them on the reference executor."""

from __future__ import annotations

import coremltools as ct
import numpy as np
from coremltools.converters.mil import Builder as mb

from pytest_coremlcheck.reference import ReferenceModel

TARGETS = {
    "iOS15": ct.target.iOS15,
    "iOS16": ct.target.iOS16,
    "iOS17": ct.target.iOS17,
    "iOS18": ct.target.iOS18,
}


def convert(prog, target: str = "iOS17", precision: str = "fp32", empty_pipeline=False):
    """An ML program ``MLModel`` for ``prog`` (not loaded by Core ML)."""
    kwargs = {}
    if empty_pipeline:
        kwargs["pass_pipeline"] = ct.PassPipeline.EMPTY
    return ct.convert(
        prog,
        convert_to="mlprogram",
        minimum_deployment_target=TARGETS[target],
        compute_precision=ct.precision.FLOAT32 if precision == "fp32" else ct.precision.FLOAT16,
        skip_model_load=True,
        **kwargs,
    )


def run(prog, inputs: dict, target: str = "iOS17", precision: str = "fp32",
        empty_pipeline=False, **model_kwargs) -> list:
    """The program's outputs, in declaration order, as the reference executor computes them."""
    model = convert(prog, target, precision, empty_pipeline)
    reference = ReferenceModel(model, **model_kwargs)
    result = reference.predict({k: np.asarray(v) for k, v in inputs.items()})
    return [result[o.name] for o in model.get_spec().description.output]


def spec(*shape, dtype=None):
    """``mb.TensorSpec`` shorthand."""
    from coremltools.converters.mil.mil import types

    return mb.TensorSpec(shape=shape, dtype=dtype or types.fp32)

