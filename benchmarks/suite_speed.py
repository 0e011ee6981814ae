"""Wall time of the example suite: cold vs warm conversion cache, serial vs ``pytest -n 2``.

1. Cache: in one process (imports done first), the example suite with a fresh cache
   directory (cold: every conversion and variant is built), then again (warm: cache hits).
2. Parallelism: the example suite with the cache off, serially and with ``-n 2``, each as a
   fresh ``python -m pytest`` process (both pay their imports).

Run: ``.venv/bin/python benchmarks/suite_speed.py``.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SUITE = [str(ROOT / "examples")]
QUIET = ["-q", "-p", "no:cacheprovider", "--no-header", "-W", "ignore"]


def in_process(cache_dir: str) -> float:
    import pytest

    start = time.perf_counter()
    code = pytest.main(SUITE + QUIET + [f"--coreml-cache-dir={cache_dir}"])
    if code != 0:
        raise SystemExit(f"example suite failed ({code})")
    return time.perf_counter() - start


def subprocess_run(extra: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pytest", *SUITE, *QUIET, "--coreml-cache=off",
                    *extra], check=True, cwd=ROOT, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    import coremltools  # noqa: F401  (imports are not part of the measured runs)
    import torch  # noqa: F401

    with tempfile.TemporaryDirectory() as cache:
        cold = in_process(cache)
        warm = in_process(cache)
    serial = subprocess_run([])
    parallel = subprocess_run(["-n", "2"])
    print("| measurement | wall time (s) | ratio |")
    print("|---|---:|---:|")
    print(f"| example suite, cold cache | {cold:.1f} | |")
    print(f"| example suite, warm cache | {warm:.1f} | {warm / cold:.2f} of cold |")
    print(f"| example suite, serial (cache off) | {serial:.1f} | |")
    print(f"| example suite, `-n 2` (cache off) | {parallel:.1f} | {parallel / serial:.2f} of "
          "serial |")


if __name__ == "__main__":
    main()
