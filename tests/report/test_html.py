"""The HTML report of a real plugin run, rendered by headless Chromium."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from pytest_coremlcheck.compare import metric_table
from pytest_coremlcheck.report import write_report
from pytest_coremlcheck.report.html import histogram_bars

from . import browser
from .helpers import HOSTILE


def test_html_report_of_a_real_run_in_chromium(reported_run, tmp_path):
    pytester, result = reported_run
    result.assert_outcomes(passed=2, failed=1)
    report = pytester.path / "out" / "r.html"
    url = report.as_uri()
    raw = report.read_text()
    assert "http://" not in raw and "https://" not in raw

    dom = browser.dump_dom(url, tmp_path / "profile")
    page = browser.parse(dom)
    _assert_header(page)
    rows = _summary_rows(page)
    _assert_rows(rows)
    _assert_escaped_and_offline(page)
    _assert_details(page)
    _assert_step_summary(pytester)

    png = browser.screenshot(url, tmp_path / "profile", tmp_path / "shot.png")
    with Image.open(png) as shot:
        assert shot.size == (1280, 2000)
        pixels = np.asarray(shot.convert("L"), np.float64)
    assert pixels.std() > 20  # text, tables, badges and pictures, not a blank page

    _assert_query_presets(url, tmp_path)
    for width, height in ((1440, 900), (390, 844)):
        _assert_fits(report, tmp_path, width, height)


#: Evaluated in the loaded report: the viewport width, the page's scroll width and every
#: summary cell that leaves the visible table.
MEASURE = """(function () {
  var box = document.querySelector(".scroll").getBoundingClientRect();
  var right = Math.min(box.right, document.documentElement.clientWidth) + 0.5;
  var clipped = [];
  document.querySelectorAll("#summary th, #summary td").forEach(function (cell) {
    var r = cell.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) { return; }
    if (r.left < box.left - 0.5 || r.right > right) { clipped.push(cell.dataset.key); }
  });
  return {width: document.documentElement.clientWidth,
          scroll: document.documentElement.scrollWidth, clipped: clipped};
}())"""


def _assert_fits(report, tmp_path, width, height):
    """In a ``width``×``height`` viewport (a phone's, emulated, below 500 pixels) no summary
    column is clipped and the page does not scroll sideways; the screenshot has that size and
    is not blank."""
    png = tmp_path / f"shot-{width}.png"
    layout = browser.emulate(report.as_uri(), tmp_path / f"profile-{width}", (width, height),
                             MEASURE, png, mobile=width < 500)
    assert width - 20 <= layout["width"] <= width and layout["clipped"] == [], layout  # scrollbar
    assert layout["scroll"] <= layout["width"], layout
    with Image.open(png) as shot:
        assert shot.size == (width, height)
        assert np.asarray(shot.convert("L"), np.float64).std() > 20


def _summary_rows(page):
    body = next(page.find_id("summary").iter("tbody"))
    return list(body.iter("tr"))


def _cell(row, key):
    return next(e for e in row.iter() if e.attrs.get("data-key") == key)


def _test_id(row):
    """The test id of a summary row (the check's name, variant and shape sit below it)."""
    return next(_cell(row, "test").iter("a")).text


def _assert_header(page):
    assert page.find_id("count-checks").text.strip() == "3 checks"
    assert page.find_id("count-passed").text.strip() == "2 passed"
    assert page.find_id("count-failed").text.strip() == "1 failed"
    ran_on = " ".join(page.find_id("backends").text.split())
    assert "reference executor reference executor, fp32: 3 checks" in ran_on
    assert "coremltools" in page.find_id("environment").text


def _assert_rows(rows):
    assert sorted(_cell(r, "output").text for r in rows) == ["styled", "y", "y"]
    verdicts = {_test_id(r).rsplit("::", 1)[-1]: r for r in rows}
    broken = verdicts["test_linear_broken"]
    assert broken.attrs["data-status"] == "fail" and "FAIL" in _cell(broken, "verdict").text
    assert verdicts[f"test_linear[{HOSTILE}]"].attrs["data-status"] == "pass"
    assert _cell(verdicts["test_restyle"], "verdict").text.strip() == "pass"
    for row in rows:
        assert "hidden" not in row.attrs
        backend = " ".join(_cell(row, "backend").text.split())
        assert backend == "reference executor reference executor, fp32"
        assert _cell(row, "snr_db").text.strip() not in ("", "-")


def _assert_escaped_and_offline(page):
    names = [e.text for r in _summary_rows(page) for e in r.iter("span")
             if e.attrs.get("data-key") == "name"]
    assert HOSTILE in names  # shown as text ...
    elements = list(page.iter())
    assert not [e for e in elements if "onerror" in e.attrs]  # ... and no element injected
    pictures = [e for e in elements if e.tag == "img"]
    assert len(pictures) == 3  # source, converted, |difference| of the image output
    assert all(e.attrs["src"].startswith("data:image/png;base64,") for e in pictures)
    for e in elements:
        for name in ("src", "href", "action", "data"):
            value = e.attrs.get(name, "")
            assert not value.startswith(("http:", "https:", "//")), (e.tag, name, value)
    assert not [e for e in elements if e.tag in ("link", "iframe", "object", "embed")]
    assert not [e for e in elements if e.tag == "script" and "src" in e.attrs]
    data = json.loads(page.find_id("coreml-report-data").text)
    assert [c["test"].rsplit("::", 1)[-1] for c in data["checks"]] == [
        f"test_linear[{HOSTILE}]", "test_linear_broken", "test_restyle"]


def _assert_details(page):
    sections = [e for e in page.iter("section") if "check" in e.attrs.get("class", "").split()]
    assert len(sections) == 3
    broken = next(s for s in sections if "test_linear_broken" in s.text)
    assert "status-fail" in broken.attrs["class"]
    assert "reference executor, fp32" in broken.text
    margin_rows = [tr for tr in broken.iter("tr") if tr.attrs.get("data-field")]
    snr = next(tr for tr in margin_rows if tr.attrs["data-field"] == "min_snr_db")
    margin = list(snr.iter("td"))[-1]
    assert "margin-neg" in margin.attrs["class"] and margin.text.startswith("-")
    for section in sections:
        bars = [r for r in section.iter("rect") if "bar" in r.attrs.get("class", "")]
        assert len(bars) == 12  # one output per check, 12 error-histogram bins
    restyle = next(s for s in sections if "test_restyle" in s.text)
    assert [f.text for f in restyle.iter("figcaption")][-3:] == [
        "source", "converted", "|difference|"]


def _assert_step_summary(pytester):
    summary = (pytester.path / "step-summary.md").read_text()
    assert summary.count("# Core ML equivalence report") == 1  # two .md reports, one summary
    assert "test\\_linear\\_broken" in summary and "**FAIL**" in summary
    assert "<img" not in summary and "&lt;img src=x onerror=alert(1)&gt;" in summary


def _visible(url, tmp_path, query):
    page = browser.parse(browser.dump_dom(f"{url}?{query}", tmp_path / "profile"))
    rows = _summary_rows(page)
    shown = [r for r in rows if "hidden" not in r.attrs]
    assert page.find_id("shown-count").text == f"{len(shown)} of {len(rows)} rows shown"
    return page, [_test_id(r).rsplit("::", 1)[-1] for r in shown]


def _assert_query_presets(url, tmp_path):
    assert _visible(url, tmp_path, "status=fail")[1] == ["test_linear_broken"]
    assert _visible(url, tmp_path, "q=RESTYLE&backend=reference")[1] == ["test_restyle"]
    assert _visible(url, tmp_path, "backend=coreml")[1] == []  # no check ran on Core ML
    page, ascending = _visible(url, tmp_path, "backend=nonsense&sort=snr_db&order=asc")
    assert len(ascending) == 3 and ascending[0] == "test_linear_broken"  # unknown: no filter
    header = next(th for th in page.iter("th") if th.attrs.get("data-key") == "snr_db")
    assert header.attrs["aria-sort"] == "ascending"
    descending = _visible(url, tmp_path, "q=linear&sort=snr_db&order=desc")[1]
    assert descending == [f"test_linear[{HOSTILE}]", "test_linear_broken"]


def test_histogram_bars_scale_to_the_tallest_bin():
    hist = {"edges": [0.0, 1e-8, 1e-7, "inf"], "counts": [0, 4, 2]}
    bars = histogram_bars(hist)["bars"]
    assert [b["height"] for b in bars] == [0.0, 90.0, 45.0]
    assert [b["label"] for b in bars] == ["0", "1e-8", "≥1e-7"]
    assert bars[2]["range"] == "≥ 1e-07"
    assert histogram_bars(None) is None


def test_missing_or_foreign_pictures_are_named_not_embedded(tmp_path):
    fake = tmp_path / "out-converted.png"
    fake.write_text("not a png")
    check = {"name": "c", "test": "t::c", "passed": False, "backend": "reference",
             "platform": "reference executor, fp32", "failures": [],
             "outputs": {"out": {"passed": True, "tolerance": {}, "failures": [],
                                 "artifacts": [str(tmp_path / "gone-source.png"), str(fake)]}}}
    text = write_report(tmp_path / "r.html", [check]).read_text()
    assert f"cannot read {tmp_path / 'gone-source.png'}" in text
    assert f"{fake} is not a PNG file" in text
    assert "<img" not in text


def test_variant_chain_shows_step_metrics_and_margins(tmp_path):
    torch = pytest.importorskip("torch")
    import coremltools as ct

    from pytest_coremlcheck import Tolerance, assert_equivalent, tensors

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh()).eval()
    results = assert_equivalent(model, None, tensors(n=2),
                                convert=dict(inputs=[ct.TensorType(name="x", shape=(1, 8))]),
                                variants=("fp32", "fp16"), tolerance=Tolerance(min_snr_db=30))
    checks = [dict(r.to_dict(), test="t::chain") for r in results]
    page = browser.parse(write_report(tmp_path / "r.html", checks).read_text())
    fp16 = page.find_id("check-1")
    assert "Against the previous step (fp32 → fp16)" in fp16.text
    step = next(t for t in fp16.iter("table") if "step" in t.attrs.get("class", ""))
    cells = [td.text for td in step.iter("td")]
    snr = checks[1]["step_outputs"][cells[0]]["snr_db"]
    assert cells[3] == metric_table.show("snr_db", snr)  # output, max_abs, rmse, snr_db, ...
    margin_row = next(tr for tr in fp16.iter("tr") if tr.attrs.get("data-field") == "min_snr_db")
    expected = checks[1]["outputs"][cells[0]]["snr_db"] - 30
    assert list(margin_row.iter("td"))[-1].text == f"{expected:+.4g} dB"
    assert "step" not in [t.attrs.get("class") for t in page.find_id("check-0").iter("table")]


def test_embedded_json_cannot_close_its_script(tmp_path):
    name = "</script><script>alert(1)</script><!--"
    check = {"name": name, "test": f"t::{name}", "passed": True, "backend": "reference",
             "platform": "reference executor, fp32", "failures": [], "notes": [name],
             "outputs": {name: {"passed": True, "tolerance": {}, "failures": [],
                                "snr_db": "inf"}}}
    page = browser.parse(write_report(tmp_path / "r.html", [check]).read_text())
    scripts = list(page.iter("script"))
    assert len(scripts) == 2  # the data and the page's own script, nothing injected
    data = json.loads(page.find_id("coreml-report-data").text)
    assert data["checks"][0]["outputs"][name]["snr_db"] == "inf"
    outputs = [td.text for td in page.iter("td") if td.attrs.get("data-key") == "output"]
    assert outputs == [name]


def test_a_summary_wider_than_a_phone_is_caught(reported_run, tmp_path):
    """Wrong on purpose: a summary table forced to 1200 pixels cannot fit a 390-pixel phone."""
    pytester, _ = reported_run
    report = pytester.path / "out" / "r.html"
    wide = tmp_path / "wide.html"
    wide.write_text(report.read_text().replace(
        "</head>", "<style>#summary { min-width: 1200px; }</style></head>"))
    layout = browser.emulate(wide.as_uri(), tmp_path / "profile", (390, 844), MEASURE,
                             tmp_path / "wide.png", mobile=True)
    assert layout["width"] <= 390
    assert layout["clipped"] or layout["scroll"] > layout["width"], layout
