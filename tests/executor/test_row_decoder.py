"""``linear`` on a block-wise quantised weight decodes chunks of rows with ``RowDecoder``: the
decoded rows equal Core ML's definition computed in numpy (``scale · (data − offset)``, rounded
to fp16 when the op's output is fp16), and the products equal those of the whole decoded
weight, bit for bit. Every test runs with the C kernel (``kernel.py``) and with torch's
decode."""

from __future__ import annotations

import coremltools as ct
import numpy as np
import pytest
import torch
from coremltools.converters.mil.mil import types

from pytest_coremlcheck.reference import ReferenceModel
from pytest_coremlcheck.reference.mil import kernel, rowwise
from pytest_coremlcheck.reference.mil.program import Deferred
from pytest_coremlcheck.reference.mil.rowwise import RowDecoder, value_table

IN, HIDDEN, OUT = 64, 96, 40

#: name -> (compute precision, quantizer mode, dtype)
VARIANTS = {
    "fp16-int4": (ct.precision.FLOAT16, "linear_symmetric", "int4"),
    "fp32-int4": (ct.precision.FLOAT32, "linear_symmetric", "int4"),
    "fp16-int8-offset": (ct.precision.FLOAT16, "linear", "int8"),
    "fp32-int8": (ct.precision.FLOAT32, "linear_symmetric", "int8"),
}


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.up = torch.nn.Linear(IN, HIDDEN)
        self.down = torch.nn.Linear(HIDDEN, OUT, bias=False)

    def forward(self, x):
        return self.down(torch.relu(self.up(x)))


@pytest.fixture(scope="module", params=list(VARIANTS))
def package(request, tmp_path_factory):
    """(variant, path) of the net converted and quantised per block of 32."""
    precision, mode, dtype = VARIANTS[request.param]
    torch.manual_seed(0)
    net = Net().eval()
    traced = torch.jit.trace(net, torch.zeros(1, 3, IN))
    mlmodel = ct.convert(traced, inputs=[ct.TensorType(name="x", shape=(1, 3, IN))],
                         outputs=[ct.TensorType(name="y")], compute_precision=precision,
                         minimum_deployment_target=ct.target.iOS18, skip_model_load=True)
    config = ct.optimize.coreml.OpLinearQuantizerConfig(
        mode=mode, dtype=dtype, granularity="per_block", block_size=32, weight_threshold=0)
    mlmodel = ct.optimize.coreml.linear_quantize_weights(
        mlmodel, ct.optimize.coreml.OptimizationConfig(global_config=config))
    path = tmp_path_factory.mktemp(request.param) / "Net.mlpackage"
    mlmodel.save(str(path))
    return request.param, path


@pytest.fixture(autouse=True, params=["1", "0"], ids=["C kernel", "torch"])
def native(request, monkeypatch):
    """Each test with the C kernel on (where it builds) and off."""
    if request.param == "1" and kernel.library() is None:
        pytest.skip("no C compiler here")
    monkeypatch.setenv(kernel.SWITCH_VARIABLE, request.param)
    return request.param == "1"


FEED = {"x": np.random.default_rng(0).standard_normal((1, 3, IN)).astype(np.float32)}


def _expected_weights(path) -> dict[tuple, np.ndarray]:
    """shape -> each quantised weight decoded in numpy from coremltools' own loading."""
    from coremltools.converters.mil.frontend.milproto.load import load as load_milproto

    spec = ct.utils.load_spec(str(path))
    program = load_milproto(spec, spec.specificationVersion,
                            str(path / "Data/com.apple.CoreML/weights"))
    out = {}
    for op in program.functions["main"].operations:
        if op.op_type != "constexpr_blockwise_shift_scale":
            continue
        data = op.inputs["data"].val.astype(np.float32)
        scale = op.inputs["scale"].val.astype(np.float32)
        blocks = (data.shape[0] // scale.shape[0], data.shape[1] // scale.shape[1])
        scale = np.repeat(np.repeat(scale, blocks[0], 0), blocks[1], 1)
        if "offset" in op.inputs:
            offset = op.inputs["offset"].val.astype(np.float32)
            data = data - np.repeat(np.repeat(offset, blocks[0], 0), blocks[1], 1)
        value = scale * data
        if op.outputs[0].dtype == types.fp16:
            value = value.astype(np.float16).astype(np.float32)
        out[data.shape] = value
    return out


def _deferred(model: ReferenceModel) -> list[Deferred]:
    return [v for v in model._engine.block.consts.values() if isinstance(v, Deferred)]


def _decode_all(decoder: RowDecoder, step: int) -> np.ndarray:
    return np.concatenate([rows.numpy().copy() for _, _, rows in decoder.decoded_chunks(step)])


def test_decoded_rows_equal_core_ml_definition_in_numpy(package, native):
    variant, path = package
    expected = _expected_weights(path)
    model = ReferenceModel(path)
    deferred = _deferred(model)
    assert len(deferred) == 2 and all(d.decoder is not None for d in deferred), variant
    assert all((d.decoder.native() is not None) == native for d in deferred)
    for d in deferred:
        np.testing.assert_array_equal(_decode_all(d.decoder, 7), expected[tuple(d.shape)])
        # the op's own whole decode gives the same bits
        np.testing.assert_array_equal(d.value().numpy(), expected[tuple(d.shape)])
    if variant.startswith("fp16"):  # fp16 scales are held as fp16
        assert all(d.step.inputs["scale"][1].dtype == torch.float16 for d in deferred)


def test_a_wrong_sign_table_is_caught(package):
    """Wrong on purpose: signed nibbles read as unsigned decode to other values."""
    variant, path = package
    if "int4" not in variant:
        pytest.skip("signed 4-bit data only")
    model = ReferenceModel(path)
    d = _deferred(model)[0]
    wrong = RowDecoder(d.decoder.source, value_table(4, signed=False), 4, False,
                       d.decoder.scale, d.decoder.offset, d.decoder.rows, d.decoder.cols,
                       d.decoder.in_fp16)
    assert not np.array_equal(_decode_all(wrong, 7), _expected_weights(path)[tuple(d.shape)])


@pytest.mark.parametrize("fp16_mode", ["typed", "fp32"])
def test_chunked_products_equal_the_whole_decoded_weight(package, monkeypatch, fp16_mode):
    """Chunks of 5 rows, decoded by ``RowDecoder``: the output bits of the whole decoded weights
    (kept by the cache) multiplied in the same chunks; no row goes through ``Deferred.rows``."""
    _variant, path = package
    monkeypatch.setattr(rowwise, "CHUNK_BYTES", 5 * 4 * HIDDEN)
    monkeypatch.setenv("COREMLCHECK_WEIGHT_CACHE_MB", "100")
    expected = ReferenceModel(path, fp16_mode=fp16_mode).predict(FEED)["y"]
    monkeypatch.delenv("COREMLCHECK_WEIGHT_CACHE_MB")
    model = ReferenceModel(path, fp16_mode=fp16_mode)
    calls = []
    monkeypatch.setattr(Deferred, "rows", lambda d, index: calls.append(d))
    monkeypatch.setattr(Deferred, "value", lambda d: calls.append(d))
    np.testing.assert_array_equal(model.predict(FEED)["y"], expected)
    assert calls == []


def test_products_against_numpy(package):
    """The whole net in float64 numpy from the numpy-decoded weights: close (not bitwise:
    another summation order; fp16 programs round activations too)."""
    variant, path = package
    weights = _expected_weights(path)
    model = ReferenceModel(path)
    bias = [v for v in model._engine.block.consts.values()
            if isinstance(v, torch.Tensor) and tuple(v.shape) == (HIDDEN,)][0].double().numpy()
    x = FEED["x"].astype(np.float64)
    h = np.maximum(x @ weights[(HIDDEN, IN)].T.astype(np.float64) + bias, 0)
    y = h @ weights[(OUT, HIDDEN)].T.astype(np.float64)
    tolerance = 2e-3 if variant.startswith("fp16") else 1e-5
    np.testing.assert_allclose(model.predict(FEED)["y"], y, rtol=tolerance, atol=tolerance)


@pytest.fixture(scope="module")
def row_blocked(tmp_path_factory):
    """(path, expected weight) of a MIL program whose int8 weight has blocks of 4 rows × 32
    columns, with offsets: ``scale[r // 4, c // 32] · (data[r, c] − offset[r // 4, c // 32])``."""
    from coremltools.converters.mil import Builder as mb

    rng = np.random.default_rng(3)
    data = rng.integers(-128, 128, (48, IN)).astype(np.int8)
    scale = rng.uniform(0.01, 0.1, (12, IN // 32)).astype(np.float32)
    offset = rng.integers(-3, 4, (12, IN // 32)).astype(np.int8)

    @mb.program(input_specs=[mb.TensorSpec(shape=(3, IN))], opset_version=ct.target.iOS18)
    def program(x):
        weight = mb.constexpr_blockwise_shift_scale(data=data, scale=scale, offset=offset)
        return mb.linear(x=x, weight=weight, name="y")

    mlmodel = ct.convert(program, minimum_deployment_target=ct.target.iOS18,
                         compute_precision=ct.precision.FLOAT32, skip_model_load=True)
    path = tmp_path_factory.mktemp("row-blocked") / "Blocked.mlpackage"
    mlmodel.save(str(path))
    blocks = np.ones((4, 32), np.float32)
    expected = np.kron(scale, blocks) * (data.astype(np.float32) - np.kron(offset, blocks))
    return path, expected


def test_row_blocks_and_offsets(row_blocked, monkeypatch):
    path, expected = row_blocked
    model = ReferenceModel(path)
    (d,) = _deferred(model)
    assert d.decoder is not None and d.decoder.offset is not None
    np.testing.assert_array_equal(_decode_all(d.decoder, 5), expected)  # chunks cut blocks
    feed = {"x": FEED["x"][0]}
    name = model.outputs[0].name
    monkeypatch.setattr(rowwise, "CHUNK_BYTES", 5 * 4 * IN)
    monkeypatch.setenv("COREMLCHECK_WEIGHT_CACHE_MB", "100")
    whole = ReferenceModel(path).predict(feed)[name]
    monkeypatch.delenv("COREMLCHECK_WEIGHT_CACHE_MB")
    np.testing.assert_array_equal(ReferenceModel(path).predict(feed)[name], whole)
    np.testing.assert_allclose(whole, feed["x"].astype(np.float64) @ expected.T, rtol=1e-5,
                               atol=1e-4)
