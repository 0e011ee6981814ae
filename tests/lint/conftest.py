"""Fixtures for the linter tests: converted models built once per session, and specs to break."""

from __future__ import annotations

from pathlib import Path

import pytest

from ._lint_zoo import BY_ID


@pytest.fixture(scope="session")
def zoo(tmp_path_factory, lint_worker):
    """``zoo("iOS16-cnn") -> Path``: the case's model, converted on first use and cached.

    Under pytest-xdist the workers share one directory and a lock per case, so each model
    is converted once per run."""
    from filelock import FileLock

    base = tmp_path_factory.getbasetemp()
    directory = (base.parent if lint_worker != "master" else base) / "lint_zoo"
    directory.mkdir(exist_ok=True)
    built: dict[str, Path] = {}

    def get(case_id: str) -> Path:
        if case_id not in built:
            case = BY_ID[case_id]
            case_dir = directory / case_id
            with FileLock(str(directory / f"{case_id}.lock")):
                done = case_dir / "path.txt"
                if done.exists():
                    built[case_id] = Path(done.read_text())
                else:
                    case_dir.mkdir(exist_ok=True)
                    built[case_id] = case.build(case.target, case_dir)
                    done.write_text(str(built[case_id]))
        return built[case_id]

    return get


@pytest.fixture(scope="session")
def lint_worker(request):
    """The xdist worker id ("gw0", …), or "master" without xdist."""
    workerinput = getattr(request.config, "workerinput", None)
    return workerinput["workerid"] if workerinput else "master"


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
