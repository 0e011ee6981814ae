"""Run a NeuralNetwork spec (``neuralNetwork``, ``neuralNetworkClassifier``,
``neuralNetworkRegressor``; spec versions 1–5) with torch.

Loading compiles the layer list once (implementations resolved, weights decoded); each
prediction maps the feeds to input blobs (shape mapping, image preprocessing), runs the compiled
steps and maps blobs back to outputs (classifier label and probabilities included).

Precision: NeuralNetwork specs declare none. ``"fp32"`` computes in float32 like Core ML's CPU
path; ``"fp16"`` rounds the inputs, every decoded weight and every layer output to float16, like
the GPU / Neural Engine paths store them.
"""

from __future__ import annotations

from importlib import import_module

import numpy as np
import torch

from ...coreml.features import describe
from ...coreml.image import color_space
from ...coreml.loading import LoadedModel
from ..engine import Engine
from ..errors import ExecutionError, ModelLoadError
from . import classifier as _classifier
from . import declared, preprocessing, shapes
from .network import Compiler, round_fp16
from .updatable import format_summary, training_summary

# Registers the layer implementations. Through sys.modules, not ``from . import layers``: a
# ``layers`` attribute left on the package by an earlier import (pytester restores sys.modules
# between in-process runs) would register into an older registry.
import_module(f"{__package__}.layers")

PRECISIONS = ("fp32", "fp16")


class NeuralNetworkEngine(Engine):
    """Loads a NeuralNetwork spec once and runs it per prediction."""

    def __init__(self, loaded: LoadedModel, precision: str = "fp32"):
        if precision not in PRECISIONS:
            raise ValueError(f"unknown NeuralNetwork precision {precision!r}; expected one of "
                             f"{', '.join(PRECISIONS)}")
        spec = loaded.spec
        self.name = loaded.name
        self.precision = precision
        self.mode_label = f"neuralnetwork {precision}"
        self.kind = spec.WhichOneof("Type")
        nn = getattr(spec, self.kind)
        self.rank5_arrays = nn.arrayInputShapeMapping == shapes.RANK5_ARRAY_MAPPING
        self.rank5_images = nn.imageInputShapeMapping == shapes.RANK5_IMAGE_MAPPING
        self.inputs = describe(spec.description.input)
        self.outputs = describe(spec.description.output)
        self.training = training_summary(spec)
        self._defaults = {fd.name: _default_value(fd) for fd in spec.description.input}
        images = {f.name: (f.color or color_space(fd.type.imageType), f.shape)
                  for f, fd in zip(self.inputs, spec.description.input) if f.kind == "image"}
        self._preprocess = preprocessing.build(nn.preprocessing, images, self.name)
        self.preprocessing = [preprocessing.describe(e) for e in nn.preprocessing]

        fp16 = precision == "fp16"
        available = {f.name for f in self.inputs}
        self.flexible_inputs = any(f.flexible for f in self.inputs)
        self.network = Compiler(self.name, fp16, not self.flexible_inputs).compile(
            nn.layers, available)
        self.classifier = (_classifier.build(spec, nn, self.name)
                           if self.kind == "neuralNetworkClassifier" else None)
        keep = {f.name for f in self.outputs}
        if self.classifier is not None:
            keep.add(self.classifier.probability_blob)
        missing = sorted(self._blob_outputs() - available)
        if missing:
            raise ModelLoadError(f"{self.name}: no layer produces the declared output(s) "
                                 f"{', '.join(missing)}")
        self.network.plan_frees(keep)
        self.notes = self._notes(spec)

    def _notes(self, spec) -> list[str]:
        """What a report should say about how this model was run."""
        path = "every layer output rounded to float16, like the GPU / Neural Engine" \
            if self.precision == "fp16" else "float32, like Core ML's CPU path"
        notes = [f"NeuralNetwork spec v{spec.specificationVersion} ({self.kind}) run in "
                 f"{self.precision}: {path}; the spec declares no precision"]
        if self.training.get("updatable"):
            notes.append(format_summary(self.training).replace("\n", "; "))
        kinds = self.network.layer_types()
        random = sorted(k for k in kinds
                        if k.startswith("random") or k == "categoricalDistribution")
        if random:
            notes.append(f"random layers ({', '.join(random)}) draw from torch generators: "
                         "values differ from Core ML's, only their distribution matches")
        if self.network.uses_dynamic_int8():
            notes.append("int8 dynamic quantization: inputs quantized per tensor, symmetric "
                         "(an approximation of Core ML's int8 kernels)")
        return notes

    def _blob_outputs(self) -> set[str]:
        """Declared outputs that are read straight from blobs."""
        names = {f.name for f in self.outputs}
        if self.classifier is not None:
            names -= {self.classifier.label_output, self.classifier.probabilities_output}
            names.add(self.classifier.probability_blob)
        return names

    def run(self, feeds: dict[str, np.ndarray], state=None) -> dict:
        env = {}
        for feature in self.inputs:
            if feature.name in feeds:
                value = feeds[feature.name]
            elif self._defaults.get(feature.name) is not None:
                value = np.full(feature.shape, self._defaults[feature.name], dtype=np.float32)
            else:
                continue
            env[feature.name] = self.input_blob(feature, value)
        with torch.inference_mode():
            self.network.run(env)
        return self._collect(env)

    def input_blob(self, feature, value) -> torch.Tensor:
        """A fed value as the blob the first layer reads (preprocessing, shape mapping)."""
        x = torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32))
        if feature.kind == "image":
            for step in self._preprocess.get(feature.name, ()):
                x = step(x)
            x = shapes.image_to_blob(x, self.rank5_images)
        else:
            if x.dim() == 0:
                x = x.reshape(1)
            x = shapes.array_to_blob(x, self.rank5_arrays)
        return round_fp16(x) if self.precision == "fp16" else x

    def _collect(self, env: dict) -> dict:
        out = {}
        if self.classifier is not None:
            out.update(self.classifier.outputs(env[self.classifier.probability_blob]))
        for feature in self.outputs:
            if feature.name in out:
                continue
            blob = env[feature.name]
            if feature.kind == "array":
                self._check_output_shape(feature, blob)
                blob = shapes.blob_to_output(blob, feature.shape, self.rank5_arrays)
            elif feature.kind in ("double", "int64"):
                out[feature.name] = blob.reshape(-1)[0].item()
                continue
            out[feature.name] = blob.numpy()
        return out

    def _check_output_shape(self, feature, blob: torch.Tensor) -> None:
        """The blob of an array output against the shape the model declares for it (see
        :mod:`.declared`); skipped with flexible inputs under the exact mapping."""
        if self.flexible_inputs and not self.rank5_arrays:
            return
        problem = declared.output_shape_problem(feature, blob, self.rank5_arrays)
        if problem is None:
            return
        step = self.network.producer(feature.name)
        who = f"layer {step.name!r} ({step.type})" if step else "the network"
        raise ExecutionError(f"{self.name}: output {feature.name!r} from {who} has shape "
                             f"{list(blob.shape)}; {problem}")


def _default_value(fd):
    """The fill value of an optional multi-array input when it is omitted, else None.

    ``defaultOptionalValue`` when the spec sets one (spec ≥ 4), else 0: older specs declare a
    recurrent layer's initial ``y_{-1}`` / ``c_{-1}`` inputs optional (Keras and Turi Create
    converters, ``NeuralNetworkBuilder.add_optionals``) so that a first prediction can leave
    them out, and Core ML then starts the recurrence from zero states.
    """
    t = fd.type
    if not t.isOptional or t.WhichOneof("Type") != "multiArrayType":
        return None
    arr = t.multiArrayType
    kind = arr.WhichOneof("defaultOptionalValue")
    return float(getattr(arr, kind)) if kind else 0.0
