"""The Markdown report on a GitHub Actions job page: appended to ``$GITHUB_STEP_SUMMARY``."""

from __future__ import annotations

import hashlib
import os

#: GitHub shows at most 1 MiB of summary per step; longer text is cut at a line boundary.
LIMIT_BYTES = 1024 * 1024 - 4096
TRUNCATED = "\n_(report truncated: GitHub step summaries hold 1 MiB; see the report file)_\n"

_appended: set[str] = set()


def append_step_summary(markdown: str) -> bool:
    """Append ``markdown`` to the file ``$GITHUB_STEP_SUMMARY`` names, unless the variable is
    unset or this process already appended the same text. Returns True when it appended."""
    target = os.environ.get("GITHUB_STEP_SUMMARY")
    digest = hashlib.sha256(markdown.encode()).hexdigest()
    if not target or digest in _appended:
        return False
    data = markdown.encode()
    if len(data) > LIMIT_BYTES:
        cut = data[:LIMIT_BYTES].rsplit(b"\n", 1)[0]
        data = cut + TRUNCATED.encode()
    with open(target, "ab") as out:
        out.write(data if data.endswith(b"\n") else data + b"\n")
    _appended.add(digest)
    return True
