"""The model description and the ML program must declare the same inputs (Core ML refuses to
load a model whose description and program disagree, and so does the executor).

Checked for the model a ``ReferenceModel`` opens; pipeline stages whose declarations differ are
converted at the stage boundary and noted instead (see ``pipeline``)."""

from __future__ import annotations

from coremltools.converters.mil.mil import types

from ...coreml.features import Feature
from ..errors import ModelLoadError
from . import dtypes


def check_inputs(where: str, features: list[Feature], inputs: dict) -> None:
    """Each described input is a program input of the same dtype, rank and fixed dimensions,
    and every program input (states aside) is described; errors name the input and both
    declarations."""
    program = {name: var for name, var in inputs.items()
               if not types.is_state(var.sym_type)}
    described = {f.name for f in features if f.kind != "state"}
    for name in sorted(set(program) - described):
        raise ModelLoadError(f"{where}: the program takes input {name!r}, which the model "
                             "description does not declare")
    for feature in features:
        if feature.kind == "state":
            continue
        if feature.name not in program:
            raise ModelLoadError(f"{where}: the model description declares input "
                                 f"{feature.name!r}, which the program does not take (program "
                                 f"inputs: {', '.join(sorted(program)) or 'none'})")
        _compare(where, feature, program[feature.name])


def _compare(where: str, feature: Feature, var) -> None:
    if feature.kind not in ("array", "image") or not types.is_tensor(var.sym_type):
        return
    dtype = dtypes.numpy_dtype(dtypes.element_type(var))
    shape = tuple(var.sym_type.get_shape())
    described = (f"{feature.dtype.name}{list(feature.shape)}" if feature.kind == "array"
                 else f"a {feature.color} image ({feature.dtype.name}{list(feature.shape)})")
    declared = f"{dtype.name}{[d if isinstance(d, int) else '?' for d in shape]}"
    if dtype != feature.dtype:
        raise ModelLoadError(f"{where}: input {feature.name!r} is {described} in the model "
                             f"description but {declared} in the program; the dtypes must "
                             "match")
    if feature.flexible or not feature.shape:
        return
    fixed = [(a, b) for a, b in zip(feature.shape, shape) if isinstance(b, int)]
    if len(shape) != len(feature.shape) or any(a != b for a, b in fixed):
        raise ModelLoadError(f"{where}: input {feature.name!r} is {described} in the model "
                             f"description but {declared} in the program; the shapes must "
                             "match")
