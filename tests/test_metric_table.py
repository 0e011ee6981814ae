"""One metric table: every report shows a metric the same way, and a similarity below 1
never reads as 1 next to FAIL."""

from __future__ import annotations

import math

import pytest

from pytest_coremlcheck.compare import metric_table
from pytest_coremlcheck.compare.metrics import OutputMetrics
from pytest_coremlcheck.compare.tolerance import Tolerance
from pytest_coremlcheck.report import html, markdown
from pytest_coremlcheck.report.summary import summary_table


def test_every_limited_metric_is_a_tolerance_field_and_an_output_metric():
    fields = {f for f in Tolerance.__dataclass_fields__}
    metric_fields = set(OutputMetrics.__dataclass_fields__)
    for metric in metric_table.METRICS:
        assert metric.name in metric_fields
        assert metric.tolerance_field is None or metric.tolerance_field in fields


@pytest.mark.parametrize("value", [0.999985, 0.99999999, 1 - 1e-12])
def test_a_similarity_below_one_never_shows_as_one(value):
    for name in ("cosine", "top1", "ssim"):
        text = metric_table.show(name, value)
        assert float(text) < 1.0, (name, value, text)
    assert metric_table.show("cosine", 1.0) == "1"
    assert metric_table.show("cosine", 0.999985) == "0.999985"


def test_undefined_and_non_finite_values():
    assert metric_table.show("snr_db", None) == "-"
    assert metric_table.show("snr_db", math.inf) == "inf"
    assert metric_table.show("snr_db", "nan") == "nan"
    assert metric_table.show("snr_db", 27.04) == "27.0"
    assert metric_table.show("max_abs", 0.000123456) == "0.000123"


def _check(cosine: float) -> dict:
    out = {"cosine": cosine, "snr_db": 41.2, "passed": False,
           "tolerance": {"min_cosine": 0.99999}, "failures": ["y: cosine below"]}
    return {"name": "c", "test": "t.py::test_c", "passed": False, "backend": "reference",
            "platform": "reference executor, fp32", "outputs": {"y": out},
            "tolerance": {"min_cosine": 0.99999}, "failures": ["y: cosine below"]}


def test_terminal_markdown_and_html_show_a_failing_cosine_the_same_way():
    check = _check(0.999985)
    expected = "0.999985"
    header, rows = summary_table([check])
    assert rows[0][header.index("cosine")] == expected
    assert f"| {expected} |" in markdown.render([check], {}, None)
    page = html.render([check], {}, None)
    assert expected in page
    assert ">0.99999</td>" in page  # the tolerance min_cosine=0.99999, not "1"
