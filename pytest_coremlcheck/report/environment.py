"""Versions and platform recorded in every report."""

from __future__ import annotations

import platform
import sys
from functools import lru_cache
from importlib import metadata


@lru_cache(maxsize=1)
def environment() -> dict[str, str]:
    """Python, OS and the versions of the packages that decide results."""
    env = {
        "python": sys.version.split()[0],
        "os": f"{platform.system()} {platform.release()} ({platform.machine()})",
    }
    for package in ("pytest-coremlcheck", "coremltools", "torch", "tensorflow", "numpy"):
        try:
            env[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return env
