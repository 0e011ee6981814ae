"""HTML report: one self-contained page (inline CSS and script, pictures as data: URIs).

The page shows which backend ran every check, a summary table (one row per check and output,
sortable by clicking a column header, filtered by text, verdict and backend; the filters and
the sort order can be preset in the query string: ``report.html?q=logits&status=fail&
backend=reference&sort=snr_db&order=desc``), and per check the metrics, the margin to every
tolerance field, error histograms, pictures of image outputs, failures, notes, hazards and
lint findings (info-level ones folded away on passing checks), and the localisation (a
per-op error chart along the program order, the verified fixes with before/after SNR). The
JSON report's data is embedded in ``<script id="coreml-report-data">``.

The summary table fits a 1440-pixel window (ids wrap at path separators) and turns into one
card per row on a phone. Paths under the working directory are shown relative to it, and the
home directory as ``~``: a report names no directory of the machine that wrote it.

Every string from models, outputs, tests or user code is escaped by jinja2's autoescape.
"""

from __future__ import annotations

import base64
import io
import math
import os
import re
from functools import lru_cache
from pathlib import Path

import jinja2
from markupsafe import Markup, escape
from PIL import Image

from ..compare import metric_table
from .json_report import build, json_default
from .labels import verdict as row_verdict
from .localisation import localisation_view
from .loss_curves import loss_curves
from .margins import margins, number
from .pictures import GAIN_KEY

#: Summary-table metric columns, in order.
METRICS = metric_table.NAMES
#: Metrics listed per output in the detail sections.
DETAIL_METRICS = (*METRICS, "mismatch_ratio", "nonfinite", "elements", "samples", "shape")
#: Larger picture files are not embedded (kept pictures are at most 256 pixels a side).
MAX_PICTURE_BYTES = 2 * 1024 * 1024
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: Pictures are shown at least this wide (small outputs are scaled up, pixelated), in pixels.
MIN_PICTURE_WIDTH = 128
#: Histogram drawing: width and height of the plot area in pixels.
PLOT_W, PLOT_H = 360, 90


def render(checks: list[dict], env: dict[str, str], report_dir: Path | None = None) -> str:
    """The report as one HTML page (``report_dir`` is unused: pictures are embedded)."""
    details = [_detail(index, check) for index, check in enumerate(checks)]  # reads pictures
    checks, env = machine_paths_removed(checks), machine_paths_removed(env)
    details = machine_paths_removed(details)
    passed = sum(1 for c in checks if c.get("passed"))
    return _template().render(
        summary={"checks": len(checks), "passed": passed, "failed": len(checks) - passed},
        environment=env,
        backends=_backends(checks),
        rows=[row for index, check in enumerate(checks) for row in _rows(index, check)],
        details=details,
        metrics=METRICS,
        data=build(checks, env),
    )


@lru_cache(maxsize=1)
def _template() -> jinja2.Template:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("pytest_coremlcheck.report", "templates"),
        autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True,
        lstrip_blocks=True)
    environment.policies["json.dumps_kwargs"] = {"default": json_default}
    environment.filters["num"] = fmt
    environment.filters["metric"] = show
    environment.filters["signed"] = signed
    environment.filters["breakable"] = breakable
    return environment.get_template("report.html.j2")


def fmt(value, digits: int = 4) -> str:
    """A metric for display: ``digits`` significant digits, "inf", "-" when missing."""
    x = number(value)
    if x is None:
        return "-" if value is None else str(value)
    if math.isinf(x) or math.isnan(x):
        return str(x)
    if isinstance(value, int):
        return str(value)
    return f"{x:.{digits}g}"


def show(value, name: str) -> str:
    """A value of metric ``name`` as the metric table shows it; other values (counts,
    ratios) with ``fmt``."""
    metric = metric_table.BY_NAME.get(name)
    return metric.show(number(value) if number(value) is not None else value) \
        if metric else fmt(value)


def breakable(text) -> Markup:
    """``text`` escaped, with line-break opportunities after path separators (``/``, ``::``,
    ``[``, ``.``), so long test ids wrap instead of widening the table."""
    return Markup(re.sub(r"(/|::|\[|\.)", r"\1<wbr>", str(escape(str(text)))))


def machine_paths_removed(value, root: Path | None = None):
    """``value`` (str, dict, list) with paths under ``root`` (default: the working directory)
    made relative and the home directory shown as ``~``; other values unchanged."""
    if isinstance(value, str):
        root_text = str(root or Path.cwd()).rstrip(os.sep) + os.sep
        home = str(Path.home()).rstrip(os.sep)
        value = value.replace(root_text, "")
        return re.sub(rf"{re.escape(home)}(?=/|$)", "~", value) if len(home) > 1 else value
    if isinstance(value, dict):
        return {k: machine_paths_removed(v, root) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(machine_paths_removed(v, root) for v in value)
    return value


def signed(value: float | None) -> str:
    """A margin with its sign: ``+12.1``, ``-0.003``, ``+inf``."""
    if value is None:
        return "-"
    return f"{value:+.4g}"


def _sort_key(value) -> str:
    """A number as JavaScript's ``Number()`` reads it ("Infinity", "NaN"); "" when missing."""
    x = number(value)
    if x is None:
        return ""
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    return "NaN" if math.isnan(x) else repr(x)


def _backends(checks: list[dict]) -> list[dict]:
    """What ran the converted models: backend, platform and how many checks, first seen first."""
    counts: dict[tuple[str, str], int] = {}
    for check in checks:
        key = (str(check.get("backend", "-")), str(check.get("platform", "-")))
        counts[key] = counts.get(key, 0) + 1
    return [{"backend": b, "platform": p, "checks": n} for (b, p), n in counts.items()]


def _rows(index: int, check: dict) -> list[dict]:
    """Summary rows of one check: one per output (one "-" row for a check that could not run)."""
    test = str(check.get("test", check.get("name", "")))
    outputs = check.get("outputs") or {"-": {}}
    rows = []
    for name, out in outputs.items():
        verdict = row_verdict(check, out, passed="pass")
        rows.append({
            "anchor": f"check-{index}",
            "test": test,
            "name": str(check.get("name", "")),
            "variant": str(check.get("variant") or ""),
            "shape": str(check.get("shape") or ""),
            "output": str(name),
            "backend": str(check.get("backend", "-")),
            "platform": str(check.get("platform", "-")),
            "metrics": {m: {"text": show(out.get(m), m),
                            "sort": _sort_key(out.get(m))}
                        for m in METRICS},
            "verdict": verdict,
            "status": "pass" if verdict == "pass" else "fail",
            "search": " ".join((test, str(check.get("name", "")), str(name))).lower(),
        })
    return rows


def _detail(index: int, check: dict) -> dict:
    """Everything the detail section of one check shows."""
    outputs = []
    for name, out in (check.get("outputs") or {}).items():
        outputs.append({
            "name": str(name),
            "passed": bool(out.get("passed")),
            "metrics": [(m, show(out[m], m) if m != "shape"
                         else "x".join(map(str, out[m])))
                        for m in DETAIL_METRICS if out.get(m) is not None],
            "margins": margins(out),
            "failures": out.get("failures", []),
            "note": out.get("note", ""),
            "histogram": histogram_bars(out.get("error_histogram")),
            "pictures": [_picture(p) for p in out.get("artifacts", [])],
        })
    own = {f for out in (check.get("outputs") or {}).values() for f in out.get("failures", [])}
    lint = [f for f in check.get("lint") or [] if isinstance(f, dict)]
    fold = bool(check.get("passed"))
    step = _metric_rows(check.get("step_outputs"))
    return {
        "anchor": f"check-{index}",
        "test": str(check.get("test", check.get("name", ""))),
        "check": check,
        "outputs": outputs,
        "step_outputs": step,
        "golden_outputs": _metric_rows(check.get("golden_outputs")),
        "loss_curves": loss_curves(check.get("training")),
        "localisation": localisation_view(check.get("localisation")),
        "gates": {str(k): str(v) for k, v in (check.get("gates") or {}).items()},
        "failures": [f for f in check.get("failures", []) if f not in own],
        "tolerance": {k: v for k, v in (check.get("tolerance") or {}).items()
                      if k != "per_output"},
        "lint_shown": [f for f in lint if not fold or f.get("severity") != "info"],
        "lint_folded": [f for f in lint if fold and f.get("severity") == "info"],
    }


def _metric_rows(by_output: dict | None) -> list[dict]:
    """Rows of the summary metrics per output (step or golden comparisons)."""
    return [{"name": str(name), "metrics": [show(m.get(k), k) for k in METRICS]}
            for name, m in (by_output or {}).items()]


def histogram_bars(histogram: dict | None) -> dict | None:
    """SVG geometry of an ``error_histogram``: one bar per bin, height proportional to the
    count (the tallest bin fills ``PLOT_H``), labelled by its lower edge."""
    if not histogram or not histogram.get("counts"):
        return None
    counts, edges = histogram["counts"], histogram["edges"]
    tallest = max(counts) or 1
    width = PLOT_W / len(counts)
    bars = []
    for i, count in enumerate(counts):
        height = PLOT_H * count / tallest
        low, high = number(edges[i]), number(edges[i + 1])
        label = "0" if low == 0 else f"{low:.0e}".replace("e-0", "e-").replace("e+0", "e")
        if not math.isfinite(high):
            label = "≥" + label
        bars.append({"x": round(i * width + 1, 2), "width": round(width - 2, 2),
                     "y": round(PLOT_H - height + 14, 2), "height": round(height, 2),
                     "count": count, "label": label,
                     "range": f"[{low:g}, {high:g})" if math.isfinite(high) else f"≥ {low:g}",
                     "label_x": round(i * width + width / 2, 2)})
    return {"bars": bars, "width": PLOT_W, "height": PLOT_H + 30, "axis_y": PLOT_H + 14,
            "total": sum(counts)}


def _picture(path: str) -> dict:
    """A kept PNG as a data: URI, or the reason it cannot be shown."""
    kind = Path(path).stem.rsplit("-", 1)[-1]
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        return {"kind": kind, "uri": None, "error": f"cannot read {path}: {exc.strerror}"}
    if not data.startswith(PNG_SIGNATURE):
        return {"kind": kind, "uri": None, "error": f"{path} is not a PNG file"}
    if len(data) > MAX_PICTURE_BYTES:
        return {"kind": kind, "uri": None,
                "error": f"{path} is {len(data)} bytes, more than the {MAX_PICTURE_BYTES} "
                         "embedded"}
    try:
        with Image.open(io.BytesIO(data)) as picture:
            width, height = picture.size
            gain = picture.info.get(GAIN_KEY)
    except (OSError, ValueError) as exc:
        return {"kind": kind, "uri": None, "error": f"{path} cannot be decoded: {exc}"}
    scale = max(1.0, MIN_PICTURE_WIDTH / max(width, 1))
    return {"kind": kind, "uri": "data:image/png;base64," + base64.b64encode(data).decode(),
            "width": round(width * scale), "height": round(height * scale),
            "gain": _gain(gain)}


def _gain(text) -> int | None:
    """The amplification a |difference| picture records (None when absent or unreadable)."""
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None
