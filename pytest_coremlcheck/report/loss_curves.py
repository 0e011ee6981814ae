"""SVG geometry of a training parity check's two loss curves (loss per epoch), for the HTML
report: the converted model's emulated update and the source's training on one plot."""

from __future__ import annotations

import math

WIDTH, HEIGHT, PAD = 360, 140, 28
SERIES = (("converted", "#d9534f", "converted (emulated update)"),
          ("source", "#5b8fd9", "source"))


def loss_curves(training: dict | None) -> dict | None:
    """Polylines of ``training["losses"]`` scaled into one box; None without curves."""
    curves = (training or {}).get("losses") or {}
    values = [v for key, _, _ in SERIES for v in curves.get(key, [])
              if isinstance(v, (int, float)) and math.isfinite(v)]
    epochs = max((len(curves.get(key, [])) for key, _, _ in SERIES), default=0)
    if not values or epochs == 0:
        return None
    low, high = min(values), max(values)
    span = (high - low) or abs(high) or 1.0

    def x(i: int) -> float:
        return round(PAD + (WIDTH - 2 * PAD) * (i / max(epochs - 1, 1)), 2)

    def y(v: float) -> float:
        return round(HEIGHT - PAD - (HEIGHT - 2 * PAD) * (v - low) / span, 2)

    lines = []
    for key, color, label in SERIES:
        points = [(x(i), y(v)) for i, v in enumerate(curves.get(key, []))
                  if isinstance(v, (int, float)) and math.isfinite(v)]
        lines.append({"label": label, "color": color,
                      "points": " ".join(f"{px},{py}" for px, py in points),
                      "dots": points, "values": curves.get(key, [])})
    return {"width": WIDTH, "height": HEIGHT, "lines": lines, "epochs": epochs,
            "low": f"{low:.4g}", "high": f"{high:.4g}", "axis_y": HEIGHT - PAD,
            "left": PAD, "right": WIDTH - PAD, "top": PAD}
