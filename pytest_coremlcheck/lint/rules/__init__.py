"""The rules, one module per id group; importing this package registers them in order."""

from . import (  # noqa: F401 - imported for registration
    version,
)
