"""``python -m pytest_coremlcheck.cli``: the ``coremlcheck`` command."""

import sys

from . import main

sys.exit(main())
