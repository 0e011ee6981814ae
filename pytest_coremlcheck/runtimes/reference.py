"""The reference executor as a runtime."""

from __future__ import annotations

from typing import Any

from ..reference import ReferenceModel


class ReferenceRuntime:
    backend = "reference"

    def __init__(self, model: ReferenceModel | Any, fp16_mode: str = "typed",
                 watch_hazards: bool = True, bundle_dirs: dict[str, str] | None = None):
        self.model = model if isinstance(model, ReferenceModel) else ReferenceModel(
            model, fp16_mode=fp16_mode, watch_hazards=watch_hazards, bundle_dirs=bundle_dirs)
        self.precision = self.model.precision
        self.platform = self.model.platform

    def predict(self, feed: dict[str, Any]) -> dict[str, Any]:
        return self.model.predict(feed)

    def stage_outputs(self) -> dict[str, dict[str, Any]]:
        """A pipeline's per-stage outputs of the last prediction (``{}`` otherwise)."""
        return self.model.stage_outputs()

    def notes(self) -> list[str]:
        """What the executor did that the report should say (e.g. a linked .mlmodelc run
        from its .mlpackage)."""
        return self.model.notes

    def boundaries(self) -> list:
        """A pipeline's stage boundaries (``reference.pipeline.Boundary``), else []."""
        return self.model.boundaries

    def hazards(self) -> list[dict]:
        """Numeric hazards seen so far, as dicts (first op of each kind)."""
        return [h.to_dict() for h in self.model.hazards]
