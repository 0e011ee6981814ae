"""A fast subset of coremltools' own op tests, predictions routed to the reference executor
exactly as ``make conformance`` routes them (``conformance/coremlcheck_conformance.py``)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _runner():
    spec = importlib.util.spec_from_file_location("conformance_run", ROOT / "conformance" /
                                                  "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def smoke_records(tmp_path_factory):
    run = _runner()
    out = tmp_path_factory.mktemp("conformance")
    command, env = run.pytest_invocation(run.SMOKE_PATHS, out, k=run.SMOKE_K, timeout=120)
    result = subprocess.run(command, env=env, cwd=str(ROOT), capture_output=True, text=True,
                            timeout=600)
    records = [json.loads(line) for path in sorted(out.glob("results-*.jsonl"))
               for line in path.read_text().splitlines() if line.strip()]
    return result, records


def test_smoke_subset_reaches_predictions_and_passes(smoke_records):
    result, records = smoke_records
    assert records, f"no results recorded:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    failed = [r for r in records if r["outcome"] == "failed"]
    assert not failed, "\n".join(f"{r['nodeid']}\n  {r.get('error', '')[:500]}" for r in failed)
    numeric = [r for r in records if r["predicted"] and r["outcome"] == "passed"]
    assert len(numeric) >= 50


def test_smoke_skips_only_for_reasons_outside_the_executor(smoke_records):
    _, records = smoke_records
    reasons = {r.get("reason", "") for r in records if r["outcome"] == "skipped"}
    allowed = ("NeuralNetwork backend", "breaking at opset", "not runnable", "macOS",
               "requires", "only", "not supported", "iOS")
    for reason in reasons:
        assert any(word in reason for word in allowed), reason
