"""Op families; importing this package registers every implementation."""

from . import (  # noqa: F401
    activation,
    conv,
    elementwise,
    normalization,
    pooling,
    recurrent,
    reduction,
    resize,
    shape,
)
