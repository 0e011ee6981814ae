"""Where a converted model loses accuracy, and fixes verified by re-running the check.

``localize(source, converted, inputs=..., tolerance=...)`` records an fp16 program as declared
and in fp32 (or a compressed variant and its base, with ``compression=``), ranks ops by the
error they add, lists numeric hazards in program order and tries fixes: ops kept in fp32
(``FP16ComputePrecision(op_selector=...)``) or weights left uncompressed (``op_name_configs``).

``localize_conversion(source, converted, inputs, tolerance)`` compares the source's modules
with the converted ops of their scope and names the first module that diverges while its inputs
agree; ``find_image_fix(source, inputs, convert, tolerance)`` re-converts a failing
``ct.ImageType`` model with corrected scale, bias or colour layout until the check passes.
"""

from .conversion import ConversionLocalization, localize_conversion
from .errors import OpError
from .fixes import Fp32Ops
from .hazards import Hazard
from .image_fixes import ImageFixSearch, find_image_fix
from .result import CheckOutcome, Fix, Localisation
from .run import localize
from .scopes import ScopeMap, scopes_for

__all__ = ["localize", "Localisation", "OpError", "Hazard", "Fix", "CheckOutcome", "Fp32Ops",
           "localize_conversion", "ConversionLocalization", "find_image_fix", "ImageFixSearch",
           "ScopeMap", "scopes_for"]
