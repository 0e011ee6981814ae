"""A pipeline's source: source stages run one after another.

Stage ``i + 1`` receives stage ``i``'s outputs positionally (flattened, in order), as a
``ct.utils.make_pipeline`` of the stages' conversions passes them by declared order.
"""

from __future__ import annotations

import numpy as np

from . import as_source
from .base import Source, SourceError


class ComposedSource(Source):
    framework = "composed"

    def __init__(self, stages):
        if not stages:
            raise SourceError("source_stages needs at least one stage")
        self.stages = [as_source(stage) for stage in stages]

    def describe(self) -> str:
        return f"{len(self.stages)}-stage pipeline: " + " → ".join(
            s.describe() for s in self.stages)

    def run(self, feed: dict[str, np.ndarray], order: list[str]) -> list[np.ndarray]:
        outputs = self.stages[0].run(feed, order)
        for index, stage in enumerate(self.stages[1:], start=1):
            names = [f"_{i}" for i in range(len(outputs))]
            try:
                outputs = stage.run(dict(zip(names, outputs)), names)
            except SourceError as exc:
                raise SourceError(f"source stage {index}: {exc}") from exc
        return outputs

    def run_stage(self, index: int, values: list[np.ndarray]) -> list[np.ndarray]:
        """Run one source stage on positional inputs."""
        names = [f"_{i}" for i in range(len(values))]
        return self.stages[index].run(dict(zip(names, values)), names)

    def conversion_source(self, feed, order):
        raise SourceError("a pipeline of source stages cannot be converted on the fly; pass "
                          "the converted pipeline (e.g. from ct.utils.make_pipeline)")
