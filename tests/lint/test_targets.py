"""Deployment target names ↔ spec versions ↔ opset strings."""

from __future__ import annotations

import pytest

from pytest_coremlcheck.lint import LintUsageError
from pytest_coremlcheck.lint.targets import (
    NEWEST_SPEC,
    OPSET_BY_SPEC,
    os_name,
    parse_target,
    spec_of_opset,
)


@pytest.mark.parametrize("text,spec", [
    ("iOS11", 1), ("iOS11.2", 2), ("iOS12", 3), ("iOS13", 4), ("iOS14", 5), ("iOS15", 6),
    ("iOS16", 7), ("iOS17", 8), ("iOS18", 9), ("iOS26", 10), ("ios 17.4", 8), ("iPadOS16", 7),
    ("macOS10.13", 1), ("macOS10.13.2", 2), ("macOS10_15", 4), ("macOS10.16", 5), ("macOS11", 5),
    ("macOS12", 6), ("macOS13", 7), ("macOS14", 8), ("macOS15", 9), ("macOS26", 10),
    ("tvOS16", 7), ("watchOS6", 4), ("watchOS9", 7), ("watchOS11", 9), ("visionOS1", 8),
    ("visionOS2", 9), ("visionOS26", 10), ("xrOS2", 9), ("7", 7), (7, 7), ("10", 10),
])
def test_parse_target(text, spec):
    assert parse_target(text).spec == spec


@pytest.mark.parametrize("text", ["iOS10", "iOS19", "macOS16", "android5", "11", "0", "", "iOS",
                                  "spec7", "iOS99", "iOS27", "macOS99", "watchOS12",
                                  "visionOS3"])
def test_parse_target_rejects(text):
    with pytest.raises(LintUsageError):
        parse_target(text)


def test_coremltools_targets_map_to_their_spec():
    import coremltools as ct

    for member in ct.target:
        assert parse_target(member).spec == int(member)


def test_names_follow_the_family():
    assert parse_target("macOS13").name(8) == "macOS14"
    assert parse_target("watchOS9").name(9) == "watchOS11"
    assert parse_target("7").name(8) == "iOS17"
    assert os_name(2) == "iOS11.2"
    assert os_name(8, "visionOS") == "visionOS1"


def test_opset_strings():
    import coremltools as ct

    assert dict(ct._OPSET) == OPSET_BY_SPEC
    for spec, opset in OPSET_BY_SPEC.items():
        assert spec_of_opset(opset) == spec
    assert spec_of_opset("CoreML12") == 13
    assert spec_of_opset("garbage") is None
    assert max(OPSET_BY_SPEC) == NEWEST_SPEC


def test_unknown_os_version_lists_the_valid_targets():
    with pytest.raises(LintUsageError) as error:
        parse_target("iOS99")
    assert str(error.value) == (
        "unknown deployment target 'iOS99': there is no Core ML release for iOS 99; valid iOS "
        "targets are iOS11, iOS12, iOS13, iOS14, iOS15, iOS16, iOS17, iOS18, iOS26")
