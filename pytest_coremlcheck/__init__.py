"""pytest-coremlcheck: prove a converted Core ML model computes what its source computes.

Public API: ``Tolerance``, ``images``, ``tensors``, ``assert_equivalent``,
``EquivalenceError``, ``EquivalenceResult``; training parity: ``UpdateCheck``,
``check_update``, ``torch_trainer``, ``keras_trainer``. The pytest plugin adds the
``coreml_equivalence`` marker and the ``coreml_check`` and ``coreml_update_check`` fixtures.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .lazy import lazy_attributes

if TYPE_CHECKING:  # imported on first use (``__getattr__``): loading the plugin stays cheap
    from .check.result import EquivalenceResult, ResultSet
    from .compare.tolerance import Tolerance
    from .decode.loop import decode_check, run_decode
    from .errors import CheckError, EquivalenceError
    from .inputs import feeds, images, tensors
    from .training.keras import keras_trainer
    from .training.parity import UpdateCheck, check_update
    from .training.torch import torch_trainer

#: public name -> the module that defines it
_LAZY = {"feeds": "inputs", "images": "inputs", "tensors": "inputs", "CheckError": "errors",
         "EquivalenceError": "errors", "EquivalenceResult": "check.result",
         "ResultSet": "check.result", "Tolerance": "compare.tolerance",
         "UpdateCheck": "training.parity", "check_update": "training.parity",
         "keras_trainer": "training.keras", "torch_trainer": "training.torch",
         "decode_check": "decode.loop", "run_decode": "decode.loop"}

__all__ = [
    "Tolerance",
    "images",
    "tensors",
    "feeds",
    "assert_equivalent",
    "EquivalenceError",
    "EquivalenceResult",
    "ResultSet",
    "CheckError",
    "UpdateCheck",
    "check_update",
    "torch_trainer",
    "keras_trainer",
    "decode_check",
    "run_decode",
]
__version__ = "0.1.0"


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, globals())


def assert_equivalent(
    source,
    converted=None,
    inputs=None,
    tolerance: Tolerance | dict | None = None,
    **kw,
) -> EquivalenceResult:
    """Check ``converted`` against ``source`` without pytest.

    Keywords: ``convert`` (``ct.convert`` arguments when ``converted`` is None), ``name``,
    ``variants`` (e.g. ``("fp32", "fp16", "int8")``), ``shapes`` (input shapes to check),
    ``backend`` ("auto", "coreml", "reference"), ``compute_units`` (list), ``fp16_mode``,
    ``cache_dir`` (conversion cache; off when None), ``artifacts_dir`` (PNGs of failing image
    outputs; none kept when None), ``localize`` ("failed": localise a failing ML program run
    by the reference executor, the default; "all"; "off").
    Returns the result (a ResultSet when several models, shapes or compute units ran); raises
    ``EquivalenceError`` (an AssertionError whose message is the failure table) when a
    tolerance is broken, ``CheckError`` when the check cannot run.
    """
    from .check import CheckSettings, run_check
    from .check.result import ResultSet
    from .convert.cache import ConversionCache
    from .errors import EquivalenceError
    from .localize.step import localise_results

    settings = CheckSettings(
        backend=kw.pop("backend", "auto"),
        compute_units=list(kw.pop("compute_units", ["ALL"])),
        fp16_mode=kw.pop("fp16_mode", "typed"),
        cache=ConversionCache(kw.pop("cache_dir", None), "on"),
        artifacts_dir=kw.pop("artifacts_dir", None),
        localize=kw.pop("localize", "failed"),
        localizer=localise_results,
    )
    results = run_check(source, converted, inputs=inputs, tolerance=tolerance,
                        settings=settings, **kw)
    failing = [r for r in results if not r.passed]
    if failing:
        raise EquivalenceError(failing[0], also_failed=failing[1:])
    return results[0] if len(results) == 1 else ResultSet(results)
