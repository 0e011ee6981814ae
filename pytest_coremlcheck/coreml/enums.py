"""Enum numbers of the Core ML protobuf and their names, one table each, for the executor,
the inputs and the linter: ``ArrayFeatureType.ArrayDataType`` (``FeatureTypes.proto``),
``ImageFeatureType.ColorSpace`` and the ML program's ``DataType`` (``MIL.proto``)."""

from __future__ import annotations

#: ``ArrayFeatureType.ArrayDataType`` number → name.
ARRAY_DATA_TYPES = {65568: "FLOAT32", 65600: "DOUBLE", 131104: "INT32", 131080: "INT8",
                    65552: "FLOAT16"}
#: ``ImageFeatureType.ColorSpace`` number → name.
COLOR_SPACES = {10: "GRAYSCALE", 20: "RGB", 30: "BGR", 40: "GRAYSCALE_FLOAT16"}
#: MIL ``DataType`` number → name.
MIL_DATA_TYPES = {0: "UNUSED_TYPE", 1: "BOOL", 2: "STRING", 10: "FLOAT16", 11: "FLOAT32",
                  12: "FLOAT64", 13: "BFLOAT16", 21: "INT8", 22: "INT16", 23: "INT32",
                  24: "INT64", 25: "INT4", 31: "UINT8", 32: "UINT16", 33: "UINT32",
                  34: "UINT64", 35: "UINT4", 36: "UINT2", 37: "UINT1", 38: "UINT6",
                  39: "UINT3", 40: "FLOAT8E4M3FN", 41: "FLOAT8E5M2"}
#: MIL ``DataType.FLOAT16``.
MIL_FLOAT16 = 10
