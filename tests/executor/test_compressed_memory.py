"""Compressed weights stay compressed: int4 blobs are held packed, decoded when an op reads
them (whole, by rows for ``gather`` / chunks for ``linear``, or kept by a bounded cache), and
the result does not depend on the path."""

from __future__ import annotations

import gc
import shutil
import struct
from pathlib import Path

import coremltools as ct
import numpy as np
import pytest
import torch
from coremltools.optimize import _utils as optimize_utils

from pytest_coremlcheck.reference import ReferenceModel
from pytest_coremlcheck.reference.errors import ModelLoadError
from pytest_coremlcheck.reference.mil import kernel, rowwise
from pytest_coremlcheck.reference.mil.program import Deferred
from pytest_coremlcheck.reference.mil.weights import PackedInts

VOCAB, DIM, HIDDEN, OUT = 64, 32, 96, 48
WEIGHT_BIN = Path("Data/com.apple.CoreML/weights/weight.bin")


class Net(torch.nn.Module):
    """Embedding → linear → relu → linear: a gather and two linears on int4 weights."""

    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Embedding(VOCAB, DIM)
        self.up = torch.nn.Linear(DIM, HIDDEN)
        self.down = torch.nn.Linear(HIDDEN, OUT, bias=False)

    def forward(self, ids):
        return self.down(torch.relu(self.up(self.embed(ids))))


@pytest.fixture(scope="module")
def int4_package(tmp_path_factory) -> Path:
    """The net converted (fp16 program) and compressed to int4 per block of 32."""
    torch.manual_seed(0)
    ids = torch.zeros(1, 5, dtype=torch.int32)
    traced = torch.jit.trace(Net().eval(), ids)
    mlmodel = ct.convert(traced, inputs=[ct.TensorType(name="ids", shape=(1, 5), dtype=np.int32)],
                         outputs=[ct.TensorType(name="y")],
                         minimum_deployment_target=ct.target.iOS18, skip_model_load=True)
    config = ct.optimize.coreml.OpLinearQuantizerConfig(
        mode="linear_symmetric", dtype="int4", granularity="per_block", block_size=32,
        weight_threshold=0)
    mlmodel = ct.optimize.coreml.linear_quantize_weights(
        mlmodel, ct.optimize.coreml.OptimizationConfig(global_config=config))
    path = tmp_path_factory.mktemp("int4") / "Net.mlpackage"
    mlmodel.save(str(path))
    return path


FEED = {"ids": np.array([[3, 63, 0, 3, 17]], np.int32)}


def _deferred(model: ReferenceModel) -> list[Deferred]:
    return [v for v in model._engine.block.consts.values() if isinstance(v, Deferred)]


def _held_tensor_bytes(model: ReferenceModel) -> int:
    """Bytes of every tensor and packed blob the compiled program holds between runs."""
    total = 0
    for step in model._engine.block.steps:
        for _kind, value in step.inputs.values():
            if isinstance(value, torch.Tensor):
                total += value.element_size() * value.numel()
    for deferred in _deferred(model):
        for _kind, value in deferred.step.inputs.values():
            if isinstance(value, PackedInts):
                total += value.nbytes
            elif isinstance(value, torch.Tensor):
                total += value.element_size() * value.numel()
    return total


def test_int4_weights_are_held_packed_and_not_decoded_after_a_run(int4_package, monkeypatch):
    monkeypatch.delenv("COREMLCHECK_WEIGHT_CACHE_MB", raising=False)
    model = ReferenceModel(int4_package)
    model.predict(FEED)
    deferred = _deferred(model)
    assert {d.step.node.op_type for d in deferred} == {"constexpr_blockwise_shift_scale"}
    assert len(deferred) == 3  # embedding, up, down
    for d in deferred:
        data = d.step.inputs["data"][1]
        assert isinstance(data, PackedInts) and data.nbits == 4
        assert data.nbytes == d.numel // 2  # two int4 values per byte
    engine = model._engine
    assert engine.compiler.weights.used == 0 and not engine.compiler.weights.kept
    assert engine.compiler.runner.env == {}
    params = (VOCAB * DIM + DIM * HIDDEN + HIDDEN * OUT)
    held = _held_tensor_bytes(model)
    # packed int4 (0.5 B/param) + fp16 scales (one per 32) + the bias + under 1 kB of small
    # constants (shapes, axes)
    assert held <= params * (0.5 + 2 / 32) + 4 * HIDDEN + 1024
    assert held < params * 4 / 4  # far below the decoded float32 weights


def test_unpacked_values_match_coremltools_own_unpacking(int4_package):
    """The packed blob's values equal those coremltools' loader unpacks from the same file."""
    from coremltools.converters.mil.frontend.milproto.load import load as load_milproto

    model = ReferenceModel(int4_package)
    spec = ct.utils.load_spec(str(int4_package))
    weights_dir = str(int4_package / "Data/com.apple.CoreML/weights")
    program = load_milproto(spec, spec.specificationVersion, weights_dir)
    theirs = [op.inputs["data"].val for op in program.functions["main"].operations
              if op.op_type == "constexpr_blockwise_shift_scale"]
    ours = [d.step.inputs["data"][1] for d in _deferred(model)]
    assert len(ours) == len(theirs) == 3
    for packed, values in zip(ours, theirs):
        np.testing.assert_array_equal(packed.value().numpy(), values)


@pytest.mark.parametrize("nbits,signed", [(4, True), (4, False), (2, False), (3, False),
                                          (6, False)])
def test_packed_ints_against_coremltools_packing(nbits, signed):
    rng = np.random.default_rng(nbits)
    low, high = (-(1 << (nbits - 1)), 1 << (nbits - 1)) if signed else (0, 1 << nbits)
    values = rng.integers(low, high, size=(7, 9)).astype(np.int8 if signed else np.uint8)
    raw = optimize_utils.pack_elements_into_bits(values.reshape(-1), nbits)
    unpacked = PackedInts(raw, nbits, signed, values.shape).value().numpy()
    np.testing.assert_array_equal(unpacked, values)
    wrong_sign = PackedInts(raw, nbits, not signed, values.shape).value().numpy()
    assert not np.array_equal(wrong_sign.astype(np.int16), values.astype(np.int16))


@pytest.mark.parametrize("native", ["1", "0"], ids=["C kernel", "torch"])
@pytest.mark.parametrize("fp16_mode", ["typed", "fp32"])
def test_row_and_chunked_decoding_give_the_bits_of_whole_decoding(int4_package, monkeypatch,
                                                                 fp16_mode, native):
    """Rows for the gather, 5-row chunks for the linears: the same output bits as decoding
    every weight whole once and keeping it (the cache). With the C kernel the linears never
    decode whole (the cache keeps only the embedding), so the bits do not depend on it."""
    monkeypatch.setenv(kernel.SWITCH_VARIABLE, native)
    monkeypatch.setattr(rowwise, "CHUNK_BYTES", 5 * 4 * HIDDEN)  # 5 rows of `down`
    monkeypatch.setenv("COREMLCHECK_WEIGHT_CACHE_MB", "100")
    whole = ReferenceModel(int4_package, fp16_mode=fp16_mode)
    expected = whole.predict(FEED)["y"]
    cache = whole._engine.compiler.weights
    kept = VOCAB * DIM if kernel.library() else VOCAB * DIM + DIM * HIDDEN + HIDDEN * OUT
    assert cache.used == 4 * kept

    monkeypatch.delenv("COREMLCHECK_WEIGHT_CACHE_MB")
    model = ReferenceModel(int4_package, fp16_mode=fp16_mode)
    assert all(d.row_decodable for d in _deferred(model))
    calls = []
    whole_decode = Deferred.value
    monkeypatch.setattr(Deferred, "value", lambda d: calls.append(d) or whole_decode(d))
    got = model.predict(FEED)["y"]
    np.testing.assert_array_equal(got, expected)
    assert calls == []  # no weight was decoded whole
    assert model._engine.compiler.weights.used == 0


def test_bounded_cache_keeps_the_first_weights_that_fit(int4_package, monkeypatch):
    monkeypatch.setenv(kernel.SWITCH_VARIABLE, "0")  # the C kernel never decodes linears whole
    # room for `up` (32·96·4 = 12 288 bytes) but not the embedding after it (64·32·4 = 8192)
    monkeypatch.setenv("COREMLCHECK_WEIGHT_CACHE_MB", "0.015")
    model = ReferenceModel(int4_package)
    out = model.predict(FEED)["y"]
    cache = model._engine.compiler.weights
    assert 0 < cache.used <= 15_000
    assert len(cache.kept) == 1
    monkeypatch.delenv("COREMLCHECK_WEIGHT_CACHE_MB")
    np.testing.assert_array_equal(ReferenceModel(int4_package).predict(FEED)["y"], out)


def test_cache_setting_must_be_megabytes(int4_package, monkeypatch):
    monkeypatch.setenv("COREMLCHECK_WEIGHT_CACHE_MB", "lots")
    with pytest.raises(ModelLoadError, match="COREMLCHECK_WEIGHT_CACHE_MB='lots': expected a "
                                             "number of megabytes"):
        ReferenceModel(int4_package)


def test_int4_blob_of_the_wrong_size_names_the_const(int4_package, tmp_path):
    copy = tmp_path / "Net.mlpackage"
    shutil.copytree(int4_package, copy)
    weight_file = copy / WEIGHT_BIN
    data = bytearray(weight_file.read_bytes())
    offset = 64  # the first blob's metadata record: sentinel, dtype, size, data offset
    sentinel, dtype, size, start = struct.unpack_from("<IIQQ", data, offset)
    struct.pack_into("<IIQQ", data, offset, sentinel, dtype, size - 1, start)
    weight_file.write_bytes(bytes(data))
    with pytest.raises(ModelLoadError, match=r"weights/weight.bin: const '.*' at offset 64 "
                                             rf"holds {size - 1} bytes, its type int4\["):
        ReferenceModel(copy)


def test_loading_again_shares_the_packed_blobs_of_an_unchanged_file(int4_package, tmp_path):
    """Two loads (as the functions of a multifunction model do) hold one copy of each blob;
    a rewritten file is read again."""
    first, second = ReferenceModel(int4_package), ReferenceModel(int4_package)
    pointers = [[d.step.inputs["data"][1].raw.data_ptr() for d in _deferred(m)]
                for m in (first, second)]
    assert pointers[0] == pointers[1]
    # the fp16 block scales too: held as the file stores them, one copy for both loads
    scales = [[d.step.inputs["scale"][1] for d in _deferred(m)] for m in (first, second)]
    assert all(s.dtype == torch.float16 for s in scales[0])
    assert [s.data_ptr() for s in scales[0]] == [s.data_ptr() for s in scales[1]]
    copy = tmp_path / "Net.mlpackage"
    shutil.copytree(int4_package, copy)
    copied = ReferenceModel(copy)
    assert [d.step.inputs["data"][1].raw.data_ptr() for d in _deferred(copied)] != pointers[0]
    weight_file = copy / WEIGHT_BIN
    before = [d.step.inputs["data"][1].value().clone() for d in _deferred(copied)]
    data = bytearray(weight_file.read_bytes())
    start = struct.unpack_from("<IIQQ", data, 64)[3]  # the first blob's data offset
    data[start] ^= 0xFF
    weight_file.write_bytes(bytes(data))
    changed = ReferenceModel(copy)
    after = [d.step.inputs["data"][1].value() for d in _deferred(changed)]
    assert not all(torch.equal(a, b) for a, b in zip(before, after))
    assert all(torch.equal(a, b) for a, b in zip(before, [d.step.inputs["data"][1].value()
                                                          for d in _deferred(copied)]))


def test_a_load_leaves_no_parsed_program_behind(int4_package):
    """The parsed MIL program (ops, vars and blocks in reference cycles) is freed when the
    load ends, not at some later cycle collection."""
    from coremltools.converters.mil.mil.operation import Operation

    def operations() -> int:
        return sum(isinstance(o, Operation) for o in gc.get_objects())

    gc.collect()
    before = operations()
    model = ReferenceModel(int4_package)
    assert operations() == before
    assert model.predict(FEED)["y"].shape == (1, 5, OUT)
