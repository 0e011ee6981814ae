"""The rules, one module per id group; importing this package registers them."""

from . import (  # noqa: F401 - imported for registration
    classifiers,
    compression,
    fp16,
    interface,
    metadata,
    model_types,
    naming,
    neuralnetwork,
    performance,
    program,
    structure,
    version,
)
