"""Golden outputs: what real Core ML computed for each check, stored on macOS and compared
against on any OS as a third party (source vs converted, and converted vs golden).

A golden is two files in the golden directory, named after the check id (readable slug plus a
short hash of the full id): ``<stem>.npz`` (``s<sample>_o<output>`` arrays) and ``<stem>.json``::

    {"format": "coremlcheck-golden", "version": 1, "check": <check id>, "backend": "coreml",
     "platform": "Core ML, ALL", "compute_unit": "ALL", "os": "macOS 14.5 (arm64)",
     "coremltools": "8.3.0", "model_hash", "inputs_hash", "samples": 2, "outputs": [names]}
"""

from __future__ import annotations

import hashlib
import json
import platform
import re
import zipfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from ..compare import metrics
from ..compare.tolerance import Tolerance
from ..compare.verdict import violations
from ..store.files import read_json, write_atomic
from .fileformat import check_header

FORMAT = "coremlcheck-golden"
VERSION = 1


class GoldenError(ValueError):
    """A golden file that cannot be used; the message names the file and what was expected."""


@dataclass
class Golden:
    """Stored outputs of one check: metadata and, per sample, {output: array}."""

    check: str
    meta: dict[str, Any]
    outputs: list[dict[str, np.ndarray]]
    path: Path

    def stale_reason(self, model_hash: str, inputs_hash: str) -> str | None:
        """Why these outputs no longer describe the check (model or inputs changed), or None."""
        for what, now in (("model", model_hash), ("inputs", inputs_hash)):
            stored = self.meta.get(f"{what}_hash", "")
            if stored and now and stored != now:
                return (f"golden stale: {what} changed ({what}_hash {stored[:12]} -> "
                        f"{now[:12]}, {self.path.name}); not compared")
        return None


def golden_stem(check_id: str) -> str:
    """File stem for a check id: a readable slug and 10 hex digits of sha256(check id)."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", check_id).strip("_.")[:80]
    return f"{slug}-{hashlib.sha256(check_id.encode()).hexdigest()[:10]}"


def write_golden(directory: str | Path, check_id: str, outputs: list[dict[str, Any]], *,
                 model_hash: str, inputs_hash: str, backend: str, platform_name: str,
                 compute_unit: str | None = None) -> Path:
    """Store ``outputs`` (per sample, {output name: array}) as the golden of ``check_id``;
    returns the .json path. Both files are written atomically (temporary file, os.replace)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    names = list(outputs[0]) if outputs else []
    arrays = {f"s{i}_o{j}": np.asarray(sample[name])
              for i, sample in enumerate(outputs) for j, name in enumerate(names)}
    stem = golden_stem(check_id)
    meta = {
        "format": FORMAT, "version": VERSION, "check": check_id, "backend": backend,
        "platform": platform_name, "compute_unit": compute_unit, "os": _os_version(),
        "coremltools": _version("coremltools"), "model_hash": model_hash,
        "inputs_hash": inputs_hash, "samples": len(outputs), "outputs": names,
        "arrays": f"{stem}.npz",
    }
    write_atomic(directory / f"{stem}.npz", lambda handle: np.savez(handle, **arrays))
    return write_atomic(directory / f"{stem}.json", json.dumps(meta, indent=2) + "\n")


def save_from_result(directory: str | Path, check_id: str, result) -> Path:
    """The macOS path: store what the Core ML runtime produced for ``result``."""
    coreml = result.backend == "coreml" and ", " in result.platform  # "Core ML, CPU_ONLY"
    unit = result.platform.rsplit(", ", 1)[-1] if coreml else None
    return write_golden(directory, check_id, result.converted_outputs,
                        model_hash=result.model_hash, inputs_hash=result.inputs_hash,
                        backend=result.backend, platform_name=result.platform, compute_unit=unit)


def load_golden(directory: str | Path, check_id: str, *older_ids: str) -> Golden | None:
    """The golden of ``check_id`` (or of an older key of the same check), or None when there is
    none. GoldenError (naming the file) when it is not JSON, another format, a newer version,
    its ``arrays`` is not a plain file name in ``directory``, or its arrays are unreadable."""
    directory = Path(directory)
    ids = (check_id, *older_ids)
    path = next((p for p in (directory / f"{golden_stem(i)}.json" for i in ids) if p.exists()),
                None)
    if path is None:
        return None
    what = f"golden {path}"
    meta = read_json(path, what=what, error=GoldenError,
                     expected=f"a {FORMAT} file written by --coreml-golden-save")
    check_header(meta, what=what, fmt=FORMAT, version=VERSION, error=GoldenError)
    arrays_path = _arrays_path(path, meta.get("arrays"))
    names, samples = meta.get("outputs"), meta.get("samples")
    if not isinstance(names, list) or not isinstance(samples, int):
        raise GoldenError(f"{what}: expected 'outputs' (a list) and 'samples' (a count)")
    try:
        with np.load(arrays_path, allow_pickle=False) as data:
            outputs = [{name: data[f"s{i}_o{j}"] for j, name in enumerate(names)}
                       for i in range(samples)]
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise GoldenError(f"golden {arrays_path}: unreadable arrays ({type(exc).__name__}: "
                          f"{exc}); expected {samples} sample(s) of {', '.join(names)}") from None
    if meta.get("check") not in ids:
        raise GoldenError(f"{what}: stored for check {meta.get('check')!r}, expected "
                          f"{check_id!r}")
    return Golden(check_id, meta, outputs, path)


def _arrays_path(path: Path, name) -> Path:
    """The .npz beside ``path`` that ``name`` (the ``arrays`` key) names: a plain ``.npz`` file
    name, never a path, so a golden cannot make the plugin read outside its directory."""
    plain = isinstance(name, str) and name == Path(name).name and name not in ("", ".", "..")
    if not plain or not name.endswith(".npz") or "\\" in name:
        raise GoldenError(f"golden {path}: 'arrays' is {name!r}; expected the file name of the "
                          f".npz beside it (e.g. {path.stem}.npz), not a path")
    return path.with_name(name)


def compare_golden(golden: Golden, converted: list[dict[str, Any]], tolerance: Tolerance,
                   image_outputs: set[str] = frozenset()):
    """Metrics of each output, converted (``a``) against golden (``b``), over every sample, and
    the violations of ``tolerance`` (per output), prefixed ``golden``.

    Returns ({output: OutputMetrics}, [failure]). Text outputs (class labels) are not compared.
    """
    found, failures = {}, []
    if len(converted) != len(golden.outputs):
        return found, [f"golden: {len(golden.outputs)} sample(s) stored in {golden.path.name}, "
                       f"the check ran {len(converted)}"]
    for name in golden.outputs[0] if golden.outputs else []:
        if any(name not in c for c in converted):
            failures.append(f"golden {name}: stored in {golden.path.name}, but the converted "
                            "model has no such output")
            continue
        pairs = [(np.asarray(c[name]), g[name]) for c, g in zip(converted, golden.outputs)]
        if any(g.dtype.kind not in "biuf" for _, g in pairs):
            continue
        tol = tolerance.for_output(name)
        try:
            m = metrics.compute(pairs, atol=tol.atol, rtol=tol.rtol, image=name in image_outputs)
        except (metrics.ShapeMismatch, ValueError) as exc:
            failures.append(f"golden {name}: {exc}")
            continue
        found[name] = m
        failures += [f"golden {v}" for v in violations(name, m, tol)]
    return found, failures


def _os_version() -> str:
    mac = platform.mac_ver()[0]
    name = f"macOS {mac}" if mac else f"{platform.system()} {platform.release()}"
    return f"{name} ({platform.machine()})"


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None
