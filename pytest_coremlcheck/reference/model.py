"""``ReferenceModel``: run a Core ML model with torch, with ``MLModel.predict`` semantics."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..coreml.features import Feature, describe
from ..coreml.image import array_to_image, image_to_array
from ..coreml.loading import LoadedModel, load_model
from .engines import engine_for
from .errors import InputError, ModelLoadError
from .state import ReferenceState


class ReferenceModel:
    """A Core ML model executed by the reference executor.

    ``model`` is a path to an ``.mlpackage``/``.mlmodel``, a ``coremltools.models.MLModel``
    or a ``Model_pb2.Model`` spec. ``fp16_mode`` is ``"typed"`` (round every value the program
    declares fp16), ``"fp16-accumulate"`` (also accumulate conv/matmul/linear reductions in
    fp16), ``"device-risk"`` (also keep the intermediates of softplus, log-sum-exp, norms and
    reductions in fp16, as device reports describe: ``mil.device_risk``; ``notes`` names what
    fired) or ``"fp32"`` (ignore declared fp16). ``function_name`` picks a function of a
    multifunction program. ``watch_hazards`` records the first op whose output holds NaN/Inf
    or leaves the fp16 range (``hazards``); ``hazard_screen`` makes it the cheap screen checks
    run (no underflow kind, one min/max read per value: ``mil.hazards``). NeuralNetwork specs
    declare no precision: ``nn_precision`` is ``"fp32"`` (Core ML's CPU path) or ``"fp16"``
    (every layer output rounded to fp16, like the GPU / Neural Engine path). ``bundle_dirs``
    maps the bundles a linked model's search path names to directories: ``"main"`` for
    ``$BUNDLE_MAIN``, a bundle identifier for ``$BUNDLE_IDENTIFIER(id)``. ``predict`` takes
    and returns what ``MLModel.predict`` does: numpy arrays, PIL images for image features;
    ``record`` (ML programs) also returns every op's output in program order.
    """

    def __init__(
        self,
        model,
        *,
        fp16_mode: str = "typed",
        function_name: str | None = None,
        nn_precision: str = "fp32",
        watch_hazards: bool = False,
        hazard_screen: bool = False,
        bundle_dirs: dict[str, str] | None = None,
    ):
        loaded = load_model(model)
        self.name = loaded.name
        self.spec = loaded.spec
        self.fp16_mode = fp16_mode
        interface = function_description(loaded, function_name)
        self.inputs: list[Feature] = describe(interface.input)
        self.outputs: list[Feature] = describe(interface.output)
        self.states: list[Feature] = describe(interface.state)
        _check_unique(self.name, self.inputs + self.states, "input")
        _check_unique(self.name, self.outputs, "output")
        _require_torch(loaded.name)
        self._engine = engine_for(loaded, fp16_mode, function_name, nn_precision,
                                  bundle_dirs=bundle_dirs)
        if self._engine.program_inputs is not None:
            from .mil.interface import check_inputs

            check_inputs(self.name, self.inputs + self.states, self._engine.program_inputs)
            self._engine.attach_scopes(getattr(model, "_mil_program", None))
        self._options = dict(fp16_mode=fp16_mode, function_name=function_name,
                             nn_precision=nn_precision, bundle_dirs=bundle_dirs)
        #: the :class:`~.neuralnetwork.training.TrainingRun` that produced this model, if any
        self.training_run = None
        self._watch = None
        if watch_hazards:
            self._watch = self._engine.watch_hazards(hazard_screen)

    @property
    def precision(self) -> str:
        """``"fp16"`` when the program computes any value in fp16, else ``"fp32"``."""
        return self._engine.precision

    @property
    def hazards(self) -> list:
        """First op of each numeric hazard seen so far (``watch_hazards=True`` only)."""
        return self._watch.hazards() if self._watch is not None else []

    @property
    def notes(self) -> list[str]:
        """Things the executor did that a report should mention, e.g. a linked compiled
        ``.mlmodelc`` run from its ``.mlmodel``/``.mlpackage`` source."""
        return list(self._engine.notes)

    @property
    def stages(self) -> list:
        """A pipeline's stages (``pipeline.StageInfo``: name, kind, precision, declared types,
        input sources); ``[]`` for other models."""
        return list(self._engine.stages)

    @property
    def boundaries(self) -> list:
        """A pipeline's stage boundaries (``pipeline.Boundary``: feature, producer, consumer,
        declared types on both sides); ``[]`` for other models."""
        return list(self._engine.boundaries)

    def stage_outputs(self) -> dict[str, dict[str, Any]]:
        """A pipeline's per-stage outputs of the last ``predict`` (stage name -> outputs as
        ``MLModel.predict`` returns them); ``{}`` for other models."""
        return dict(self._engine.stage_outputs)

    @property
    def platform(self) -> str:
        """What runs predictions, e.g. ``"reference executor, fp16-typed"``."""
        return f"reference executor, {self._engine.mode_label}"

    def make_state(self) -> ReferenceState:
        """A fresh state (zeros) for a stateful model, to pass to ``predict(..., state=)``."""
        if not self.states:
            raise InputError(f"{self.name}: the model has no state")
        return ReferenceState(self.states, self.name)

    def predict(self, data: dict[str, Any], state: ReferenceState | None = None) -> dict[str, Any]:
        """Run one prediction; inputs and outputs are keyed by feature name.

        A stateful model reads and updates ``state`` (from ``make_state()``); without one, a
        fresh zero state is used for this prediction only.
        """
        feeds = self._convert_inputs(data)
        if self.states:
            state = self._state_for(state)
        raw = self._engine.run(feeds, state)
        return self._convert_outputs(raw)

    def update(self, training_data, *, epochs: int | None = None,
               parameters: dict | None = None, last_batch: str = "keep",
               adam_eps: str = "v_hat", progress=None) -> ReferenceModel:
        """The model after the update its spec declares (``MLUpdateTask``), as a new model.

        Updatable NeuralNetworks train their updatable layers (``training_run`` holds the loss
        curve and configuration); k-NN classifiers append the samples. ``training_data``: a list
        of dicts, a dict of arrays (first axis: samples) or an ``.npz`` path, keyed by training
        input name. ``epochs`` and ``parameters`` (``learning_rate``, ``mini_batch_size``,
        ``momentum``, ``beta1``, ``beta2``, ``eps``, ``shuffle``, ``seed``) override the spec's
        defaults inside its allowed values; ``last_batch`` is ``"keep"`` or ``"drop"``;
        ``adam_eps`` is ``"v_hat"`` or ``"v"`` (where Adam adds ε: ``training.optimizers``);
        ``progress(epoch, loss)`` is called after each epoch.
        """
        from .updating import update

        spec, run = update(self, training_data, epochs=epochs, parameters=parameters,
                           last_batch=last_batch, adam_eps=adam_eps, progress=progress)
        updated = ReferenceModel(spec, **self._options)
        updated.name = f"{self.name} (updated)"
        updated.training_run = run
        return updated

    def save(self, path):
        """Write the model's spec to an ``.mlmodel`` at ``path`` (``MLWritable``)."""
        from .updating import save

        return save(self.spec, path, self.name)

    def record(self, data: dict[str, Any], state: ReferenceState | None = None):
        """Run one prediction like ``predict`` and return every op output in program order.

        An ML program only (``mil.recording.Recording``: per op its name, op type, input and
        output var names, the source scopes ``ct.convert`` attached when the model is the
        in-memory ``MLModel`` it returned, and the output values as numpy arrays, float32
        for floats, after the run's fp16 rounding). Ops inside ``cond``/``while_loop`` blocks
        are not recorded, only the control-flow op itself.
        """
        if not self._engine.records:
            raise InputError(f"{self.name}: recording intermediate values needs an ML program; "
                             f"this model is a {self.spec.WhichOneof('Type')}")
        feeds = self._convert_inputs(data)
        if self.states:
            state = self._state_for(state)
        return self._engine.record(feeds, state)

    def _state_for(self, state):
        if state is None:
            return self.make_state()
        if not isinstance(state, ReferenceState) or set(state.cells) != {
                f.name for f in self.states}:
            raise InputError(f"{self.name}: state must come from this model's make_state()")
        return state

    def _convert_inputs(self, data: dict[str, Any]) -> dict[str, np.ndarray]:
        if not isinstance(data, dict):
            raise InputError(f"{self.name}: predict() expects a dict of input name -> value, "
                             f"got {type(data).__name__}")
        known = {f.name for f in self.inputs}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InputError(f"{self.name}: unknown input(s) {', '.join(unknown)}; the model's "
                             f"inputs are {', '.join(sorted(known)) or '(none)'}")
        feeds = {}
        for feature in self.inputs:
            if feature.name not in data:
                if feature.optional:
                    continue
                raise InputError(f"{self.name}: missing input {feature.name!r} "
                                 f"(expected {_expected(feature)})")
            feeds[feature.name] = self._convert_input(feature, data[feature.name])
        return feeds

    def _convert_input(self, feature: Feature, value) -> np.ndarray:
        where = f"{self.name}: input {feature.name!r}"
        if feature.kind == "image":
            size = None if feature.flexible else feature.image_size
            array = image_to_array(value, feature.color, size, where)
            if feature.flexible and not feature.accepts_shape(array.shape):
                raise InputError(f"{where}: image size {array.shape[3]}x{array.shape[2]} is "
                                 f"outside the allowed sizes {feature.expected_shape_text()}")
            return array
        if feature.kind == "array":
            array = np.asarray(value)
            if array.dtype.kind not in "biuf":
                raise InputError(f"{where}: expected a numeric array, got dtype {array.dtype}")
            if not feature.accepts_shape(array.shape):
                raise InputError(f"{where}: shape {tuple(array.shape)} does not match the "
                                 f"model's {feature.expected_shape_text()}")
            return array.astype(feature.dtype, copy=False)
        if feature.kind in ("int64", "double"):
            return np.asarray(value, dtype=feature.dtype)
        raise InputError(f"{where}: inputs of type {feature.kind} are not supported")

    def _convert_outputs(self, raw: dict[str, Any]) -> dict[str, Any]:
        out = {}
        for feature in self.outputs:
            if feature.name not in raw:
                raise ModelLoadError(f"{self.name}: the model produced no value for its "
                                     f"declared output {feature.name!r}")
            value = raw[feature.name]
            if feature.kind == "image":
                out[feature.name] = array_to_image(value, feature.color)
            elif feature.kind == "array":
                out[feature.name] = np.asarray(value).astype(feature.dtype, copy=False)
            else:
                out[feature.name] = value
        return out


def function_description(loaded: LoadedModel, function_name: str | None):
    """The description holding the inputs/outputs/states of the function that runs.

    Multifunction models (spec 9+) describe each function in ``description.functions``; others
    describe their one interface in ``description`` itself.
    """
    description = loaded.spec.description
    if not description.functions:
        return description
    name = function_name or description.defaultFunctionName
    for function in description.functions:
        if function.name == name:
            return function
    raise ModelLoadError(f"{loaded.name}: no function {name!r}; the model has "
                         f"{', '.join(sorted(f.name for f in description.functions))}")


def _check_unique(where: str, features: list[Feature], role: str) -> None:
    """Core ML refuses a description that declares one feature name twice."""
    seen = set()
    for feature in features:
        if feature.name in seen:
            raise ModelLoadError(f"{where}: the model description declares {role} "
                                 f"{feature.name!r} twice; feature names must be unique")
        seen.add(feature.name)


def _expected(feature: Feature) -> str:
    if feature.kind == "image":
        w, h = feature.image_size
        return f"a {feature.color} image of {w}x{h}"
    if feature.kind == "array":
        return f"an array of shape {feature.expected_shape_text()} and dtype {feature.dtype}"
    return feature.kind


def _require_torch(model_name: str) -> None:
    """The executor computes with torch; without it, say how to install it."""
    try:
        import torch  # noqa: F401
    except ImportError:
        raise ModelLoadError(
            f"{model_name}: the reference executor runs models with torch, which is not "
            "installed: pip install 'pytest-coremlcheck[torch]' (the CPU build is enough)"
        ) from None
