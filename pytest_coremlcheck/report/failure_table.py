"""The failure table a failing check shows in pytest, ``EquivalenceError`` and
``coremlcheck compare``: what ran, one row of metrics per output, every failure."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..compare.metric_table import NAMES, show
from ..compare.metrics import OutputMetrics

if TYPE_CHECKING:
    from ..check.result import EquivalenceResult


def failure_table(result: EquivalenceResult) -> str:
    """The readable table a failing check shows: the first failure (the line pytest's
    short summary shows), then what ran, every output, every failure."""
    more = len(result.failures) - 1
    lines = [
        *([result.failures[0] + (f" (and {more} more)" if more > 0 else "")]
          if result.failures else []),
        f"Core ML equivalence check {result.name!r} FAILED",
        f"  model:    {result.model}",
        f"  source:   {result.source}",
        f"  backend:  {result.backend} ({result.platform})",
        *([f"  variant:  {result.variant} (step {result.step})"] if result.variant else []),
        *([f"  shape:    {result.shape}"] if result.shape else []),
        f"  inputs:   {result.inputs}",
        f"  tolerance: {result.tolerance.describe()}",
        "",
        format_table(result.output_results.values()),
        "",
        "Failures:",
    ]
    lines += [f"  - {f}" for f in result.failures]
    if result.step_outputs:
        lines.append(f"Against the previous step ({result.step}):")
        lines += [f"  {k}: SNR {show('snr_db', m.snr_db)} dB, cosine "
                  f"{show('cosine', m.cosine)}" for k, m in result.step_outputs.items()]
    if result.golden_outputs:
        lines.append("Against the golden outputs:")
        lines += [f"  {k}: max_abs {show('max_abs', m.max_abs)}, SNR "
                  f"{show('snr_db', m.snr_db)} dB, cosine {show('cosine', m.cosine)}"
                  for k, m in result.golden_outputs.items()]
    if result.hazards:
        lines.append("Numeric hazards in the converted model:")
        lines += [f"  - {h['message']}" for h in result.hazards]
    if result.localisation is not None:
        lines.append(localisation_line(result.localisation))
    lines += [f"  note: {n}" for n in result.notes]
    pictures = [p for r in result.output_results.values() for p in r.artifacts]
    if pictures:
        lines.append("Pictures of the failing image outputs: " + ", ".join(pictures))
    return "\n".join(lines)


def localisation_line(localisation: dict) -> str:
    """A localisation in one line: its summary (top suspect, verified fix) and its cost."""
    timing = localisation.get("timing", {})
    return (f"{localisation.get('summary', 'localisation')} (localisation: "
            f"{timing.get('extra_runs', 0)} extra runs, {timing.get('seconds', 0.0):.1f} s)")


TABLE_COLUMNS = ("output", *NAMES, "result")


def format_table(rows) -> str:
    """Fixed-width text table of output results, with the tightest passing tolerance.

    Metrics cover the positions finite on both sides; a ``non-finite`` column (counts of
    the positions left out) and a ``dtype`` column (integer source outputs) appear when a
    row needs them."""
    rows = list(rows)
    extra = [c for c, needed in (
        ("non-finite", any(r.metrics is not None and _nonfinite_text(r.metrics) for r in rows)),
        ("dtype", any(r.dtype for r in rows))) if needed]
    columns = (*TABLE_COLUMNS[:-1], *extra, TABLE_COLUMNS[-1])
    body = []
    for r in rows:
        m = r.metrics
        cells = {"output": r.name, "result": "ok" if r.passed else "FAIL",
                 "dtype": r.dtype or "-"}
        if m is None:
            cells["result"] = "FAIL" if r.failures else "skip"
        else:
            cells.update({name: show(name, getattr(m, name)) for name in NAMES})
            cells["non-finite"] = _nonfinite_text(m) or "0"
        body.append(tuple(cells.get(c, "-") for c in columns))
    widths = [max(len(c), *(len(row[i]) for row in body)) for i, c in enumerate(columns)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths))  # noqa: E731
    out = [line(columns), line(["-" * w for w in widths])]
    out += [line(row) for row in body]
    tight = [r for r in rows if r.metrics is not None and r.failures and r.tightest]
    if tight:
        out.append("")
        out.append("tightest tolerance that would have passed:")
        for r in tight:
            text = ", ".join(f"{k}={v:.6g}" for k, v in r.tightest.items())
            out.append(f"  {r.name}: {text}")
    return "\n".join(out)


def _nonfinite_text(m: OutputMetrics) -> str:
    """Counts of the positions no metric covers, e.g. ``3 src NaN, 2 conv`` ('' when none)."""
    parts = [f"{count} {what}" for count, what in (
        (m.nonfinite, "conv"), (m.source_nan, "src NaN"), (m.matched_inf, "±inf both"))
        if count]
    return ", ".join(parts)
