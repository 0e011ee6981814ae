"""Where a converted model loses accuracy, and fixes verified by re-running the check.

``localize(source, converted, inputs=..., tolerance=...)`` records an fp16 program as declared
and in fp32 (or a compressed variant and its base, with ``compression=``), ranks ops by the
error they add, lists numeric hazards in program order and tries fixes: ops kept in fp32
(``FP16ComputePrecision(op_selector=...)``) or weights left uncompressed (``op_name_configs``).
"""

from .errors import OpError
from .fixes import Fp32Ops
from .hazards import Hazard
from .result import CheckOutcome, Fix, Localisation
from .run import localize

__all__ = ["localize", "Localisation", "OpError", "Hazard", "Fix", "CheckOutcome", "Fp32Ops"]
