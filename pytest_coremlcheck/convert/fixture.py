"""``ct.convert`` through the conversion cache, outside a check: for tests that need the
converted model itself (to quantize it, build a pipeline or link it), as the ``coreml_convert``
fixture.

The key is the one on-the-fly conversions in checks use (source fingerprint, conversion
arguments, traced feed shapes, package versions), so a check converting the same source the
same way shares the entry.
"""

from __future__ import annotations

from typing import Any

from ..errors import CheckError, guarded
from ..inputs import as_input_source, tensors
from ..sources import as_source
from .cache import ConversionCache
from .chain import ChainInputs, converted_model
from .on_the_fly import conversion_features


def convert_cached(source, convert: dict[str, Any], cache: ConversionCache, example=None):
    """The converted model (an ``MLModel``) of ``source`` with ``ct.convert(**convert)``.

    ``example`` (inputs as checks take them) traces the source; default: one seeded random
    sample shaped from ``convert["inputs"]``. Raises CheckError naming what failed.
    """
    src = guarded("source model", lambda: as_source(source))
    input_source = guarded("example", lambda: as_input_source(example if example is not None
                                                            else tensors(n=1)))
    features = guarded("convert", lambda: conversion_features(convert, input_source))
    if features is None:
        raise CheckError("converting needs inputs=[ct.TensorType(...)/ct.ImageType(...)] "
                         "or example= (a dict of arrays) to trace the source with")
    feed = guarded("example", lambda: input_source.materialize(features)[0].source)
    chain = ChainInputs(src, None, convert, feed, [f.name for f in features], cache)
    return guarded("conversion", lambda: converted_model(chain))
