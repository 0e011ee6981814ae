"""Fixtures for the linter tests: converted models built once per session, and specs to break."""

from __future__ import annotations

from pathlib import Path

import pytest

from ._lint_zoo import BY_ID


@pytest.fixture(scope="session")
def zoo(tmp_path_factory):
    """``zoo("iOS16-cnn") -> Path``: the case's model, converted on first use and cached."""
    directory = tmp_path_factory.mktemp("lint_zoo")
    built: dict[str, Path] = {}

    def get(case_id: str) -> Path:
        if case_id not in built:
            case = BY_ID[case_id]
            built[case_id] = case.build(case.target, directory)
        return built[case_id]

    return get


@pytest.fixture(scope="session")
def zoo_spec(zoo):
    """``zoo_spec("iOS16-cnn")``: a fresh copy of the case's spec to edit."""
    from coremltools.proto import Model_pb2

    specs = {}

    def get(case_id: str):
        if case_id not in specs:
            path = zoo(case_id)
            from pytest_coremlcheck.lint.source import read_path

            specs[case_id] = read_path(path).spec
        copy = Model_pb2.Model()
        copy.CopyFrom(specs[case_id])
        return copy

    return get
