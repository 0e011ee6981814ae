"""Which MIL ops, op inputs and input dtypes each opset accepts.

Read at run time from coremltools' op registry (``SSAOpRegistry.core_ops``: op → {opset
version → op class}), so a coremltools upgrade updates the linter. If the registry cannot be
read, the tables of :mod:`.catalog` stand in (op and input availability only, no dtypes).
Versions are spec versions: 4 = iOS13 … 9 = iOS18.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from . import catalog


@dataclass(frozen=True)
class InputInfo:
    """One input of one op version: must it be compile-time constant, may it be omitted, and
    which dtypes (coremltools names: ``fp16``, ``int8``, …; None = unconstrained) it takes.
    Inputs sharing a ``domain`` id must have the same dtype."""

    const: bool = False
    optional: bool = False
    dtypes: frozenset[str] | None = None
    domain: str | None = None


@dataclass
class OpInfo:
    """An op's versions: spec version → {input name → InputInfo}."""

    name: str
    versions: dict[int, dict[str, InputInfo]] = field(default_factory=dict)
    #: False when only some inputs are listed (catalog facts): other names are not errors.
    inputs_known: bool = True

    @property
    def first_spec(self) -> int:
        return min(self.versions)

    def version_at(self, spec: int) -> int | None:
        """The op version in effect at ``spec`` (newest version ≤ spec), or None."""
        eligible = [v for v in self.versions if v <= spec]
        return max(eligible) if eligible else None

    def inputs_at(self, spec: int) -> dict[str, InputInfo] | None:
        version = self.version_at(spec)
        return None if version is None else self.versions[version]

    def input_first_spec(self, name: str) -> int | None:
        specs = [v for v, inputs in self.versions.items() if name in inputs]
        return min(specs) if specs else None


class OpsetTable:
    """Op availability per spec version, and where the facts came from (``source``)."""

    def __init__(self, ops: dict[str, OpInfo], source: str, newest_spec: int,
                 knows_dtypes: bool):
        self.ops = ops
        self.source = source
        self.newest_spec = newest_spec
        self.knows_dtypes = knows_dtypes

    def get(self, op_type: str) -> OpInfo | None:
        return self.ops.get(op_type)

    def first_spec(self, op_type: str) -> int | None:
        """Spec version where ``op_type`` first exists (ignoring the ML-program minimum)."""
        info = self.ops.get(op_type)
        return info.first_spec if info else None


@functools.lru_cache(maxsize=1)
def opset_table() -> OpsetTable:
    """The table from the installed coremltools' registry, else the catalog's (cached)."""
    try:
        return _from_registry()
    except Exception as exc:  # coremltools internals moved: fall back, but say so
        table = catalog_table()
        table.source = f"catalog (coremltools op registry unavailable: {exc.__class__.__name__})"
        return table


def catalog_table() -> OpsetTable:
    """The op table built from :mod:`.catalog` alone: op first versions and added inputs."""
    ops: dict[str, OpInfo] = {}
    for name in catalog.BASELINE_OPS | catalog.NN_ONLY_OPS:
        ops[name] = OpInfo(name, {4: {}}, inputs_known=False)
    for spec, names in catalog.NEW_OPS.items():
        for name in names:
            ops[name] = OpInfo(name, {spec: {}}, inputs_known=False)
    for (name, _key), spec in catalog.INPUTS_ADDED.items():
        info = ops[name]
        if spec not in info.versions:
            info.versions[spec] = {}
    for (name, key), spec in catalog.INPUTS_ADDED.items():
        for version, inputs in ops[name].versions.items():
            if version >= spec:
                inputs[key] = InputInfo(optional=True)
    return OpsetTable(ops, "catalog", 9, knows_dtypes=False)


def _from_registry() -> OpsetTable:
    from coremltools.converters.mil.mil import types
    from coremltools.converters.mil.mil.input_type import TensorInputType
    from coremltools.converters.mil.mil.ops.registry import SSAOpRegistry

    ops: dict[str, OpInfo] = {}
    newest = 0
    for name, by_version in SSAOpRegistry.core_ops.items():
        if name.startswith("_"):
            continue
        info = OpInfo(name)
        for version, op_class in by_version.items():
            spec = int(version)
            newest = max(newest, spec)
            domains = getattr(op_class, "type_domains", None) or {}
            inputs = {}
            for key, input_type in op_class.input_spec.input_types.items():
                if key.startswith("_"):  # builder-only: cond/while_loop blocks (_true_fn,
                    continue  # _body, …) are serialized as the op's blocks, not inputs
                dtypes = domain = None
                if isinstance(input_type, TensorInputType):
                    domain = getattr(input_type, "type_domain_id", None)
                    allowed = domains.get(domain) if domain else input_type.type_domain
                    if allowed:
                        dtypes = frozenset(types.builtin_to_string(t) for t in allowed)
                inputs[key] = InputInfo(bool(input_type.const), bool(input_type.optional),
                                        dtypes, domain)
            info.versions[spec] = inputs
        ops[name] = info
    for name, spec in catalog.SERIALIZER_OPS.items():
        ops.setdefault(name, OpInfo(name, {spec: {}}, inputs_known=False))
    import coremltools

    return OpsetTable(ops, f"coremltools {coremltools.__version__} op registry", newest,
                      knows_dtypes=True)
