"""Which input shapes a check runs for models with flexible (enumerated or ranged) inputs.

- enumerated shapes: every enumerated shape;
- ranges: the lower bound, the default, the upper bound (twice the default, at least the lower
  bound, when unbounded) and one size in between rounded to a multiple of 8.
Several flexible inputs advance together (the i-th shape of each). Users may list shapes.
"""

from __future__ import annotations

from dataclasses import replace

from ..coreml.features import Feature


def shape_configs(features: list[Feature],
                  requested: list[dict[str, tuple]] | None = None) -> list[dict[str, tuple]]:
    """Shape assignments to check: ``[{}]`` when nothing is flexible."""
    if requested:
        names = {f.name for f in features}
        for config in requested:
            unknown = set(config) - names
            if unknown:
                raise ValueError(f"shapes: unknown input(s) {', '.join(sorted(unknown))}; the "
                                 f"model's inputs are {', '.join(sorted(names))}")
        return [{k: tuple(int(d) for d in v) for k, v in c.items()} for c in requested]
    flexible = {f.name: candidate_shapes(f) for f in features if f.flexible}
    if not flexible:
        return [{}]
    count = max(len(v) for v in flexible.values())
    return [{name: shapes[i % len(shapes)] for name, shapes in flexible.items()}
            for i in range(count)]


def candidate_shapes(feature: Feature) -> list[tuple[int, ...]]:
    """The shapes to check for one flexible feature, in order, without repeats."""
    if feature.shapes:
        return _unique(feature.shapes)
    ranges = feature.ranges or []
    default = tuple(feature.shape)
    lower = tuple(lo for lo, _ in ranges)
    upper = tuple(hi if hi > 0 else max(2 * d, lo) for (lo, hi), d in zip(ranges, default))
    middle = tuple(_middle(lo, hi, d) for (lo, _), hi, d in zip(ranges, upper, default))
    return _unique([lower, default, middle, upper])


def _middle(lo: int, hi: int, default: int) -> int:
    if lo == hi:
        return lo
    value = int(round((lo + hi) / 2 / 8)) * 8
    value = min(max(value, lo), hi)
    return value if value != default or hi - lo < 16 else min(value + 8, hi)


def _unique(shapes) -> list[tuple[int, ...]]:
    out: list[tuple[int, ...]] = []
    for shape in shapes:
        shape = tuple(int(d) for d in shape)
        if shape not in out:
            out.append(shape)
    return out


def with_shapes(features: list[Feature], config: dict[str, tuple]) -> list[Feature]:
    """``features`` with the shapes of ``config`` as their (default) shapes."""
    return [replace(f, shape=config[f.name]) if f.name in config else f for f in features]


def label(config: dict[str, tuple]) -> str:
    """Short name of a shape assignment, e.g. ``image=1x3x64x64``."""
    return ", ".join(f"{name}={'x'.join(map(str, shape))}" for name, shape in config.items())
