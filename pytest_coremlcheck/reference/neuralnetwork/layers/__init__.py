"""Layer implementations by family; importing this package registers them all."""

from . import (  # noqa: F401
    activation,
    control,
    conv,
    elementwise,
    gather,
    linear,
    misc,
    normalization,
    pooling,
    recurrent,
    reduction,
    shape,
    spatial,
)
