"""Op implementations keyed by MIL op type and opset version.

An implementation is ``fn(ins, node) -> Tensor | tuple``: ``ins`` maps the op's input names to
torch tensors (tuples of tensors for variadic inputs, Python strings/bools for string and bool
attributes); ``node`` is the compiled op (name, type, output dtypes, nested blocks).
Registering without ``versions`` covers every opset version the op has; a later registration
for specific versions (``versions=("iOS17",)``) takes precedence for those.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

#: Opset versions of ML programs, named as coremltools' op-definition packages are.
OPSETS = ("iOS15", "iOS16", "iOS17", "iOS18")
ANY = "*"

OpImpl = Callable[..., object]
_IMPLS: dict[str, dict[str, OpImpl]] = {}


def register(*op_types: str, versions: Iterable[str] | None = None):
    """Decorator: register ``fn`` for ``op_types`` at ``versions`` (all when omitted)."""
    keys = tuple(versions) if versions is not None else (ANY,)
    unknown = set(keys) - set(OPSETS) - {ANY}
    if unknown:
        raise ValueError(f"unknown opset version(s) {sorted(unknown)}; expected {OPSETS}")

    def wrap(fn: OpImpl) -> OpImpl:
        for op_type in op_types:
            table = _IMPLS.setdefault(op_type, {})
            for key in keys:
                table[key] = fn
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


def opset_of(op_class: type) -> str:
    """Opset version in which ``op_class``'s definition appeared (its defs package name)."""
    parts = op_class.__module__.split(".")
    for part in reversed(parts):
        if part in OPSETS:
            return part
    return OPSETS[0]
