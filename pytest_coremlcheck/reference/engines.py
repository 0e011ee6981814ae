"""``engine_for``: the one place that picks the engine (``engine.Engine``) for a spec."""

from __future__ import annotations

from ..coreml.describe import PIPELINE_KINDS
from ..coreml.loading import LoadedModel
from .engine import Engine
from .errors import ModelLoadError


def engine_for(loaded: LoadedModel, fp16_mode: str, function_name: str | None,
               nn_precision: str, *, bundle_dirs: dict[str, str] | None = None) -> Engine:
    """The engine for the model's type. Pipelines and linked models build their stages'
    engines through this function too (passed in: they do not import it)."""
    kind = loaded.spec.WhichOneof("Type")
    if kind == "mlProgram":
        from .mil.engine import MilEngine

        return MilEngine(loaded, fp16_mode, function_name)
    if kind in ("neuralNetwork", "neuralNetworkClassifier", "neuralNetworkRegressor"):
        from .neuralnetwork.engine import NeuralNetworkEngine

        return NeuralNetworkEngine(loaded, nn_precision)
    if kind in PIPELINE_KINDS:
        from .pipeline import PipelineEngine

        return PipelineEngine(loaded, engine_for, fp16_mode=fp16_mode,
                              nn_precision=nn_precision, bundle_dirs=bundle_dirs)
    if kind == "kNearestNeighborsClassifier":
        from .knn import KNearestNeighborsEngine

        return KNearestNeighborsEngine(loaded)
    if kind == "linkedModel":
        from .linked import LinkedEngine

        return LinkedEngine(loaded, engine_for, fp16_mode=fp16_mode, nn_precision=nn_precision,
                            bundle_dirs=bundle_dirs)
    raise ModelLoadError(
        f"{loaded.name}: model type {kind!r} (spec version {loaded.spec.specificationVersion}) "
        "is not supported by the reference executor"
    )
