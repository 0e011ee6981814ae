"""The header every gate file carries (``format`` and ``version``), checked alike."""

from __future__ import annotations


def check_header(data, *, what: str, fmt: str, version: int, error: type[Exception]) -> None:
    """Raise ``error`` naming ``what`` (e.g. ``"baseline x.json"``) unless ``data`` is a dict
    of format ``fmt`` at a version from 1 to ``version``."""
    if not isinstance(data, dict) or data.get("format") != fmt:
        got = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise error(f"{what}: format {got!r}, expected {fmt!r}")
    found = data.get("version")
    if not isinstance(found, int) or found < 1:
        raise error(f"{what}: version {found!r}, expected {version}")
    if found > version:
        raise error(f"{what}: version {found} is newer than this pytest-coremlcheck reads "
                    f"({version}); upgrade pytest-coremlcheck")
