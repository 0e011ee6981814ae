"""Regression limits of a baseline (``--coreml-regression``): which metrics a baseline stores,
which way each is better, and the limits text parsed. Read at start-up to check the option;
the baseline itself (``baseline``) loads only when a run uses one."""

from __future__ import annotations

DEFAULT_LIMITS = "snr_db:-3,cosine:-1e-4,top1:-0.01"
HIGHER_IS_BETTER = ("snr_db", "psnr_db", "cosine", "top1", "ssim")
LOWER_IS_BETTER = ("max_abs", "rmse")
METRICS = HIGHER_IS_BETTER + LOWER_IS_BETTER


def parse_limits(text: str) -> dict[str, float]:
    """``"snr_db:-3,cosine:-1e-4,max_abs:+1e-3"`` → {metric: signed limit}; "" → {}.

    Raises ValueError naming the bad item: unknown metric, not a number, or a sign that
    would allow nothing (a positive limit on a higher-is-better metric, or the reverse).
    """
    limits: dict[str, float] = {}
    for item in (p.strip() for p in text.split(",")):
        if not item:
            continue
        name, sep, value = item.partition(":")
        name = name.strip()
        if not sep or name not in METRICS:
            raise ValueError(f"regression limit {item!r}: expected 'metric:limit' with metric "
                             f"one of {', '.join(METRICS)}")
        try:
            limit = float(value)
        except ValueError:
            raise ValueError(f"regression limit {item!r}: {value!r} is not a number") from None
        if name in HIGHER_IS_BETTER and limit > 0:
            raise ValueError(f"regression limit {item!r}: {name} is higher-is-better, its "
                             "limit is the change allowed and must be <= 0 (e.g. snr_db:-3)")
        if name in LOWER_IS_BETTER and limit < 0:
            raise ValueError(f"regression limit {item!r}: {name} is lower-is-better, its "
                             "limit is the growth allowed and must be >= 0 (e.g. max_abs:+1e-3)")
        limits[name] = limit
    return limits
