"""PyTorch sources: nn.Module, ScriptModule and ExportedProgram."""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import Source, SourceError


class TorchSource(Source):
    """Runs a torch model on numpy feeds, positional in the Core ML input order."""

    framework = "torch"

    def __init__(self, model):
        import torch

        self._torch = torch
        self.model = model
        self.exported = isinstance(model, torch.export.ExportedProgram)
        self._callable = model.module() if self.exported else model
        #: (input names, shapes and dtypes, the TorchScript trace or why tracing failed)
        self._trace = None
        self._key_parts = None  # (the same, the cache-key parts)
        self._export = None  # (the same, the decomposed ExportedProgram)
        self._float64 = None  # a float64 copy of the model (noise_floor), built when asked
        if isinstance(model, torch.nn.Module) and model.training:
            # Comparisons need deterministic inference: dropout and batch-norm statistics.
            model.eval()

    @property
    def framework_model(self) -> Any:
        """The model the hooks of conversion localisation attach to."""
        return self.model

    def describe(self) -> str:
        kind = "ExportedProgram" if self.exported else type(self.model).__name__
        return f"torch {self._torch.__version__.split('+')[0]} {kind}"

    def input_features(self) -> list | None:
        """An ExportedProgram's example inputs as array features (None for other models)."""
        from ..coreml.features import Feature

        if not self.exported or not self.model.example_inputs:
            return None
        args, kwargs = self.model.example_inputs
        if kwargs:
            return None
        names = self.model.graph_signature.user_inputs
        return [Feature(str(name), "array", tuple(t.shape), np.dtype(str(t.dtype).split(".")[-1]))
                for name, t in zip(names, args)]

    def tensors(self, feed: dict[str, np.ndarray], order: list[str]) -> tuple:
        torch = self._torch
        args = []
        for name in order:
            array = np.ascontiguousarray(feed[name])
            tensor = torch.from_numpy(array)
            if tensor.dtype == torch.float16 or tensor.dtype == torch.float64:
                tensor = tensor.float()
            elif tensor.dtype in (torch.int32, torch.int16, torch.int8, torch.uint8):
                tensor = tensor.long()
            args.append(tensor)
        return tuple(args)

    def run(self, feed: dict[str, np.ndarray], order: list[str]) -> list[np.ndarray]:
        args = self.tensors(feed, order)
        try:
            with self._torch.inference_mode():
                result = self._callable(*args)
        except Exception as exc:
            raise SourceError(f"the source model raised {type(exc).__name__}: {exc}") from exc
        return [t.detach().cpu().numpy() for t in flatten_outputs(result)]

    def run_float64(self, feed: dict[str, np.ndarray], order: list[str]) -> list[np.ndarray]:
        """The outputs of a float64 copy of the model (``copy.deepcopy(model).double()``) on
        float inputs cast to float64; SourceError when a float output is not float64 (the
        model casts to float32 inside) or the copy cannot run."""
        torch = self._torch
        if self._float64 is None:
            import copy

            self._float64 = copy.deepcopy(self._callable).double()
        args = [t.double() if t.is_floating_point() else t for t in self.tensors(feed, order)]
        try:
            with torch.inference_mode():
                result = self._float64(*args)
        except Exception as exc:
            raise SourceError(f"the float64 copy raised {type(exc).__name__}: {exc}") from exc
        outputs = flatten_outputs(result)
        narrow = [i for i, t in enumerate(outputs)
                  if t.is_floating_point() and t.dtype != torch.float64]
        if narrow:
            raise SourceError(f"output(s) {narrow} stay {outputs[narrow[0]].dtype} in the "
                              "float64 copy (the model casts to a narrower float inside)")
        return [t.detach().cpu().numpy() for t in outputs]

    def conversion_source(self, feed: dict[str, np.ndarray], order: list[str]) -> Any:
        """A TorchScript trace (or the ExportedProgram itself) for ``ct.convert``."""
        if self.exported:  # ct.convert takes the ATEN dialect: decompose a training export
            if getattr(self.model, "dialect", "ATEN") == "TRAINING":
                return self.model.run_decompositions({})
            return self.model
        if isinstance(self.model, self._torch.jit.ScriptModule):
            return self.model
        shapes = _signature(feed, order)
        if self._trace is None or self._trace[0] != shapes:
            self._trace = (shapes, self._traced(feed, order))
        if isinstance(self._trace[1], SourceError):  # a failed trace is not tried again
            raise self._trace[1]
        return self._trace[1]

    def _traced(self, feed: dict[str, np.ndarray], order: list[str]):
        """``torch.jit.trace`` of the model, or the SourceError saying why it failed."""
        import warnings

        args = self.tensors(feed, order)
        try:
            with self._torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore", self._torch.jit.TracerWarning)
                return self._torch.jit.trace(self.model, args, check_trace=False)
        except Exception as exc:
            error = SourceError(f"torch.jit.trace failed: {type(exc).__name__}: {exc}")
            error.__cause__ = exc
            return error

    def fingerprint(self, feed: dict[str, np.ndarray], order: list[str]) -> list:
        """Cache-key parts: weights, architecture, forward code and the traced graph, whose
        constants carry what the code reads from plain attributes and module globals (a
        ``self.shift = 0.5`` that no weight holds)."""
        from ..convert.cache import fingerprint_torch, graph_text

        shapes = _signature(feed, order)
        if self._key_parts is None or self._key_parts[0] != shapes:
            parts = fingerprint_torch(self.model)
            if not self.exported:
                try:
                    parts.append(graph_text(self.conversion_source(feed, order)))
                except SourceError:  # not traceable: converted through torch.export
                    parts.append(str(self.export(feed, order).graph_module.code))
            self._key_parts = (shapes, parts)  # a variant chain asks once per variant
        return list(self._key_parts[1])

    @property
    def can_export(self) -> bool:
        """A module (not an ExportedProgram already) can fall back to ``torch.export``."""
        return not self.exported

    def export(self, feed: dict[str, np.ndarray], order: list[str]) -> Any:
        """``torch.export`` of the model, the fallback when TorchScript conversion breaks."""
        shapes = _signature(feed, order)
        if self._export is None or self._export[0] != shapes:
            args = self.tensors(feed, order)
            exported = self._torch.export.export(self.model, args)
            self._export = (shapes, exported.run_decompositions({}))
        return self._export[1]


def _signature(feed: dict[str, np.ndarray], order: list[str]) -> list:
    """Input names, shapes and dtypes of a feed: what a trace depends on besides the model."""
    return [(name, np.shape(feed[name]), np.asarray(feed[name]).dtype.str) for name in order]


def flatten_outputs(result) -> list:
    """Tensors of a forward result in order: tensor, tuple/list (nested) or dict values."""
    import torch

    if isinstance(result, torch.Tensor):
        return [result]
    if isinstance(result, dict):
        result = list(result.values())
    if isinstance(result, (list, tuple)):
        out = []
        for item in result:
            out.extend(flatten_outputs(item))
        return out
    raise SourceError(f"the source model returned {type(result).__name__}; expected tensors")
