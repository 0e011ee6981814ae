"""The reference executor as a runtime."""

from __future__ import annotations

from typing import Any

from ..reference import ReferenceModel
from .base import Runtime


class ReferenceRuntime(Runtime):
    """Runs predictions under the hazard screen (``watch_hazards``); ``full_hazards``
    re-runs feeds under the full watch, for a failing check."""

    backend = "reference"
    reports_stages = True

    def __init__(self, model: ReferenceModel | Any, fp16_mode: str = "typed",
                 watch_hazards: bool = True, bundle_dirs: dict[str, str] | None = None):
        self._options = dict(fp16_mode=fp16_mode, bundle_dirs=bundle_dirs)
        self._source = model
        self.model = model if isinstance(model, ReferenceModel) else ReferenceModel(
            model, watch_hazards=watch_hazards, hazard_screen=True, **self._options)
        self.watch_hazards = watch_hazards
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

    def stages(self) -> list:
        """A pipeline's stages (``reference.pipeline.StageInfo``), else []."""
        return self.model.stages

    def boundaries(self) -> list:
        """A pipeline's stage boundaries (``reference.pipeline.Boundary``), else []."""
        return self.model.boundaries

    def hazards(self) -> list[dict]:
        """Numeric hazards the screen saw so far, as dicts (first op of each kind)."""
        return [h.to_dict() for h in self.model.hazards]

    def full_hazards(self, feeds: list[dict[str, Any]]) -> list[dict]:
        """Every hazard kind (underflow too) over ``feeds``, run in order by a fresh copy of
        the model under the full watch; the screen's hazards when no copy can be made."""
        if not self.watch_hazards or isinstance(self._source, ReferenceModel):
            return self.hazards()
        watched = ReferenceModel(self._source, watch_hazards=True, **self._options)
        for feed in feeds:
            watched.predict(feed)
        return [h.to_dict() for h in watched.hazards]
