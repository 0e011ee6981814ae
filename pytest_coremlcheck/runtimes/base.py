"""The converted side of a check: what every runtime does, and the optional capabilities
(with their defaults) the check asks of it."""

from __future__ import annotations

from typing import Any


class Runtime:
    """Runs a converted model. Subclasses set ``backend`` ("coreml" or "reference"),
    ``platform`` (what actually runs, for the report) and ``precision``, and implement
    ``predict``; the other methods have "nothing to say" defaults."""

    backend: str = ""
    platform: str = ""
    precision: str = "fp32"
    #: True when ``stages`` and ``stage_outputs`` describe a pipeline's stages (the
    #: per-stage check against ``source_stages`` needs them)
    reports_stages: bool = False

    def predict(self, feed: dict[str, Any]) -> dict[str, Any]:
        """One prediction: outputs as ``MLModel.predict`` returns them."""
        raise NotImplementedError

    def notes(self) -> list[str]:
        """What the runtime did that the report should say."""
        return []

    def hazards(self) -> list[dict]:
        """Numeric hazards seen so far (first op of each kind), as dicts."""
        return []

    def full_hazards(self, feeds: list[dict[str, Any]]) -> list[dict] | None:
        """Every hazard kind over ``feeds`` (re-run for a failing check); None: not supported."""
        return None

    def stages(self) -> list:
        """A pipeline's stages (``reference.pipeline.StageInfo``); [] when it cannot say."""
        return []

    def boundaries(self) -> list:
        """A pipeline's stage boundaries (``reference.pipeline.Boundary``); []."""
        return []

    def stage_outputs(self) -> dict[str, dict[str, Any]]:
        """A pipeline's per-stage outputs of the last prediction; {}."""
        return {}
