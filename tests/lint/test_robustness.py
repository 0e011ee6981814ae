"""Property tests: mutated real specs either lint (findings, no rule crash) or fail with
"not a valid Core ML model: …" — nothing else, and quickly.

Mutations: random field edits of the parsed spec, truncated files, random bytes behind a valid
header, and byte overwrites of a spec inside an .mlpackage (so weight references point
anywhere). The default run checks a few hundred cases per mutation; the ``slow`` run thousands.
"""

from __future__ import annotations

import math
import shutil
import time

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from pytest_coremlcheck.lint import InvalidModelError, lint

SOURCES = ["iOS16-cnn", "iOS13-nn_cnn", "iOS18-multifunction", "iOS18-stateful", "iOS16-lut4",
           "iOS16-image", "iOS16-classifier"]
#: Seconds one lint may take before the test calls it a hang.
HANG = 5.0
FAST, THOROUGH = 150, 1500


def check(model, target=None):
    """Lint ``model``; the only acceptable outcomes are a result or InvalidModelError."""
    start = time.perf_counter()
    try:
        result = lint(model, target=target)
    except InvalidModelError as exc:
        assert str(exc).startswith("not a valid Core ML model: ")
        return None
    finally:
        assert time.perf_counter() - start < HANG
    crashes = [f.message for f in result.findings if f.id == "CML-V999"]
    assert crashes == []
    for finding in result.findings:
        assert finding.severity in ("error", "warning", "info")
        assert finding.id.startswith("CML-") and finding.message
    result.to_dict()
    return result


#: Filled by the ``_real_models`` fixture (kept out of the test signatures so hypothesis does
#: not print megabytes of spec bytes with a failing example): case → (path, spec bytes), plus
#: a scratch directory and a package whose spec the byte tests overwrite.
REAL: dict = {}


@pytest.fixture(scope="module", autouse=True)
def _real_models(zoo, zoo_spec, tmp_path_factory):
    REAL["specs"] = {case: (zoo(case), zoo_spec(case).SerializeToString()) for case in SOURCES}
    scratch = tmp_path_factory.mktemp("robust")
    REAL["scratch"] = scratch
    package = scratch / "Model.mlpackage"
    shutil.copytree(REAL["specs"]["iOS16-lut4"][0], package)
    REAL["package"] = package
    yield
    REAL.clear()


def _settings(examples: int):
    return settings(max_examples=examples, deadline=None, derandomize=False,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow, HealthCheck.data_too_large])


# -- random field edits -----------------------------------------------------------------------

_INT_LIMITS = {
    "TYPE_INT32": (-2**31, 2**31 - 1), "TYPE_SINT32": (-2**31, 2**31 - 1),
    "TYPE_SFIXED32": (-2**31, 2**31 - 1), "TYPE_UINT32": (0, 2**32 - 1),
    "TYPE_FIXED32": (0, 2**32 - 1), "TYPE_INT64": (-2**63, 2**63 - 1),
    "TYPE_SINT64": (-2**63, 2**63 - 1), "TYPE_SFIXED64": (-2**63, 2**63 - 1),
    "TYPE_UINT64": (0, 2**64 - 1), "TYPE_FIXED64": (0, 2**64 - 1), "TYPE_ENUM": (-5, 200000),
}


def _type_name(field) -> str:
    from google.protobuf.descriptor import FieldDescriptor

    return {v: k for k, v in vars(FieldDescriptor).items() if k.startswith("TYPE_")}[field.type]


def _is_map(field) -> bool:
    return field.message_type is not None and field.message_type.GetOptions().map_entry


def _slots(message, out, depth=0):
    """(message, field) for every field of every set sub-message, up to 2000 slots."""
    from google.protobuf.message import Message

    if depth > 12 or len(out) > 2000:
        return out
    for field in message.DESCRIPTOR.fields:
        out.append((message, field))
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        if _is_map(field):
            values = field.message_type.fields_by_name["value"]
            items = list(value.values())[:8] if values.message_type is not None else []
        else:
            items = [value] if isinstance(value, Message) else list(value)[:8]
        for item in items:
            _slots(item, out, depth + 1)
    return out


def _scalar(data, field):
    kind = _type_name(field)
    if kind in _INT_LIMITS:
        low, high = _INT_LIMITS[kind]
        return data.draw(st.one_of(st.sampled_from([0, 1, 2, -1, 3, 7, 9, 10, 65552, 131080]),
                                   st.integers(low, high)).filter(lambda v: low <= v <= high))
    if kind in ("TYPE_FLOAT", "TYPE_DOUBLE"):
        return data.draw(st.one_of(st.floats(width=32 if kind == "TYPE_FLOAT" else 64),
                                   st.sampled_from([0.0, math.inf, -math.inf, 1e9, -1e9]),
                                   st.just(math.nan)))
    if kind == "TYPE_BOOL":
        return data.draw(st.booleans())
    if kind == "TYPE_STRING":
        return data.draw(st.one_of(st.sampled_from(["", "main", "CoreML7", "x", "input.1",
                                                    "@model_path/weights/weight.bin"]),
                                   st.text(max_size=12)))
    return data.draw(st.binary(max_size=64))


def _mutate(data, spec) -> None:
    slots = _slots(spec, [])
    message, field = data.draw(st.sampled_from(slots))
    repeated = field.label == field.LABEL_REPEATED if hasattr(field, "label") else (
        field.is_repeated)
    container = getattr(message, field.name) if (repeated or field.message_type) else None
    action = data.draw(st.sampled_from(["clear", "set", "add", "drop"]))
    if action == "clear":
        message.ClearField(field.name)
    elif _is_map(field):
        if action == "drop" or len(container) == 0:
            message.ClearField(field.name)
    elif repeated and field.message_type is not None:
        if action == "drop" and len(container):
            del container[data.draw(st.integers(0, len(container) - 1))]
        elif len(container) and action == "add":
            container.add().CopyFrom(container[data.draw(st.integers(0, len(container) - 1))])
        else:
            container.add()
    elif repeated:
        if action == "drop" and len(container):
            del container[data.draw(st.integers(0, len(container) - 1))]
        else:
            container.append(_scalar(data, field))
    elif field.message_type is not None:
        container.SetInParent()
    else:
        setattr(message, field.name, _scalar(data, field))


def _field_edits(data):
    from coremltools.proto import Model_pb2

    name = data.draw(st.sampled_from(SOURCES))
    spec = Model_pb2.Model()
    spec.ParseFromString(REAL["specs"][name][1])
    for _ in range(data.draw(st.integers(1, 6))):
        try:
            _mutate(data, spec)
        except (ValueError, TypeError):  # a value the field cannot hold
            assume(False)
    target = data.draw(st.sampled_from([None, "iOS15", "iOS17", "macOS14", "9"]))
    check(spec, target)


@_settings(FAST)
@given(data=st.data())
def test_field_edits(data):
    _field_edits(data)


@pytest.mark.slow
@_settings(THOROUGH)
@given(data=st.data())
def test_field_edits_thorough(data):
    _field_edits(data)


# -- bytes on disk ----------------------------------------------------------------------------


def _truncated(data):
    name = data.draw(st.sampled_from(SOURCES))
    raw = REAL["specs"][name][1]
    cut = data.draw(st.integers(0, len(raw)))
    path = REAL["scratch"] / "truncated.mlmodel"
    path.write_bytes(raw[:cut])
    check(path)


@_settings(FAST)
@given(data=st.data())
def test_truncated_files(data):
    _truncated(data)


@pytest.mark.slow
@_settings(THOROUGH)
@given(data=st.data())
def test_truncated_files_thorough(data):
    _truncated(data)


def _random_after_header(data):
    name = data.draw(st.sampled_from(SOURCES))
    raw = REAL["specs"][name][1]
    keep = data.draw(st.integers(2, min(len(raw), 64)))
    noise = data.draw(st.binary(max_size=4096))
    path = REAL["scratch"] / "noise.mlmodel"
    path.write_bytes(raw[:keep] + noise)
    check(path)


@_settings(FAST)
@given(data=st.data())
def test_random_bytes_after_valid_header(data):
    _random_after_header(data)


@pytest.mark.slow
@_settings(THOROUGH)
@given(data=st.data())
def test_random_bytes_after_valid_header_thorough(data):
    _random_after_header(data)


def _overwritten_package(data):
    raw = bytearray(REAL["specs"]["iOS16-lut4"][1])
    for _ in range(data.draw(st.integers(1, 8))):
        position = data.draw(st.integers(0, len(raw) - 1))
        raw[position] = data.draw(st.integers(0, 255))
    package = REAL["package"]
    (package / "Data" / "com.apple.CoreML" / "model.mlmodel").write_bytes(bytes(raw))
    check(package, data.draw(st.sampled_from([None, "iOS16"])))


@_settings(FAST)
@given(data=st.data())
def test_overwritten_bytes_in_package(data):
    _overwritten_package(data)


@pytest.mark.slow
@_settings(THOROUGH)
@given(data=st.data())
def test_overwritten_bytes_in_package_thorough(data):
    _overwritten_package(data)
