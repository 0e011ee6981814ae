"""The GitHub Actions workflow: least privilege, no stored credentials, pip cache, Python matrix,
and a nightly schedule that runs only the goldens job."""

from __future__ import annotations

from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")

WORKFLOW = Path(__file__).resolve().parents[1] / ".github" / "workflows" / "ci.yml"


@pytest.fixture(scope="module")
def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def test_permissions_are_read_only(workflow):
    assert workflow["permissions"] == {"contents": "read"}
    assert all("permissions" not in job for job in workflow["jobs"].values())


def test_every_checkout_drops_credentials_and_every_python_caches_pip(workflow):
    for name, job in workflow["jobs"].items():
        for step in job["steps"]:
            uses = step.get("uses", "")
            if uses.startswith("actions/checkout"):
                assert step["with"]["persist-credentials"] is False, name
            if uses.startswith("actions/setup-python"):
                assert step["with"]["cache"] == "pip", name


def test_linux_job_tests_python_3_10_to_3_13(workflow):
    assert workflow["jobs"]["linux"]["strategy"]["matrix"]["python"] == [
        "3.10", "3.11", "3.12", "3.13"]


def test_nightly_schedule_runs_only_the_goldens_job(workflow):
    for name, job in workflow["jobs"].items():
        condition = job.get("if", "")
        if name == "macos-goldens":
            assert "schedule" in condition and "!=" not in condition
        else:
            assert "github.event_name != 'schedule'" in condition, name


def test_tox_runs_in_ci(workflow):
    commands = [s.get("run", "") for s in workflow["jobs"]["tox"]["steps"]]
    assert any(c.startswith("tox run") for c in commands)
