"""How long `lint` takes on a large ML program: 1,000 ops and ~100 MB of fp16 weights.

Builds the program once with the MIL builder (250 blocks of linear → relu → mul → add on a
(1, 448) tensor, each linear with its own 448×448 weight: 1,000 ops, ~100 MB of fp16 weights),
saves it as an .mlpackage, then times, in one process after a warm-up:

* reading the spec only,
* linting without the weight scan (the default for speed: spec only),
* linting with the weight scan (the FP16 rules read every constant once).

Each row is the median of --repeats runs. The weight-scan column also reports how many weight
bytes the run read, to show that the spec-only lint reads none.

    python benchmarks/lint_speed.py [--ops 1000] [--repeats 7] [--keep DIR]

With --keep the package is kept in DIR and reused by the next run with the same --ops.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

WIDTH = 448
OPS_PER_BLOCK = 4


def build(path: Path, ops: int) -> tuple[int, int]:
    """Save a program of about ``ops`` ops; returns (ops, weight bytes)."""
    import coremltools as ct
    from coremltools.converters.mil import Builder as mb

    blocks = ops // OPS_PER_BLOCK
    rng = np.random.default_rng(0)

    @mb.program(input_specs=[mb.TensorSpec(shape=(1, WIDTH))], opset_version=ct.target.iOS17)
    def program(x):
        for _ in range(blocks):
            weight = (rng.standard_normal((WIDTH, WIDTH)) * 0.02).astype(np.float32)
            h = mb.relu(x=mb.linear(x=x, weight=weight))
            h = mb.mul(x=h, y=np.float32(0.5))
            x = mb.add(x=x, y=h)
        return x

    model = ct.convert(program, minimum_deployment_target=ct.target.iOS17,
                       compute_precision=ct.precision.FLOAT16)
    model.save(str(path))
    weights = path / "Data" / "com.apple.CoreML" / "weights" / "weight.bin"
    spec = model.get_spec()
    function = spec.mlProgram.functions["main"]
    count = sum(1 for op in function.block_specializations[function.opset].operations
                if op.type != "const")
    return count, weights.stat().st_size


def median_seconds(function, repeats: int) -> float:
    function()  # warm-up: imports, op registry
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--keep", help="directory to keep the generated package in")
    args = parser.parse_args()

    from pytest_coremlcheck.lint import lint
    from pytest_coremlcheck.lint.source import read_path
    from pytest_coremlcheck.lint.weights import BlobStore

    directory = Path(args.keep) if args.keep else Path(tempfile.mkdtemp())
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "Large.mlpackage"
    marker = directory / f"Large.{args.ops}.ops"
    start = time.perf_counter()
    if path.exists() and marker.exists():
        ops, weight_bytes = (int(v) for v in marker.read_text().split())
    else:
        if path.exists():
            shutil.rmtree(path)
        ops, weight_bytes = build(path, args.ops)
        marker.write_text(f"{ops} {weight_bytes}")
    built = time.perf_counter() - start

    read_bytes = {"count": 0}
    original = BlobStore.read

    def counting_read(self, file_name, offset, dtype_name):
        array = original(self, file_name, offset, dtype_name)
        read_bytes["count"] += 0 if array is None else array.nbytes
        return array

    BlobStore.read = counting_read
    try:
        parse = median_seconds(lambda: read_path(path), args.repeats)
        read_bytes["count"] = 0
        spec_only = median_seconds(lambda: lint(path, scan_weights=False), args.repeats)
        spec_only_bytes = read_bytes["count"] // (args.repeats + 1)
        read_bytes["count"] = 0
        scanned = median_seconds(lambda: lint(path, scan_weights=True), args.repeats)
        scanned_bytes = read_bytes["count"] // (args.repeats + 1)
        findings = lint(path, target="iOS16", scan_weights=False)
    finally:
        BlobStore.read = original

    print(f"model: {ops} ops, {weight_bytes / 2**20:.1f} MB weights, spec "
          f"{(path / 'Data/com.apple.CoreML/model.mlmodel').stat().st_size / 2**10:.0f} KB "
          f"(built in {built:.1f} s)")
    print(f"median of {args.repeats} runs after a warm-up\n")
    print(f"{'step':<34}{'seconds':>10}{'weight MB read':>16}")
    print(f"{'read spec':<34}{parse:>10.3f}{0:>16.1f}")
    print(f"{'lint, no weight scan':<34}{spec_only:>10.3f}{spec_only_bytes / 2**20:>16.1f}")
    print(f"{'lint, weight scan':<34}{scanned:>10.3f}{scanned_bytes / 2**20:>16.1f}")
    print(f"\nlint --target iOS16: {len(findings.findings)} findings, requires "
          f"{findings.required_target} ({findings.required_by})")
    if not args.keep:
        shutil.rmtree(directory)


if __name__ == "__main__":
    main()
