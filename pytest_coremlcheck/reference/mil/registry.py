"""Op implementations keyed by MIL op type and opset version.

An implementation is ``fn(ins, node) -> Tensor | tuple``: ``ins`` maps the op's input names to
torch tensors (tuples of tensors for variadic inputs, Python strings/bools for string and bool
attributes); ``node`` is the compiled op (name, type, output dtypes, nested blocks).
Registering without ``versions`` covers every opset version the op has; a later registration
for specific versions (``versions=("iOS17",)``) takes precedence for those.

The opset version of an op is the coremltools op-definition package its class lives in
(``...ops.defs.iOS17.conv`` -> ``iOS17``): the version in which that definition appeared.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

#: Opset versions of ML programs, named as coremltools' op-definition packages are.
OPSETS = ("iOS15", "iOS16", "iOS17", "iOS18")
ANY = "*"

OpImpl = Callable[..., object]
_IMPLS: dict[str, dict[str, OpImpl]] = {}
_RANDOM: set[str] = set()


def register(*op_types: str, versions: Iterable[str] | None = None, random: bool = False):
    """Decorator: register ``fn`` for ``op_types`` at ``versions`` (all when omitted).

    ``random=True`` marks ops whose outputs are drawn at random: the executor runs them
    (seeded), but their outputs cannot be compared with another runtime's.
    """
    keys = tuple(versions) if versions is not None else (ANY,)
    unknown = set(keys) - set(OPSETS) - {ANY}
    if unknown:
        raise ValueError(f"unknown opset version(s) {sorted(unknown)}; expected {OPSETS}")

    def wrap(fn: OpImpl) -> OpImpl:
        for op_type in op_types:
            table = _IMPLS.setdefault(op_type, {})
            for key in keys:
                table[key] = fn
            if random:
                _RANDOM.add(op_type)
        return fn

    return wrap


def lookup(op_type: str, opset: str) -> OpImpl | None:
    """The implementation of ``op_type`` at ``opset``, or None."""
    table = _IMPLS.get(op_type)
    if table is None:
        return None
    return table.get(opset) or table.get(ANY)


def implemented(op_type: str, opset: str) -> bool:
    """Whether ``op_type`` at ``opset`` has an implementation."""
    return lookup(op_type, opset) is not None


def is_random(op_type: str) -> bool:
    """Whether ``op_type`` draws its outputs at random (outputs not comparable across runs)."""
    return op_type in _RANDOM


def opset_of(op_class: type) -> str:
    """Opset version in which ``op_class``'s definition appeared (its defs package name)."""
    parts = op_class.__module__.split(".")
    for part in reversed(parts):
        if part in OPSETS:
            return part
    return OPSETS[0]


def mil_op_versions() -> dict[str, list[str]]:
    """Op type -> the opset versions (``OPSETS``) in which coremltools defines it.

    Read from coremltools' MIL op registry at call time: each distinct op-definition class
    reachable from a deployment target iOS15..iOS18 contributes its definition version.
    """
    from coremltools.converters.mil._deployment_compatibility import AvailableTarget
    from coremltools.converters.mil.mil.ops.registry import SSAOpRegistry

    first = AvailableTarget.iOS15
    table: dict[str, list[str]] = {}
    for op_type, by_target in SSAOpRegistry.core_ops.items():
        versions = {opset_of(cls) for target, cls in by_target.items() if target >= first}
        if versions:
            table[op_type] = sorted(versions, key=OPSETS.index)
    return dict(sorted(table.items()))
