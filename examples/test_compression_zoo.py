"""Compression variants with their error budget, and a flexible-size super-resolution model.

``make demo`` prints every variant's metrics; the Markdown report has the error-budget table
(each step's SNR against the source and against the previous step).
"""

from pathlib import Path

import pytest
import zoo

from pytest_coremlcheck import Tolerance, images

IMAGES = Path(__file__).parent.parent / "fixtures" / "images"


@pytest.mark.coreml_equivalence(variants=("fp32", "fp16", "int8", "palettize4"))
def test_classifier_variants(coreml_check):
    """fp32 → fp16 → int8 / 4-bit palettized, each against its documented default tolerance."""
    results = coreml_check(zoo.classifier(), convert=zoo.classifier_convert(),
                           inputs=images(IMAGES, resize="center_crop"))
    assert results.variant("int8").step == "fp16 → int8"


def test_super_resolution_flexible_sizes(coreml_check):
    """A range-flexible input: checked at 32, 64, 80 and 128 px; the image output follows."""
    results = coreml_check(zoo.super_resolution(), convert=zoo.super_resolution_convert(),
                           inputs=images(IMAGES),
                           tolerance=Tolerance(min_psnr_db=40, min_ssim=0.98))
    assert len(results) == 4
