"""What loading the plugin adds to a pytest run that uses none of its fixtures.

Measures the CPU time (user + system; steadier than wall time on a busy machine) of
``python -m pytest -q -p no:cacheprovider test_empty.py`` (one empty test, in a
temporary directory) with the plugin and with ``-p no:coremlcheck``, in interleaved rounds,
and prints the medians and their difference (target: ≤ 0.1 s), twice: with bytecode caches
(as an installed package runs; written under a temporary ``PYTHONPYCACHEPREFIX``, never
into the source tree) and with ``PYTHONDONTWRITEBYTECODE=1`` (every module compiled on every
run, and the plugin's modules assertion-rewritten by pytest, as pytest does for every
plugin). Also lists which heavy libraries (numpy, PIL, jinja2, rich, coremltools, torch)
were imported by the time the test ran (target: none).

Run: ``.venv/bin/python benchmarks/plugin_startup.py [--rounds 12]``.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

TEST = '''import sys

def test_empty():
    heavy = [m for m in ("numpy", "PIL", "jinja2", "rich", "coremltools", "torch")
             if m in sys.modules]
    print("HEAVY", ",".join(heavy) or "-")
'''


def _run(directory: Path, env: dict, *extra: str) -> tuple[float, str]:
    """CPU seconds (user + system) of one pytest process, and the heavy modules it loaded."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider",
                           *extra, "test_empty.py"], cwd=directory, capture_output=True,
                          text=True, check=True, env=env)
    heavy = next(line.split()[1] for line in done.stdout.splitlines()
                 if line.startswith("HEAVY"))
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, heavy


def _environments(directory: Path) -> dict[str, dict]:
    """Name -> the environment of the pytest processes: bytecode cached, or never written."""
    cached = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    cached["PYTHONPYCACHEPREFIX"] = str(directory / "pycache")
    return {"bytecode cached": cached,
            "PYTHONDONTWRITEBYTECODE=1": {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}}


def _measure(directory: Path, env: dict, rounds: int) -> tuple[float, float, str]:
    """Median CPU seconds with and without the plugin, and the heavy modules it loaded."""
    with_plugin, without, heavy = [], [], "-"
    _run(directory, env)  # warm the file-system (and bytecode) caches
    _run(directory, env, "-p", "no:coremlcheck")
    for _ in range(rounds):
        seconds, heavy = _run(directory, env)
        with_plugin.append(seconds)
        without.append(_run(directory, env, "-p", "no:coremlcheck")[0])
    return statistics.median(with_plugin), statistics.median(without), heavy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=12)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        (directory / "test_empty.py").write_text(TEST)
        for name, env in _environments(directory).items():
            on, off, heavy = _measure(directory, env, args.rounds)
            print(f"{name}: empty test, median of {args.rounds} interleaved rounds: with the "
                  f"plugin {on:.3f} s CPU, without {off:.3f} s, added {on - off:+.3f} s "
                  "(target ≤ 0.1 s)")
    print(f"heavy libraries imported by the time the test ran: {heavy}")


if __name__ == "__main__":
    main()
