"""Real Core ML (macOS only): ``MLModel.predict`` on the chosen compute units."""

from __future__ import annotations

from typing import Any

from .base import Runtime


class CoreMLRuntime(Runtime):
    backend = "coreml"

    def __init__(self, model, compute_unit: str):
        import coremltools as ct

        unit = getattr(ct.ComputeUnit, compute_unit)
        path = model if not isinstance(model, ct.models.MLModel) else model.package_path
        if isinstance(model, ct.models.MLModel) and path is None:
            spec = model.get_spec()
            self.model = ct.models.MLModel(spec, weights_dir=model.weights_dir, compute_units=unit)
        else:
            self.model = ct.models.MLModel(str(path), compute_units=unit)
        self.precision = "fp32"
        self.platform = f"Core ML, {compute_unit}"

    def predict(self, feed: dict[str, Any]) -> dict[str, Any]:
        return self.model.predict(feed)
