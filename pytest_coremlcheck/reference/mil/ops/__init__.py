"""Op families; importing this package registers every implementation."""

from . import (  # noqa: F401
    activation,
    classify,
    compression,
    control_flow,
    conv,
    elementwise,
    linear,
    normalization,
    pooling,
    quantization,
    random,
    recurrent,
    reduction,
    resize,
    scatter_gather,
    shape,
    state,
    tensor_operation,
    transformers,
)
