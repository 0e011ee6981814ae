"""Run an ML program (``mlProgram`` spec) with the compiled MIL executor."""

from __future__ import annotations

import gc
import os
from importlib import import_module
from types import SimpleNamespace

import numpy as np
import torch
from coremltools.converters.mil.mil import types

from ...coreml.describe import compute_precision
from ...coreml.loading import LoadedModel
from ..engine import Engine
from ..errors import ModelLoadError
from . import device_risk, dtypes
from .fp16 import Fp16Mode
from .hazards import HazardWatch
from .program import ProgramCompiler
from .recording import Recorder, Recording, program_scopes, to_numpy
from .weights import reading_weights

# Registers the op implementations. Through sys.modules, not ``from . import ops``: a
# ``ops`` attribute left on the package by an earlier import (pytester restores sys.modules
# between in-process runs) would register into an older registry.
import_module(f"{__package__}.ops")

#: How an fp16 program's run is named in reports, per FP16 mode.
MODE_LABELS = {"typed": "fp16-typed", "fp16-accumulate": "fp16-accumulate",
               "device-risk": "fp16 device-risk (pessimistic)",
               "fp32": "fp16 program run in fp32"}


#: Environment variable: megabytes of decoded compressed weights kept between reads.
CACHE_VARIABLE = "COREMLCHECK_WEIGHT_CACHE_MB"


def weight_cache_bytes() -> int:
    """The weight cache limit in bytes: ``$COREMLCHECK_WEIGHT_CACHE_MB`` megabytes, 0 unset."""
    text = os.environ.get(CACHE_VARIABLE, "").strip()
    if not text:
        return 0
    try:
        megabytes = float(text)
    except ValueError:
        megabytes = -1.0
    if not megabytes >= 0:
        raise ModelLoadError(f"{CACHE_VARIABLE}={text!r}: expected a number of megabytes ≥ 0")
    return int(megabytes * 1e6)


class MilEngine(Engine):
    """Loads the program once (parse, compile; compressed weights stay compressed) and runs it
    per prediction."""

    records = True

    def __init__(self, loaded: LoadedModel, fp16_mode: str, function_name: str | None):
        self.name = loaded.name
        name = function_name or loaded.spec.description.defaultFunctionName or "main"
        declared = loaded.spec.mlProgram.functions
        if name not in declared:
            raise ModelLoadError(f"{self.name}: no function {name!r}; the program has "
                                 f"{', '.join(sorted(declared))}")
        function = _load_program(loaded, name).functions[name]
        #: the program's input types (name -> an object with the var's ``sym_type``), checked
        #: against the description at load; not the vars, which would keep the program alive
        self.program_inputs = {name: SimpleNamespace(sym_type=var.sym_type)
                               for name, var in function.inputs.items()}
        self.compiler = ProgramCompiler(self.name, Fp16Mode(fp16_mode), weight_cache_bytes())
        self.block = self.compiler.compile_block(function)
        self.input_dtypes = {v.name: dtypes.element_type(v) for v in function.inputs.values()}
        self.state_names = [v.name for v in function.inputs.values()
                            if types.is_state(v.sym_type)]
        self.precision = compute_precision(loaded.spec, name)
        self.mode_label = MODE_LABELS[fp16_mode] if self.precision == "fp16" else "fp32"
        #: op name -> scopes from the in-memory program (``attach_scopes``), else empty
        self.scopes: dict[str, dict[str, list[str]]] = {}
        # the parsed program (ops, vars and blocks referencing each other) is garbage now;
        # only the cycle collector frees it, so free it before the next load adds its own
        # (20 MB for a 125M decoder's function)
        del function
        gc.collect()

    @property
    def notes(self) -> list[str]:
        """In device-risk mode: that it is a bound, and which modelled behaviours fired."""
        if self.precision != "fp16":
            return []
        mode = self.compiler.fp16_mode
        return device_risk.notes(mode.name, mode.fired)

    def watch_hazards(self, screen: bool = False) -> HazardWatch:
        """Start recording numeric hazards (``screen``: see ``hazards``); returns the watch."""
        self.compiler.runner.watch = HazardWatch(screen)
        return self.compiler.runner.watch

    def run(self, feeds: dict[str, np.ndarray], state=None) -> dict[str, np.ndarray]:
        """One prediction; ``state`` (a ReferenceState) is read and updated in place."""
        values = self._input_values(feeds, state)
        results = self._run_block(values)
        return {
            name: _to_numpy(value) if isinstance(value, torch.Tensor) else value
            for name, value in zip(self.block.output_names, results)
        }

    def record(self, feeds: dict[str, np.ndarray], state=None) -> Recording:
        """One prediction keeping every top-level op's outputs (``recording``)."""
        values = self._input_values(feeds, state)
        recorder = Recorder(self.block, self.scopes)
        runner = self.compiler.runner
        runner.recorder = recorder
        try:
            self._run_block(values)
        finally:
            runner.recorder = None
        inputs = {name: to_numpy(value) for name, value in zip(self.block.input_names, values)}
        return Recording(self.name, self.mode_label, recorder.ops, inputs,
                         list(self.block.output_names))

    def attach_scopes(self, mil_program) -> None:
        """Take op scopes from the in-memory program ``ct.convert`` returned (a saved
        program keeps none): used by hazard locations and recordings."""
        self.scopes = program_scopes(mil_program)

        def visit(block):
            for step in block.steps:
                step.node.scopes = self.scopes.get(step.node.name, {})
                for nested in step.node.blocks:
                    visit(nested)

        visit(self.block)

    def _input_values(self, feeds: dict[str, np.ndarray], state) -> list:
        values = []
        for name in self.block.input_names:
            if name in self.state_names:
                values.append(state.cells[name])
                continue
            if name not in feeds:
                raise ModelLoadError(f"{self.name}: no value for program input {name!r}")
            mil_dtype = self.input_dtypes[name]
            tensor = dtypes.to_torch(feeds[name], mil_dtype)
            if dtypes.is_fp16(mil_dtype):
                tensor = tensor.to(torch.float16).to(torch.float32)
            values.append(tensor)
        return values

    def _run_block(self, values: list) -> list:
        runner = self.compiler.runner
        try:
            with torch.inference_mode():
                return runner.run(self.block, values)
        finally:
            runner.env.clear()


def _to_numpy(value: torch.Tensor) -> np.ndarray:
    """A program output as Core ML returns it: a rank-0 result is a 1-element array."""
    array = value.numpy()
    return array.reshape(1) if array.ndim == 0 else array


def _load_program(loaded: LoadedModel, function_name: str):
    """The MIL program of ``loaded`` with function ``function_name`` only: the other functions
    of a multifunction model are not parsed, nor are their constants read."""
    from coremltools.converters.mil.frontend.milproto.load import load as load_milproto

    spec = loaded.spec
    if len(spec.mlProgram.functions) > 1:
        spec = type(spec)()
        spec.CopyFrom(loaded.spec)
        for other in [n for n in spec.mlProgram.functions if n != function_name]:
            del spec.mlProgram.functions[other]
    try:
        with reading_weights(loaded.weights_dir, loaded.name):
            return load_milproto(spec, spec.specificationVersion, loaded.weights_dir)
    except ModelLoadError:
        raise
    except TypeError as exc:
        if loaded.weights_dir is None:
            raise ModelLoadError(
                f"{loaded.name}: the ML program keeps its weights in files beside the spec, and "
                "a bare spec carries none: pass the MLModel or the .mlpackage path") from None
        raise ModelLoadError(f"{loaded.name}: cannot read the ML program "
                             f"({type(exc).__name__}: {exc})") from None
    except Exception as exc:
        raise ModelLoadError(f"{loaded.name}: cannot read the ML program "
                             f"({type(exc).__name__}: {exc})") from None

