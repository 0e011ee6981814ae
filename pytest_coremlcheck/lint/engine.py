"""Run the rules over one model and turn what they yield into findings.

1. read the spec and build the views (weight values are read only by the rules that need
   them, and only with weight scanning on);
2. run every rule (gates always run, so the required target does not depend on the selection);
3. requirements above the target become findings of their rule; requirements above the
   model's own declared version become ``CML-V004``; the highest requirement is the required
   target;
4. keep the selected findings, drop those a more specific rule replaced, sort.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass

from .config import coerce_config
from .context import LintContext
from .findings import Finding
from .opsets import opset_table
from .registry import all_rules, expand_codes, is_selected
from .result import LintResult
from .rule import Problem, Requirement, Rule
from .source import read_model
from .targets import NEWEST_SPEC, Target, parse_target

CRASH_ID = "CML-V999"
MISMATCH_ID = "CML-V004"
SURPLUS_ID = "CML-V005"


@dataclass(frozen=True)
class _Gate:
    rule: Rule
    requirement: Requirement


def lint(model, *, target=None, select=None, ignore=None, config=None,
         scan_weights: bool | None = None) -> LintResult:
    """Lint one Core ML model.

    ``model``: a path to an ``.mlpackage``/``.mlmodel``, a ``coremltools.models.MLModel`` or a
    ``Model_pb2.Model`` spec. ``target``: a deployment target (``"iOS16"``, ``"macOS13"``,
    ``"7"``, a ``coremltools.target`` member) or None for no target. ``select``: rule ids or
    prefixes to report (replaces the configured selection); ``ignore``: ids or prefixes to
    leave out (added to the configured ones). ``config``: a :class:`~.config.LintConfig`, a
    ``[tool.coremlcheck]``-style mapping or a ``pyproject.toml`` path. ``scan_weights``: read
    weight values for the FP16 rules (default from the config, on).

    Raises :class:`~.errors.InvalidModelError` if the model cannot be read, and
    :class:`~.errors.LintUsageError` for an unknown target or rule id.
    """
    settings = coerce_config(config)
    parsed_target = parse_target(target if target is not None else settings.target)
    select_codes = expand_codes(select) if select is not None else list(settings.select)
    ignore_codes = list(settings.ignore) + expand_codes(ignore)
    scan = settings.scan_weights if scan_weights is None else scan_weights
    model_file = read_model(model)
    ignore_codes += list(settings.ignored_for(model_file.display))
    ctx = LintContext(model_file, parsed_target, settings, opset_table(), scan)
    return _run(ctx, select_codes, ignore_codes)


def _run(ctx: LintContext, select: list[str], ignore: list[str]) -> LintResult:
    rules = all_rules()
    gates: list[_Gate] = []
    findings: list[Finding] = []
    path = ctx.file.display
    for rule in rules.values():
        try:
            for item in rule.check(ctx) or ():
                if isinstance(item, Requirement):
                    gates.append(_Gate(rule, item))
                else:
                    findings.append(_problem_finding(rule, item, path))
        except Exception as exc:  # a malformed spec the rule did not expect: say so, go on
            findings.append(_crash_finding(rule, exc, path))

    required, reason_gate = _required(gates)
    findings.extend(_gate_findings(gates, ctx.target, path))
    findings.extend(_declared_findings(gates, ctx, path))
    findings = _select(findings, rules, select, ignore)
    family_target = ctx.target or Target(required, None, "")
    return LintResult(
        path=path,
        findings=sorted(findings, key=Finding.sort_key),
        required_spec=required,
        required_target=family_target.name(required),
        required_by=reason_gate.rule.id if reason_gate else None,
        required_reason=reason_gate.requirement.subject if reason_gate else "",
        declared_spec_version=ctx.top.declared,
        model_type=ctx.top.type or "",
        target=ctx.target.text if ctx.target else None,
        target_spec=ctx.target.spec if ctx.target else None,
        op_table=ctx.opsets.source,
    )


def _required(gates: list[_Gate]) -> tuple[int, _Gate | None]:
    """Highest required spec (1 if nothing needs more) and the gate to name as the reason:
    content before container labels (the opset string), then rule order."""
    if not gates:
        return 1, None
    required = max(g.requirement.spec for g in gates)
    top = [g for g in gates if g.requirement.spec == required]
    order = {rule_id: i for i, rule_id in enumerate(all_rules())}
    ranked = sorted(top, key=lambda g: (g.requirement.container, _superseded_rank(g, top),
                                        order[g.rule.id]))
    return max(1, required), ranked[0]


def _superseded_rank(gate: _Gate, gates: list[_Gate]) -> int:
    """1 if another gate at the same location supersedes this one (prefer the specific rule)."""
    for other in gates:
        if (other is not gate and gate.rule.id in other.rule.supersedes
                and other.requirement.location == gate.requirement.location):
            return 1
    return 0


def _gate_findings(gates: list[_Gate], target: Target | None, path: str) -> list[Finding]:
    if target is None:
        return []
    out = []
    for gate in gates:
        req = gate.requirement
        if req.spec > target.spec:
            message = (f"{req.subject} needs {target.name(req.spec)} (spec {req.spec}); "
                       f"the target is {target.describe()}")
            out.append(Finding(gate.rule.id, gate.rule.severity, message, path, req.location,
                               gate.rule.fix))
    return out


def _declared_findings(gates: list[_Gate], ctx: LintContext, path: str) -> list[Finding]:
    """Compare each (sub-)model's declared version with what its own content needs:
    ``CML-V004`` when it declares less, ``CML-V005`` when a NeuralNetwork or classic model
    declares more."""
    by_model: dict[int, list[_Gate]] = {}
    for gate in gates:
        model = gate.requirement.model or ctx.top
        by_model.setdefault(id(model), []).append(gate)
    needs: dict[int, int] = {}
    for model in reversed(ctx.models):  # children before parents
        own = [g.requirement.spec for g in by_model.get(id(model), [])]
        children = [needs[id(child)] for child in model.submodels]
        needs[id(model)] = max([1, *own, *children])
    out = []
    for model in ctx.models:
        declared = model.declared
        if declared <= 0:
            continue
        over = [g for g in by_model.get(id(model), []) if g.requirement.spec > declared
                and declared >= g.requirement.checked_from]
        if over:
            out.append(_mismatch(model, declared, over, ctx, path))
        elif (needs[id(model)] < declared and not _has_program(model)
              and declared <= NEWEST_SPEC):
            rule = all_rules()[SURPLUS_ID]
            need = needs[id(model)]
            message = (f"{model.label or 'the model'} declares spec {declared} "
                       f"({ctx.name(declared)}) but its content needs only spec {need} "
                       f"({ctx.name(need)}); devices on older releases could load it")
            out.append(Finding(rule.id, rule.severity, message, path, model.loc(), rule.fix))
    return out


def _has_program(model) -> bool:
    return model.type == "mlProgram" or any(_has_program(c) for c in model.submodels)


def _mismatch(model, declared: int, over: list[_Gate], ctx: LintContext, path: str) -> Finding:
    rule = all_rules()[MISMATCH_ID]
    over.sort(key=lambda g: (-g.requirement.spec, g.requirement.container))
    worst = over[0]
    more = f" (and {len(over) - 1} more)" if len(over) > 1 else ""
    message = (f"{model.label or 'the model'} declares spec {declared} "
               f"({ctx.name(declared)}) but {worst.requirement.subject} needs spec "
               f"{worst.requirement.spec} ({ctx.name(worst.requirement.spec)}) "
               f"[{worst.rule.id}]{more}; no OS accepts the file")
    return Finding(rule.id, rule.severity, message, path, model.loc(), rule.fix)


def _problem_finding(rule: Rule, problem: Problem, path: str) -> Finding:
    return Finding(rule.id, problem.severity or rule.severity, problem.message, path,
                   problem.location, problem.fix if problem.fix is not None else rule.fix)


def _crash_finding(rule: Rule, exc: Exception, path: str) -> Finding:
    frame = traceback.extract_tb(exc.__traceback__)[-1]
    where = f"{frame.filename.rsplit('/', 1)[-1]}:{frame.lineno}"
    crash_rule = all_rules()[CRASH_ID]
    message = (f"rule {rule.id} could not check this model: {exc.__class__.__name__}: {exc} "
               f"(at {where})")
    return Finding(CRASH_ID, crash_rule.severity, message, path, "", crash_rule.fix)


def _select(findings: list[Finding], rules: dict[str, Rule], select: list[str],
            ignore: list[str]) -> list[Finding]:
    kept = [f for f in findings if is_selected(f.id, select, ignore)]
    by_location: dict[str, set[str]] = {}
    for finding in kept:
        by_location.setdefault(finding.location, set()).add(finding.id)
    out: list[Finding] = []
    seen: set[tuple[str, str, str]] = set()
    for finding in kept:
        present = by_location[finding.location]
        if any(finding.id in rules[other].supersedes for other in present if other in rules):
            continue
        key = (finding.id, finding.location, finding.message)
        if key in seen:
            continue
        seen.add(key)
        out.append(finding)
    return out
