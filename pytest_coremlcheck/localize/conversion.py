"""Conversion localisation: the first source module whose converted ops compute something else.

The source runs with a forward hook on every submodule (module path → its input and output
tensors, in the order the modules finish: children before their parent); the converted model
runs under the reference executor's recorder (every op output, ``ReferenceModel.record``),
with fp16 ignored (``fp16_mode="fp32"``) so a formula error is not mixed with rounding: fp16
error is what precision localisation looks at. ``scopes`` maps each converted op to the module
it came from. A module's converted value is the last value its ops produce that ops of other
modules read (or that the program returns) with the source output's shape, or a transpose of
it (NHWC ↔ NCHW). Per module, over the samples, SNR = 10·log10(Σsource² / Σ(converted −
source)²) and the worst cosine similarity are compared with the budget (the check's
``min_snr_db`` / ``min_cosine``). The suspect is the first module, in finishing order, whose
output breaks the budget while its inputs (the values its ops read from outside it) still
agree; when its inputs already disagree, the ops that computed them are named instead.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..compare.metrics import ShapeMismatch, compute
from .scopes import OpScope, ScopeMap, export_scopes, keras_scopes, scopes_for

#: the budget when the tolerance sets no SNR: a formula error measures below it, float32
#: reordering of a correct conversion well above (110 dB or more)
DEFAULT_MIN_SNR_DB = 60.0
_TRANSPOSES = {4: [(0, 2, 3, 1), (0, 3, 1, 2)], 3: [(0, 2, 1)]}


@dataclass(frozen=True)
class Budget:
    """How far a module's converted value may be from the source's."""

    min_snr_db: float = DEFAULT_MIN_SNR_DB
    min_cosine: float | None = None

    @staticmethod
    def from_tolerance(tolerance) -> Budget:
        """The check's ``min_snr_db`` and ``min_cosine`` (``DEFAULT_MIN_SNR_DB`` when unset)."""
        if tolerance is None:
            return Budget()
        snr = tolerance.min_snr_db
        return Budget(DEFAULT_MIN_SNR_DB if snr is None else snr, tolerance.min_cosine)

    def holds(self, snr_db: float, cosine: float) -> bool:
        if not snr_db >= self.min_snr_db:
            return False
        return self.min_cosine is None or cosine >= self.min_cosine

    def describe(self) -> str:
        text = f"SNR ≥ {self.min_snr_db:g} dB"
        return text + (f", cosine ≥ {self.min_cosine:g}" if self.min_cosine is not None else "")


@dataclass
class ModuleComparison:
    """One source module against the converted value at its boundary."""

    module: str
    module_type: str
    #: the converted ops in the module (its submodules included), in program order
    ops: list[str] = field(default_factory=list)
    #: the converted var compared with the module's output ("" when skipped)
    var: str = ""
    #: the transpose applied to the converted value, e.g. (0, 3, 1, 2), or None
    transpose: tuple[int, ...] | None = None
    snr_db: float = math.nan
    cosine: float = math.nan
    agrees: bool | None = None  # None: not compared (see note)
    note: str = ""

    @property
    def label(self) -> str:
        name = self.module or "(root)"
        return f"{name} ({self.module_type})" if self.module_type else name

    def describe(self) -> str:
        if self.agrees is None:
            return f"{self.label}: not compared ({self.note})"
        verdict = "agrees" if self.agrees else "diverges"
        return f"{self.label}: {verdict}, SNR {_db(self.snr_db)} dB, cosine {self.cosine:.6f}"

    def to_dict(self) -> dict:
        return {"module": self.module, "module_type": self.module_type, "ops": self.ops,
                "var": self.var, "transpose": list(self.transpose) if self.transpose else None,
                "snr_db": _json(self.snr_db), "cosine": _json(self.cosine),
                "agrees": self.agrees, "note": self.note}


@dataclass
class ConversionLocalization:
    """Where converted and source first part ways, module by module."""

    budget: Budget
    origin: str
    modules: list[ModuleComparison] = field(default_factory=list)
    suspect: ModuleComparison | None = None
    #: the suspect's inputs: (converted var, SNR dB) per input compared
    inputs: list[tuple[str, float]] = field(default_factory=list)
    #: the converted ops to look at, as "name (op type)": the suspect's own ops, or those
    #: computing its inputs when the inputs already disagree
    suspect_ops: list[str] = field(default_factory=list)
    #: "module" (the suspect's output diverges, its inputs agree), "before module" (its
    #: inputs already disagree: ops outside any compared module), "none" (nothing diverges)
    verdict: str = "none"
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    #: extra runs: source runs with hooks plus recorded converted runs
    extra_runs: int = 0

    def summary(self) -> str:
        if self.suspect is None:
            compared = sum(m.agrees is not None for m in self.modules)
            return (f"no module diverges: {compared} of {len(self.modules)} module(s) "
                    f"compared within {self.budget.describe()}")
        ops = ", ".join(self.suspect_ops[:6]) + (" …" if len(self.suspect_ops) > 6 else "")
        ops = ops or "none recorded"
        inputs = "; ".join(f"{v} SNR {_db(s)} dB" for v, s in self.inputs)
        if self.verdict == "before module" and not self.suspect_ops:
            return (f"{self.suspect.label} diverges (SNR {_db(self.suspect.snr_db)} dB) but the "
                    f"model's inputs already disagree with what the source receives ({inputs}): "
                    "image preprocessing? (find_image_fix)")
        if self.verdict == "before module":
            return (f"{self.suspect.label} diverges (SNR {_db(self.suspect.snr_db)} dB) but its "
                    f"inputs already disagree ({inputs}): look at converted ops {ops}")
        agree = f"while its inputs agree ({inputs})" if inputs else \
            "(its inputs could not be compared)"
        return (f"first divergent module: {self.suspect.label}, SNR "
                f"{_db(self.suspect.snr_db)} dB (budget {self.budget.describe()}) {agree}; "
                f"converted ops: {ops}")

    def to_dict(self) -> dict:
        return {"summary": self.summary(), "verdict": self.verdict, "origin": self.origin,
                "budget": {"min_snr_db": self.budget.min_snr_db,
                           "min_cosine": self.budget.min_cosine},
                "suspect": self.suspect.to_dict() if self.suspect else None,
                "suspect_ops": self.suspect_ops,
                "inputs": [{"var": v, "snr_db": _json(s)} for v, s in self.inputs],
                "modules": [m.to_dict() for m in self.modules], "notes": self.notes,
                "seconds": self.seconds, "extra_runs": self.extra_runs}


@dataclass
class _Capture:
    """One module call of the source: its path, class, input and output tensors per sample."""

    module: str
    module_type: str
    inputs: list[list[np.ndarray]] = field(default_factory=list)
    outputs: list[list[np.ndarray]] = field(default_factory=list)
    calls: int = 0


def localize_conversion(source, converted, inputs, tolerance=None, *, scopes: ScopeMap | None
                        = None, max_samples: int = 2) -> ConversionLocalization:
    """Compare ``source`` and ``converted`` module by module on the check's ``inputs``.

    ``source``: a torch ``nn.Module`` or a tf_keras / Keras model; ``converted``: the
    ``MLModel`` (in-memory from ``ct.convert``, or loaded with a scope sidecar) or a path;
    ``tolerance``: the check's (its ``min_snr_db`` / ``min_cosine`` are the budget);
    ``scopes``: the scope map when neither the model nor a sidecar holds it.
    """
    from ..coreml.features import describe
    from ..coreml.loading import load_model
    from ..inputs import as_input_source
    from ..reference import ReferenceModel

    started = time.perf_counter()
    loaded = load_model(converted)
    features = describe(loaded.spec.description.input)
    order = [f.name for f in features]
    samples = as_input_source(inputs).materialize(features)[:max_samples]
    runner = ReferenceModel(converted, fp16_mode="fp32")
    recordings = [runner.record(s.coreml) for s in samples]
    captures, layer_names = _capture(source, [s.source for s in samples], order)
    scope_map = _scope_map(scopes or scopes_for(converted), recordings[0], source, layer_names,
                           samples[0].source, order)
    result = ConversionLocalization(Budget.from_tolerance(tolerance), scope_map.origin,
                                    extra_runs=2 * len(samples))
    if not any(s.module for s in scope_map.ops):
        result.notes.append("the converted model carries no source scopes (a saved model "
                            "without its .scopes.json sidecar, or an unsupported converter)")
    model_inputs = [[np.asarray(s.source[name]) for name in order] for s in samples]
    _compare(result, captures, scope_map, recordings, model_inputs)
    result.seconds = time.perf_counter() - started
    return result


def _scope_map(scope_map: ScopeMap, recording, source, layer_names, feed, order) -> ScopeMap:
    """The scope map to align with: export stack traces resolved, Keras layer names read."""
    if not scope_map.ops:  # no program nor sidecar: the recorded ops, without modules
        scope_map = ScopeMap("none", [OpScope(r.name, r.op_type, tuple(r.outputs), "")
                                      for r in recording.ops])
    if layer_names is not None:
        return keras_scopes(scope_map, layer_names)
    if scope_map.origin == "torch.export":
        from ..sources import as_source

        src = as_source(source)
        exported = src.model if src.exported else src.export(feed, order)
        return export_scopes(scope_map, exported)
    return scope_map


def _capture(source, feeds: list[dict], order: list[str]):
    """(module captures in finishing order, Keras layer names or None)."""
    import torch

    if isinstance(source, torch.export.ExportedProgram):  # submodules back under their paths
        return _capture_torch(torch.export.unflatten(source), feeds, order), None
    if isinstance(source, torch.nn.Module):
        return _capture_torch(source, feeds, order), None
    if hasattr(source, "layers") and hasattr(source, "inputs"):
        return _capture_keras(source, feeds, order)
    raise TypeError(f"conversion localisation needs a torch nn.Module, an ExportedProgram or a "
                    f"Keras model; got {type(source).__name__}")


def _capture_torch(model, feeds: list[dict], order: list[str]) -> list[_Capture]:
    """Every module's tensor inputs and outputs per sample, by forward hooks (the root last,
    as "")."""
    import torch

    from ..sources.torch import TorchSource

    src = TorchSource(model)
    found: dict[str, _Capture] = {}
    sample_index = [0]

    def hook_for(name: str):
        def hook(module, args, output):
            entry = found.setdefault(name, _Capture(name, type(module).__name__))
            if sample_index[0] == 0:
                entry.calls += 1
            if len(entry.outputs) <= sample_index[0]:
                entry.inputs.append([_numpy(a) for a in args if isinstance(a, torch.Tensor)])
                entry.outputs.append([_numpy(t) for t in _tensor_outputs(output)])
        return hook

    handles = [m.register_forward_hook(hook_for(name)) for name, m in model.named_modules()]
    try:
        for index, feed in enumerate(feeds):
            sample_index[0] = index
            src.run(feed, order)
    finally:
        for handle in handles:
            handle.remove()
    return list(found.values())


def _tensor_outputs(output) -> list:
    """The tensors of a module's output, flattened; [] for other outputs."""
    import torch

    from ..sources import SourceError
    from ..sources.torch import flatten_outputs

    try:
        return [t for t in flatten_outputs(output) if isinstance(t, torch.Tensor)]
    except SourceError:
        return []


def _numpy(tensor) -> np.ndarray:
    return tensor.detach().float().cpu().numpy().copy()


def _capture_keras(model, feeds: list[dict], order: list[str]):
    """Every layer's output per sample (a model of all layer outputs); Keras layers' inputs
    are not kept (the converted side's are compared through the producing layers)."""
    from ..sources import as_source

    src = as_source(model)
    layers = [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]
    probe = _functional_model(model)(model.inputs, [layer.output for layer in layers])
    captures = [_Capture(layer.name, type(layer).__name__, calls=1) for layer in layers]
    for feed in feeds:
        values = probe(src.model_inputs(feed, order))
        for capture, value in zip(captures, values):
            capture.inputs.append([])
            capture.outputs.append([np.asarray(value)])
    return captures, [layer.name for layer in layers]


def _functional_model(model):
    """The functional ``Model`` class of ``model``'s Keras (tf_keras or Keras 3)."""
    if type(model).__module__.startswith("tf_keras"):
        import tf_keras

        return tf_keras.Model
    import keras

    return keras.Model


def _compare(result: ConversionLocalization, captures: list[_Capture], scope_map: ScopeMap,
             recordings, model_inputs: list[list[np.ndarray]]) -> None:
    first = recordings[0]
    producers = {v: r for r in first.ops for v in r.outputs}
    consumers: dict[str, list[str]] = {}
    for record in first.ops:
        for var in record.input_vars:
            consumers.setdefault(var, []).append(record.name)
    returned = set(first.output_names)
    for capture in captures:
        comparison = _compare_module(capture, scope_map, recordings, consumers, returned,
                                     result.budget)
        result.modules.append(comparison)
        if comparison.agrees is False and result.suspect is None:
            _blame(result, comparison, _by_input(capture.inputs) + _by_input(model_inputs),
                   scope_map, recordings, producers)


def _by_input(per_sample: list[list[np.ndarray]]) -> list[list[np.ndarray]]:
    """Per-sample input lists regrouped per input: [input 0 over the samples, ...]."""
    count = min((len(inputs) for inputs in per_sample), default=0)
    return [[inputs[i] for inputs in per_sample] for i in range(count)]


def _module_ops(scope_map: ScopeMap, module: str) -> list[OpScope]:
    """The ops of ``module`` and its submodules (every op for the root, "")."""
    if not module:
        return list(scope_map.ops)
    prefix = module + "."
    return [s for s in scope_map.ops if s.module == module or s.module.startswith(prefix)]


def _compare_module(capture: _Capture, scope_map: ScopeMap, recordings, consumers, returned,
                    budget: Budget) -> ModuleComparison:
    ops = _module_ops(scope_map, capture.module)
    comparison = ModuleComparison(capture.module, _module_type(capture, ops),
                                  [s.op for s in ops])
    if capture.calls > 1:
        comparison.note = (f"called {capture.calls} times: its converted ops cannot be told "
                           "apart by scope")
        return comparison
    if not ops:
        comparison.note = ("no converted op carries its scope (fused into the next module's op, "
                           "as a conv into its batch norm, or folded away)")
        return comparison
    if not capture.outputs or not capture.outputs[0]:
        comparison.note = "its output holds no tensor"
        return comparison
    names = {s.op for s in ops}
    boundary = [v for s in reversed(ops) for v in s.outputs
                if v in returned or any(c not in names for c in consumers.get(v, []))]
    inside = [v for s in reversed(ops) for v in s.outputs if v not in boundary]
    source = [outputs[0] for outputs in capture.outputs]
    match = _match(boundary + inside, source, recordings)
    if match is None:
        comparison.note = (f"no converted value of its ops has the output shape "
                           f"{tuple(source[0].shape)} (or a transpose of it)")
        return comparison
    comparison.var, comparison.transpose, metrics = match
    comparison.snr_db, comparison.cosine = metrics.snr_db, metrics.cosine
    comparison.agrees = budget.holds(metrics.snr_db, metrics.cosine)
    return comparison


def _module_type(capture: _Capture, ops: list[OpScope]) -> str:
    """The module's class as the converter recorded it (an unflattened ExportedProgram's
    modules are all ``InterpreterModule``), else as the hook saw it."""
    if not capture.module:
        return capture.module_type
    depth = len(capture.module.split("."))
    recorded = [s.module_types[depth - 1] for s in ops if len(s.module_types) >= depth]
    return recorded[0] if recorded else capture.module_type


def _match(candidates: list[str], source: list[np.ndarray], recordings):
    """(var, transpose, metrics) of the first candidate whose values fit the source's."""
    for var in candidates:
        values = [_value(r, var) for r in recordings]
        if any(v is None or v.dtype.kind != "f" for v in values):
            continue
        for axes in [None] + _TRANSPOSES.get(values[0].ndim, []):
            moved = [v if axes is None else np.transpose(v, axes) for v in values]
            try:
                return var, axes, compute(list(zip(moved, source)))
            except ShapeMismatch:
                continue
    return None


def _value(recording, var: str) -> np.ndarray | None:
    try:
        return np.asarray(recording.value(var))
    except KeyError:
        return None


def _blame(result: ConversionLocalization, comparison: ModuleComparison,
           source_inputs: list[list[np.ndarray]], scope_map: ScopeMap, recordings,
           producers) -> None:
    """Make ``comparison`` the suspect, checking the values its ops read from outside against
    ``source_inputs`` (the module's inputs, then the model's; each over the samples)."""
    result.suspect = comparison
    names = set(comparison.ops)
    external = list(dict.fromkeys(
        v for op in comparison.ops for v in recordings[0].op(op).input_vars
        if producers.get(v) is None or producers[v].name not in names))
    disagreeing = []
    for var in external:
        match = next((m for source in source_inputs
                      if (m := _match([var], source, recordings)) is not None), None)
        if match is None:
            continue
        result.inputs.append((var, match[2].snr_db))
        if not result.budget.holds(match[2].snr_db, match[2].cosine):
            disagreeing.append(var)
    if not disagreeing:
        result.verdict = "module"
        ops = _own_ops(comparison, result.modules)
    else:
        result.verdict = "before module"
        agreed = {m.var for m in result.modules if m.agrees}
        ops = _upstream_ops(disagreeing, producers, agreed, scope_map)
    result.suspect_ops = [f"{op} ({scope_map.for_op(op).op_type})" for op in ops]


def _own_ops(comparison: ModuleComparison, modules: list[ModuleComparison]) -> list[str]:
    """The module's ops less those of its submodules that agree (its own code, and what
    diverging submodules computed)."""
    prefix = f"{comparison.module}." if comparison.module else ""
    agreeing = {op for m in modules if m.agrees and m.module != comparison.module
                and m.module.startswith(prefix) for op in m.ops}
    return [op for op in comparison.ops if op not in agreeing]


def _upstream_ops(vars_: list[str], producers, agreed: set[str], scope_map: ScopeMap
                  ) -> list[str]:
    """The ops computing ``vars_`` back to values that agree (module boundaries that were
    compared and agree, or program inputs), in program order."""
    seen: set[str] = set()
    stack = list(vars_)
    while stack:
        var = stack.pop()
        record = producers.get(var)
        if record is None or var in agreed or record.name in seen:
            continue
        seen.add(record.name)
        stack.extend(record.input_vars)
    return [s.op for s in scope_map.ops if s.op in seen]


def _db(value: float) -> str:
    return "nan" if math.isnan(value) else f"{value:.1f}".replace("-", "−")


def _json(value: float) -> Any:
    return value if math.isfinite(value) else str(value)
