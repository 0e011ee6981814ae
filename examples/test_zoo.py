"""The example zoo: each test converts a source model and checks the conversion.

Run with ``make demo``; the tolerance table prints at the end of the run.
"""

from pathlib import Path

import coremltools as ct
import pytest
import zoo

from pytest_coremlcheck import Tolerance, images, tensors

IMAGES = Path(__file__).parent.parent / "fixtures" / "images"


@pytest.mark.coreml_equivalence(min_psnr_db=60, min_cosine=0.99999, min_top1=1.0)
def test_image_classifier_fp32(coreml_check):
    """An RGB ImageType input scaled to [0, 1]; real photos, resized by Vision's scaleFit."""
    result = coreml_check(zoo.classifier(), convert=zoo.classifier_convert(
        compute_precision=ct.precision.FLOAT32), inputs=images(IMAGES, resize="center_crop"))
    assert result.backend in ("coreml", "reference")


@pytest.mark.coreml_equivalence(min_snr_db=35, min_cosine=0.999)
def test_image_classifier_fp16(coreml_check):
    coreml_check(zoo.classifier(), convert=zoo.classifier_convert(),
                 inputs=images(IMAGES, resize="center_crop"))


@pytest.mark.coreml_equivalence(min_psnr_db=35)
def test_style_transfer_image_output(coreml_check):
    """Image in, image out: the stylised image is compared as 8-bit pixels (peak 255)."""
    coreml_check(zoo.style_transfer(), convert=zoo.style_transfer_convert(),
                 inputs=images(IMAGES))


def test_text_encoder_tokens(coreml_check):
    """Token-id inputs (int32) drawn from the vocabulary; fp16 program, default tolerance."""
    coreml_check(zoo.text_encoder(), convert=zoo.text_encoder_convert(),
                 inputs=tensors(n=4, high=zoo.VOCAB),
                 tolerance=Tolerance(min_cosine=0.999))


def test_sequence_tagger_lstm(coreml_check):
    coreml_check(zoo.sequence_tagger(), convert=zoo.sequence_tagger_convert(
        compute_precision=ct.precision.FLOAT32), inputs=tensors(n=4))
