"""The conversion cache: hits, keys, modes and concurrent builders."""

import threading

import coremltools as ct
import torch
from torch import nn

from pytest_coremlcheck import assert_equivalent, tensors
from pytest_coremlcheck.convert.cache import ConversionCache, cache_key, fingerprint_torch

from .helpers import two_outputs

CONVERT = dict(inputs=[ct.TensorType(name="x", shape=(1, 6)), ct.TensorType(name="y",
                                                                            shape=(1, 6))],
               compute_precision=ct.precision.FLOAT32)


def test_second_check_hits_the_cache(tmp_path):
    first = assert_equivalent(two_outputs(), None, tensors(n=1), convert=CONVERT,
                              cache_dir=tmp_path)
    second = assert_equivalent(two_outputs(), None, tensors(n=1), convert=CONVERT,
                               cache_dir=tmp_path)
    assert not any("cache" in n for n in first.notes)
    assert "converted model taken from the conversion cache" in second.notes
    assert len([p for p in tmp_path.iterdir() if p.is_dir()]) == 1


def test_key_changes_with_weights_and_arguments():
    a = fingerprint_torch(two_outputs(seed=0))
    b = fingerprint_torch(two_outputs(seed=1))
    assert cache_key(a) != cache_key(b)
    assert cache_key(a) == cache_key(fingerprint_torch(two_outputs(seed=0)))
    assert cache_key(a + ["fp16"]) != cache_key(a + ["fp32"])


def test_modes(tmp_path):
    calls = []

    def build():
        calls.append(1)
        model = torch.jit.trace(two_outputs(), (torch.ones(1, 6), torch.ones(1, 6)))
        return ct.convert(model, inputs=CONVERT["inputs"], skip_model_load=True), ["n"]

    on = ConversionCache(tmp_path, "on")
    assert on.get_or_build(["k"], build)[2] is False
    assert on.get_or_build(["k"], build)[1:] == (["n"], True)
    assert ConversionCache(tmp_path, "write").get_or_build(["k"], build)[2] is False
    assert ConversionCache(tmp_path, "read").get_or_build(["k"], build)[2] is True
    assert ConversionCache(tmp_path, "off").get_or_build(["k"], build)[2] is False
    assert len(calls) == 3


def test_concurrent_builders_build_once(tmp_path):
    calls = []

    def build():
        calls.append(1)
        model = torch.jit.trace(two_outputs(), (torch.ones(1, 6), torch.ones(1, 6)))
        return ct.convert(model, inputs=CONVERT["inputs"], skip_model_load=True), []

    caches = [ConversionCache(tmp_path, "on") for _ in range(3)]
    threads = [threading.Thread(target=c.get_or_build, args=(["same"], build)) for c in caches]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and sum(c.hits for c in caches) == 2
    assert not list(tmp_path.glob(".staging-*"))


class Shifted(nn.Module):
    """Same weights for every ``shift``: only the traced graph's constant tells them apart."""

    def __init__(self, shift: float):
        super().__init__()
        torch.manual_seed(0)
        self.fc = nn.Linear(4, 3)
        self.shift = shift

    def forward(self, x):
        return self.fc(x) + self.shift


def test_plain_attributes_are_part_of_the_key(tmp_path):
    convert = dict(inputs=[ct.TensorType(name="x", shape=(1, 4))],
                   compute_precision=ct.precision.FLOAT32)
    assert_equivalent(Shifted(0.0), None, tensors(n=1), convert=convert, cache_dir=tmp_path)
    shifted = assert_equivalent(Shifted(0.5), None, tensors(n=1), convert=convert,
                                cache_dir=tmp_path)  # its own conversion, not the cached one
    assert "converted model taken from the conversion cache" not in shifted.notes
    again = assert_equivalent(Shifted(0.5), None, tensors(n=1), convert=convert,
                              cache_dir=tmp_path)
    assert "converted model taken from the conversion cache" in again.notes
