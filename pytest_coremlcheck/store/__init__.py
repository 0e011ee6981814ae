"""The session store: every check's result dict, in the order tests reported them;
``files``: the one atomic writer and JSON reader of reports, baselines and goldens."""

from __future__ import annotations

import pytest

store_key = pytest.StashKey["CheckStore"]()


class CheckStore:
    """Results of one pytest session (the controller's, under xdist): the dicts of
    ``EquivalenceResult.to_dict()`` plus ``test`` (the node id)."""

    def __init__(self) -> None:
        self.checks: list[dict] = []

    def add(self, nodeid: str, entry: dict) -> None:
        self.checks.append(dict(entry, test=nodeid))
