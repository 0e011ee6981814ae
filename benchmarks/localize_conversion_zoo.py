"""Conversion localisation and image-preprocessing fixes on the example zoo: what they find and
what they cost next to the check itself.

For each torch model of the example zoo (``examples/zoo.py``), converted as the examples
convert it: the check's time (``assert_equivalent`` on an already converted model), then
``localize_conversion`` on the same inputs (modules compared, the suspect if any, seconds and
the ratio to the check). Then the same with the one module of the image classifier converted
wrong on purpose (``nn.Hardswish`` inserted before ``head`` and ``hardswish`` converted as
SiLU). Last, ``find_image_fix`` on the classifier converted without ``scale=1/255`` and with
BGR instead of RGB: the verified correction, SNR before → after, the runs and seconds.

Run: ``OMP_NUM_THREADS=1 .venv/bin/python benchmarks/localize_conversion_zoo.py``.
"""

from __future__ import annotations

import contextlib
import sys
import time
from pathlib import Path

import coremltools as ct
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "examples"))

import zoo  # noqa: E402

from pytest_coremlcheck import Tolerance, assert_equivalent, images, tensors  # noqa: E402
from pytest_coremlcheck.convert.on_the_fly import quiet  # noqa: E402
from pytest_coremlcheck.localize.conversion import localize_conversion  # noqa: E402
from pytest_coremlcheck.localize.image_fixes import find_image_fix  # noqa: E402

IMAGES = images(ROOT / "fixtures" / "images", resize="center_crop")


def _convert(model, convert: dict):
    """``ct.convert`` of the traced model (the in-memory MLModel keeps the scopes)."""
    convert = {**convert}
    feed = _example(convert["inputs"])
    with quiet():
        return ct.convert(torch.jit.trace(model, feed), skip_model_load=True, **convert)


def _example(inputs) -> tuple:
    shapes = [tuple(i.shape.shape if hasattr(i.shape, "shape") else i.shape) for i in inputs]
    dtypes = [torch.long if getattr(i, "dtype", None) is not None and "int" in str(i.dtype)
              else torch.float32 for i in inputs]
    return tuple(torch.zeros(s, dtype=d) for s, d in zip(shapes, dtypes))


def _time(fn):
    t0 = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - t0


@contextlib.contextmanager
def _silu_for_hardswish():
    from coremltools.converters.mil import Builder as mb
    from coremltools.converters.mil.frontend.torch.ops import _get_inputs
    from coremltools.converters.mil.frontend.torch.torch_op_registry import _TORCH_OPS_REGISTRY

    def wrong(context, node):
        x = _get_inputs(context, node)[0]
        context.add(mb.mul(x=x, y=mb.sigmoid(x=x), name=node.name))

    mapping = _TORCH_OPS_REGISTRY.name_to_func_mapping
    original, mapping["hardswish"] = mapping["hardswish"], wrong
    try:
        yield
    finally:
        mapping["hardswish"] = original


def _row(name, model, convert, inputs, tolerance):
    converted = _convert(model, convert)
    _, check_s = _time(lambda: _quiet_check(model, converted, inputs, tolerance))
    found, seconds = _time(lambda: localize_conversion(model, converted, inputs, tolerance))
    compared = sum(m.agrees is not None for m in found.modules)
    print(f"{name:28s} check {check_s:6.2f} s  localise {seconds:6.2f} s "
          f"({seconds / check_s:4.2f}×)  {compared}/{len(found.modules)} modules compared  "
          f"{found.summary()}")


def _quiet_check(model, converted, inputs, tolerance):
    try:
        return assert_equivalent(model, converted, inputs, tolerance)
    except AssertionError:
        return None


def main() -> None:
    torch.set_num_threads(1)
    fp32 = {"compute_precision": ct.precision.FLOAT32}
    _row("classifier (fp32)", zoo.classifier(), zoo.classifier_convert(**fp32), IMAGES,
         Tolerance(min_psnr_db=60, min_cosine=0.99999))
    _row("text encoder (fp16)", zoo.text_encoder(), zoo.text_encoder_convert(),
         tensors(n=4, high=zoo.VOCAB), Tolerance(min_cosine=0.999))
    _row("sequence tagger (fp32)", zoo.sequence_tagger(), zoo.sequence_tagger_convert(**fp32),
         tensors(n=4), Tolerance(min_snr_db=60))
    broken = zoo.classifier()
    broken.head = torch.nn.Sequential(torch.nn.Hardswish(), broken.head)
    with _silu_for_hardswish():
        _row("classifier, wrong hardswish", broken, zoo.classifier_convert(**fp32), IMAGES,
             Tolerance(min_psnr_db=60, min_cosine=0.99999))
    for label, convert in (("scale 1", zoo.classifier_convert(scale=1.0, **fp32)),
                           ("BGR", {**zoo.classifier_convert(**fp32), "inputs": [ct.ImageType(
                               name="image", shape=(1, 3, zoo.IMAGE_SIZE, zoo.IMAGE_SIZE),
                               scale=1 / 255, color_layout=ct.colorlayout.BGR)]})):
        search = find_image_fix(zoo.classifier(), IMAGES, convert,
                                Tolerance(min_psnr_db=60, min_cosine=0.99999))
        print(f"image fix, {label:8s} {search.summary()}  ({search.extra_runs} extra check(s), "
              f"{search.seconds:.1f} s)")


if __name__ == "__main__":
    main()
