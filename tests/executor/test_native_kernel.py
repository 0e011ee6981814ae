"""The C kernel for block-wise quantised weights (``reference/mil/blockwise.c``): its fp16
rounding, its decoded values and its products against numpy, computed independently:
``w = (q − offset) · scale`` in float32, rounded with numpy's float16 cast."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pytest_coremlcheck.reference.mil import kernel

pytestmark = pytest.mark.skipif(kernel.library() is None, reason="no C compiler here")


@pytest.fixture(scope="module", params=["native", "portable"])
def lib(request, tmp_path_factory):
    """The kernel as built for this CPU (vector code where it has AVX2/F16C/FMA), and built
    without CPU-specific flags (the portable C other CPUs run)."""
    if request.param == "native":
        return kernel.library()
    built = kernel._build(kernel._compiler(), kernel._BASE_FLAGS)
    return kernel.load(built)


def _pack(q: np.ndarray, nbits: int) -> np.ndarray:
    """Integers as the kernel reads them: 4-bit two per byte, low nibble first; 8-bit bytes."""
    if nbits == 8:
        return q.astype(np.int64).astype(np.uint8)  # two's complement for negatives
    nibbles = (q & 15).astype(np.uint8)
    return nibbles[:, 0::2] | (nibbles[:, 1::2] << 4)


def _case(lib, rng, rows, cols, nbits, signed, block=(1, 32), offset=False, round16=True,
          half_scale=True):
    """(NativeWeight, expected float32 weight) for random integers and scales."""
    low, high = ((-(1 << (nbits - 1)), 1 << (nbits - 1)) if signed else (0, 1 << nbits))
    q = rng.integers(low, high, (rows, cols))
    grid = (rows // block[0], cols // block[1])
    scale = (rng.random(grid) * 0.02 + 1e-3).astype(np.float16 if half_scale else np.float32)
    offsets = rng.integers(-3, 4, grid).astype(np.float32) if offset else None
    per_weight = np.repeat(np.repeat(scale.astype(np.float32), block[0], 0), block[1], 1)
    shift = (np.repeat(np.repeat(offsets, block[0], 0), block[1], 1) if offset else 0)
    w = (q.astype(np.float32) - shift) * per_weight
    if round16:
        w = w.astype(np.float16).astype(np.float32)
    weight = kernel.NativeWeight(
        lib, torch.from_numpy(_pack(q, nbits)), nbits, signed,
        torch.from_numpy(scale), None if offsets is None else torch.from_numpy(offsets),
        rows, cols, round16)
    return weight, w


#: columns of the test weights: 12 blocks of 32 (scales are converted 8 blocks at a time)
COLS = 384

CASES = [
    dict(nbits=4, signed=True), dict(nbits=4, signed=False), dict(nbits=8, signed=True),
    dict(nbits=8, signed=False), dict(nbits=4, signed=True, offset=True),
    dict(nbits=8, signed=False, offset=True), dict(nbits=4, signed=True, round16=False),
    dict(nbits=4, signed=True, round16=False, half_scale=False),
    dict(nbits=8, signed=True, offset=True, round16=False, half_scale=False),
    dict(nbits=4, signed=True, block=(4, 16)), dict(nbits=4, signed=True, block=(2, 8)),
    dict(nbits=8, signed=True, block=(1, 64)), dict(nbits=4, signed=False, block=(8, 96)),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
def test_decoded_rows_are_numpys_values_bit_for_bit(lib, case):
    rng = np.random.default_rng(0)
    weight, expected = _case(lib, rng, 16, COLS, **case)
    out = torch.empty(16 * COLS)
    np.testing.assert_array_equal(weight.decode_rows(0, 16, out).numpy(), expected)
    np.testing.assert_array_equal(weight.decode_rows(5, 9, out).numpy(), expected[5:9])


@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
def test_products_with_one_hot_rows_give_each_weight_exactly(lib, case):
    """x = the identity: y = x · Wᵀ is Wᵀ itself, each value one product by 1 plus zeros —
    every weight the fused product decoded, in every group of input rows (1 to 4 at once)."""
    rng = np.random.default_rng(1)
    weight, expected = _case(lib, rng, 16, COLS, **case)
    for rows in (1, 2, 3, 4, 7, COLS):
        x = torch.eye(COLS)[:rows]
        np.testing.assert_array_equal(weight.linear(x, None).numpy(), expected[:, :rows].T)


def test_products_match_float64_and_add_the_bias(lib):
    rng = np.random.default_rng(2)
    weight, w = _case(lib, rng, 48, 256, nbits=4, signed=True)
    x = rng.standard_normal((2, 3, 256)).astype(np.float32)
    bias = rng.standard_normal(48).astype(np.float32)
    got = weight.linear(torch.from_numpy(x), torch.from_numpy(bias)).numpy()
    expected = x.astype(np.float64) @ w.T.astype(np.float64) + bias
    assert got.shape == (2, 3, 48)
    np.testing.assert_allclose(got, expected, rtol=0, atol=2e-6 * np.abs(expected).max())


def test_a_wrong_sign_or_scale_grid_is_caught(lib):
    """Wrong on purpose: the checks above fail for a weight read with the wrong signedness or
    with scales of the wrong blocks."""
    rng = np.random.default_rng(3)
    weight, expected = _case(lib, rng, 8, 64, nbits=4, signed=True)
    data, scale, _ = weight.tensors
    unsigned = kernel.NativeWeight(lib, data, 4, False, scale, None, 8, 64, True)
    out = torch.empty(8 * 64)
    assert not np.array_equal(unsigned.decode_rows(0, 8, out).numpy(), expected)
    transposed = scale.reshape(-1).flip(0).reshape(scale.shape).contiguous()
    other_blocks = kernel.NativeWeight(lib, data, 4, True, transposed, None, 8, 64, True)
    assert not np.array_equal(other_blocks.linear(torch.eye(64), None).numpy(), expected.T)


def _fp16_neighbourhood() -> np.ndarray:
    """Every finite fp16 value, the float32 values next to each, the midpoints between
    neighbours (ties) and beyond the largest (65504 … 65520 … inf)."""
    halves = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16).view(np.float16)
    halves = np.sort(halves[np.isfinite(halves)].astype(np.float32))
    mids = ((halves[:-1].astype(np.float64) + halves[1:]) / 2).astype(np.float32)
    edges = np.array([65504, 65519.996, 65520, 65535, 1e6, np.inf, -np.inf, np.nan, -0.0],
                     np.float32)
    up, down = np.float32(np.inf), np.float32(-np.inf)
    return np.concatenate([halves, np.nextafter(halves, up), np.nextafter(halves, down),
                           mids, np.nextafter(mids, up), np.nextafter(mids, down), edges,
                           -edges])


def test_rounding_to_fp16_is_numpys_for_every_neighbourhood_and_random_floats(lib):
    rng = np.random.default_rng(4)
    random = rng.integers(0, 1 << 32, 1 << 20, dtype=np.uint64).astype(np.uint32)
    values = np.concatenate([_fp16_neighbourhood(), random.view(np.float32)])
    source = torch.from_numpy(values)
    out = torch.empty_like(source)
    lib.cmlc_round_to_half(source.data_ptr(), out.data_ptr(), source.numel())
    got = out.numpy()
    round_to_half = kernel.rounder()
    np.testing.assert_array_equal(round_to_half(source).numpy(), got)
    strided = round_to_half(source[::2]).numpy()  # torch's rounding
    np.testing.assert_array_equal(strided, got[::2])
    with np.errstate(over="ignore"):
        expected = values.astype(np.float16).astype(np.float32)
    same = (got.view(np.uint32) == expected.view(np.uint32)) | (np.isnan(got) & np.isnan(expected))
    assert same.all(), values[~same][:5]


def test_the_switch_turns_the_kernel_off(monkeypatch):
    monkeypatch.setenv(kernel.SWITCH_VARIABLE, "0")
    assert kernel.library() is None
    monkeypatch.setenv(kernel.SWITCH_VARIABLE, "1")
    assert kernel.library() is not None


def test_a_build_is_kept_and_a_failing_compiler_gives_none(tmp_path, monkeypatch):
    monkeypatch.setenv(kernel.DIRECTORY_VARIABLE, str(tmp_path))
    compiler = kernel._compiler()
    built = kernel._build(compiler, kernel._BASE_FLAGS)
    assert built is not None and built.parent == tmp_path and built.stat().st_size > 0
    stamp = built.stat().st_mtime_ns
    assert kernel._build(compiler, kernel._BASE_FLAGS) == built
    assert built.stat().st_mtime_ns == stamp  # found, not rebuilt
    assert kernel._build("/bin/false", kernel._BASE_FLAGS) is None
    assert [p.name for p in tmp_path.iterdir()] == [built.name]  # no partial file left
