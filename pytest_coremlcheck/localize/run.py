"""``localize``: record an fp16 program (or a compressed variant) against its fp32 run (or its
base), rank the ops by the error they add, then try fixes and re-run the check on each."""

from __future__ import annotations

import copy
import math
import time
from typing import Any

from ..check import CheckSettings, run_check
from ..compare.tolerance import Tolerance
from ..convert.cache import ConversionCache
from ..convert.chain import ChainInputs, converted_model
from ..convert.on_the_fly import conversion_features
from ..coreml.describe import compute_precision
from ..coreml.features import describe
from ..coreml.loading import load_model
from ..errors import CheckError
from ..inputs import as_input_source
from ..reference import ReferenceModel
from ..reference.mil.hazards import FP16_MAX
from ..sources import as_source
from .errors import add_errors, op_errors, ranked
from .fixes import (
    Fp32Ops,
    compress,
    conversion_name,
    excluding,
    exclusion_code,
    fp32_kept,
    mask_sentinel_hint,
)
from .hazards import program_hazards
from .result import CheckOutcome, Fix, Localisation

#: Budget when the tolerance sets neither ``min_snr_db`` nor ``min_cosine`` (the FP16 default).
DEFAULT_BUDGET_DB = 30.0
#: How many fixes of each kind are tried at most (each a re-conversion and a check).
MAX_ATTEMPTS = 3


def localize(source, converted=None, *, inputs=None, convert: dict[str, Any] | None = None,
             tolerance: Tolerance | dict | None = None, compression=None, base=None,
             fp16_mode: str = "typed", top: int = 10, max_samples: int = 4, fix: bool = True,
             cache_dir=None, result=None) -> Localisation:
    """Localise where ``converted`` (or ``source`` converted with ``convert``) loses accuracy.

    Without ``compression``: an fp16 program is recorded as declared (``fp16_mode``) and in
    fp32, and ops keeping the worst offenders in fp32 are tried
    (``FP16ComputePrecision(op_selector=...)``, re-converted from ``source`` with ``convert``).
    With ``compression`` (a ``coremltools.optimize.coreml.OptimizationConfig``): the model is
    the base, the compressed variant is built from it and recorded against it, and configs
    leaving the worst weights uncompressed are tried. With ``base`` (the model ``converted``
    was compressed from, e.g. a variant chain's fp16 model) and no ``compression``, the variant
    is ranked against it and no fix is tried (there is no config to change). Each fix is
    re-checked against ``source`` on ``inputs`` with ``tolerance`` (the reference executor);
    only a passing re-run is *verified*. ``max_samples`` samples are recorded; ``top`` ops
    are ranked. ``result``: the check's own ``EquivalenceResult`` for the model under test
    (the variant, with ``compression``), when already run.
    """
    if base is not None and compression is not None:
        raise CheckError("localize: pass either base= (a variant already compressed) or "
                         "compression= (a config to compress the model with), not both")
    started = time.perf_counter()
    session = _Session(source, inputs, tolerance, fp16_mode, cache_dir)
    tested = converted if converted is not None else session.convert(convert)
    if base is None:
        base = tested
    if compression is not None:
        tested = compress(base, compression)
        session.conversions += 1
    if result is None:
        result = session.check(tested)
    before = CheckOutcome.of(result)
    loaded = load_model(tested)
    kind = "compression" if tested is not base else compute_precision(loaded.spec)
    loc = Localisation(kind, loaded.name, before, budget_db(result))
    if kind == "fp32":
        return _finish(loc, session, started)
    errors, first, base_weights = _record(session, tested, base, kind, fp16_mode, max_samples)
    _measure(loc, errors, first, base_weights, top)
    if fix and not before.passed and (kind == "fp16" or compression is not None):
        if kind == "fp16":
            _fp32_fixes(loc, session, convert, converted is not None)
        else:
            _exclusion_fixes(loc, session, base, compression)
        if loc.verified_fix is None:
            loc.look_at = loc.first_over_budget or (loc.ranking[0] if loc.ranking else None)
    return _finish(loc, session, started)


def budget_db(result) -> float:
    """The error budget of the check's outputs (dB): the largest ``min_snr_db`` of their
    tolerances, or −20·log10(√(2(1 − min_cosine))) from a cosine limit (relative L2 error of
    two vectors of equal norm), else ``DEFAULT_BUDGET_DB``."""
    budgets = [_budget(r.tolerance) for r in result.output_results.values()]
    return max(budgets, default=DEFAULT_BUDGET_DB)


def _budget(tol: Tolerance) -> float:
    if tol.min_snr_db is not None:
        return float(tol.min_snr_db)
    if tol.min_cosine is not None and tol.min_cosine < 1.0:
        return -20.0 * math.log10(math.sqrt(2.0 * (1.0 - tol.min_cosine)))
    return DEFAULT_BUDGET_DB


class _Session:
    """What re-checking needs: the source, the samples, the tolerance and the cache."""

    def __init__(self, source, inputs, tolerance, fp16_mode, cache_dir):
        self.source, self.inputs, self.tolerance = source, inputs, tolerance
        self.src = as_source(source)
        self.input_source = as_input_source(inputs)
        self.settings = CheckSettings(backend="reference", fp16_mode=fp16_mode,
                                      cache=ConversionCache(cache_dir, "on"), localize="off")
        self.extra_runs = 0
        self.conversions = 0
        self._samples = None

    def convert(self, kwargs: dict | None):
        """``source`` converted with ``kwargs`` through the conversion path and its cache."""
        features = conversion_features(kwargs, self.input_source)
        if features is None:
            features = self.src.input_features()
        if features is None:
            raise CheckError("localisation re-converts the source: pass convert={'inputs': "
                             "[ct.TensorType(...)]} or explicit inputs (a dict of arrays)")
        feed = self.input_source.materialize(features)[0].source
        order = [f.name for f in features]
        self.conversions += 1
        return converted_model(ChainInputs(self.src, None, kwargs, feed, order,
                                           self.settings.cache))

    def check(self, model):
        """The check re-run on ``model``: its first result."""
        results = run_check(self.source, model, inputs=self.inputs, tolerance=self.tolerance,
                            settings=self.settings)
        self.extra_runs += len(self.samples(model))
        return results[0]

    def samples(self, model) -> list:
        """The check's samples, keyed by ``model``'s inputs (built once: every model tried
        has the same inputs)."""
        if self._samples is None:
            features = describe(load_model(model).spec.description.input)
            self._samples = self.input_source.materialize(features)
        return self._samples


def _record(session, tested, base, kind, fp16_mode, max_samples):
    """Record each sample under test and in the reference run, one sample at a time (only its
    errors are kept): (VarErrors, the first sample's two recordings without their values,
    and for a compressed variant which base const each op input read)."""
    under_test = ReferenceModel(tested, fp16_mode=fp16_mode)
    reference = ReferenceModel(base, fp16_mode="fp32" if kind == "fp16" else fp16_mode)
    errors: dict = {}
    first = None
    for sample in session.samples(tested)[:max_samples]:
        pair = under_test.record(sample.coreml), reference.record(sample.coreml)
        add_errors(errors, *pair)
        session.extra_runs += 2
        if first is None:
            first = pair
            for record in first[0].ops + first[1].ops:
                record.values = {}
    base_weights = None
    if kind == "compression":
        base_weights = {r.name: {k: c.op for k, c in r.constants.items()}
                        for r in first[1].ops}
    return errors, first, base_weights


def _measure(loc: Localisation, errors, first, base_weights, top: int) -> None:
    tested, reference = first
    loc.ops = op_errors(tested, reference, errors, base_weights)
    loc.ranking = ranked(loc.ops)[:top]
    budget = 10.0 ** (-loc.budget_db / 20.0)
    loc.first_over_budget = next((e for e in loc.ops if e.rel > budget), None)
    loc.hazards = program_hazards(tested, errors)
    hint = mask_sentinel_hint(tested, loc.hazards)
    if hint:
        loc.hints.append(hint)
    outputs = tested.output_names
    loc.hints += [f"program output {e.output!r} is declared fp16 but reaches |x| = "
                  f"{errors[e.output].peak_ref:.4g} > 65504: no op kept in fp32 helps; declare "
                  f"it fp32 (outputs=[ct.TensorType(name={e.output!r}, dtype=np.float32)])"
                  for e in loc.ops if e.overflow and e.output in outputs
                  and errors[e.output].peak_ref > FP16_MAX]
    seen = set()
    for error in ranked(loc.ops):
        for weight in error.weights.values():
            if weight not in seen:
                seen.add(weight)
                loc.suspect_weights.append((weight, error))
    loc.suspect_weights = loc.suspect_weights[:top]


def _attempts(loc: Localisation) -> list[list]:
    """Growing sets of fp16 ops to keep in fp32: the suspects (else the top op), then with the
    top 3, then the top ``top``; each set tried once."""
    candidates = [e for e in ranked(loc.ops) if e.fp16]
    suspects = [e for e in loc.suspects if e.fp16] or candidates[:1]
    sets, seen = [], set()
    for extra in (0, 3, len(loc.ranking)):
        chosen = suspects + [e for e in candidates[:extra] if e not in suspects]
        key = frozenset(e.name for e in chosen)
        if chosen and key not in seen:
            seen.add(key)
            sets.append(sorted(chosen, key=lambda e: e.index))
    return sets[:MAX_ATTEMPTS]


def _fp32_fixes(loc: Localisation, session: _Session, convert, given: bool) -> None:
    import coremltools as ct

    if given and not convert:
        loc.notes.append("the model was given converted: fixes re-convert the source with "
                         "default arguments (TensorType inputs shaped like the samples)")
    for ops in _attempts(loc):
        selector = Fp32Ops((e.op_type, conversion_name(e.name)) for e in ops)
        kwargs = copy.deepcopy(convert or {})
        kwargs.setdefault("convert_to", "mlprogram")
        kwargs["compute_precision"] = ct.transform.FP16ComputePrecision(op_selector=selector)
        names = [e.name for e in ops]
        description = f"keep {len(ops)} op(s) in fp32: " + ", ".join(
            f"{e.name} ({e.op_type})" for e in ops)
        fix = Fix("fp32_ops", description, selector.code(), names, loc.before, None)

        def build(kwargs=kwargs, names=names, fix=fix):
            fixed = session.convert(kwargs)
            missed = sorted(set(names) - set(fp32_kept(load_model(fixed).spec, names)))
            if missed:
                fix.description += f" (the selector did not match {', '.join(missed)})"
            return fixed

        if _attempt(loc, session, fix, build):
            return


def _exclusion_fixes(loc: Localisation, session: _Session, base, config) -> None:
    weights = [name for name, _ in loc.suspect_weights]
    for count in range(1, min(MAX_ATTEMPTS, len(weights)) + 1):
        chosen = weights[:count]
        fix = Fix("exclude_weights", "leave uncompressed: " + ", ".join(chosen),
                  exclusion_code(config, chosen), chosen, loc.before, None)

        def build(chosen=chosen):
            fixed = compress(base, excluding(config, chosen))
            session.conversions += 1
            return fixed

        if _attempt(loc, session, fix, build):
            return


def _attempt(loc: Localisation, session: _Session, fix: Fix, build) -> bool:
    """Build the fixed model (``build()``), re-check it into ``fix.after`` (or record why it
    could not be built or checked in ``fix.error``), add ``fix`` to ``loc``; True when the
    fix is verified (its re-run passes)."""
    try:
        fix.after = CheckOutcome.of(session.check(build()))
    except CheckError as exc:
        fix.error = str(exc)
    loc.fixes.append(fix)
    return fix.verified


def _finish(loc: Localisation, session: _Session, started: float) -> Localisation:
    loc.seconds = time.perf_counter() - started
    loc.extra_runs = session.extra_runs
    loc.conversions = session.conversions
    return loc
