"""Which source module each converted op came from (converted op → ``features.3.attn``).

What coremltools 9.0 keeps of the source, by conversion path:

- TorchScript (``torch.jit.trace``): every MIL op gets the scopes
  ``TORCHSCRIPT_MODULE_NAME`` (``["features", "0", "act", "input.3"]``) and
  ``TORCHSCRIPT_MODULE_TYPE`` (``["Sequential", "Block", "Hardswish", "hardswish"]``): the module
  path, then the TorchScript value name; the module classes, then the aten op.
- ``torch.export``: ``EXIR_STACK_TRACE`` (the Python stack of the fx node, no module path) and
  ``EXIR_DEBUG_HANDLE`` (``None`` unless ExecuTorch set debug handles). The module path is the fx
  node's ``nn_module_stack``; ``export_scopes`` matches ops to nodes by that stack trace.
- TensorFlow / Keras: no scopes; op and var names carry the TF node name
  (``model_conv1_Conv2D``), from which ``keras_scopes`` reads the layer.

All scopes live only in the in-memory program (``MLModel._mil_program``) that ``ct.convert``
returns: the saved ``.mlpackage`` keeps each op's name and nothing else. So the map is read
before saving and kept in a sidecar JSON, ``<model>.mlpackage.scopes.json`` (``SIDECAR``): the
conversion cache writes one into each entry it stores (``convert/cache.py``), and
``scopes_for`` reads the in-memory program, else the sidecar beside the model's package.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

SIDECAR = ".scopes.json"
_NAME, _TYPE = "TORCHSCRIPT_MODULE_NAME", "TORCHSCRIPT_MODULE_TYPE"


@dataclass(frozen=True)
class OpScope:
    """One converted op and the source module it came from (``module`` "" = the root)."""

    op: str
    op_type: str
    outputs: tuple[str, ...]
    module: str
    module_types: tuple[str, ...] = ()
    #: the source op it was converted from (an aten kind such as ``hardswish``), if known
    source_op: str = ""

    @property
    def module_type(self) -> str:
        """The innermost module's class name ("" when unknown)."""
        return self.module_types[-1] if self.module_types else ""


@dataclass
class ScopeMap:
    """Converted op → source module for one program, in program order."""

    origin: str  # "torchscript", "torch.export", "keras" or "none"
    ops: list[OpScope] = field(default_factory=list)

    def __post_init__(self):
        self._by_op = {s.op: s for s in self.ops}
        self._by_var = {v: s for s in self.ops for v in s.outputs}

    def for_op(self, name: str) -> OpScope | None:
        return self._by_op.get(name)

    def for_var(self, name: str) -> OpScope | None:
        """The scope of the op that produces var ``name`` (None: an input, a const, unknown)."""
        return self._by_var.get(name)

    def module_of(self, op_name: str) -> str | None:
        scope = self._by_op.get(op_name)
        return scope.module if scope else None

    def modules(self) -> list[str]:
        """Every module path that owns an op, in order of first op."""
        return list(dict.fromkeys(s.module for s in self.ops))

    def to_dict(self) -> dict:
        return {"origin": self.origin, "ops": [asdict(s) for s in self.ops]}

    @staticmethod
    def from_dict(data: dict) -> ScopeMap:
        ops = [OpScope(o["op"], o["op_type"], tuple(o["outputs"]), o["module"],
                       tuple(o.get("module_types", ())), o.get("source_op", ""))
               for o in data.get("ops", [])]
        return ScopeMap(data.get("origin", "none"), ops)

    def summary(self) -> str:
        return (f"{len(self.ops)} op(s) in {len(self.modules())} source module(s) "
                f"({self.origin} scopes)")


def read_program(mil_program) -> ScopeMap:
    """The scope map of an in-memory MIL program (every function, nested blocks included).

    Consts are left out: they compute nothing to compare.
    """
    ops: list[OpScope] = []
    origins: set[str] = set()
    for function in mil_program.functions.values():
        _visit(function, ops, origins)
    origin = "torchscript" if "torchscript" in origins else \
        "torch.export" if "torch.export" in origins else "none"
    return ScopeMap(origin, ops)


def _visit(block, ops: list[OpScope], origins: set[str]) -> None:
    for op in block.operations:
        if op.op_type != "const":
            scopes = {getattr(k, "name", str(k)): list(v) for k, v in (op.scopes or {}).items()}
            ops.append(_op_scope(op, scopes, origins))
        for nested in op.blocks:
            _visit(nested, ops, origins)


def _op_scope(op, scopes: dict[str, list], origins: set[str]) -> OpScope:
    outputs = tuple(v.name for v in op.outputs)
    names, types = scopes.get(_NAME), scopes.get(_TYPE)
    if names and types and types != ["placeholder"]:
        origins.add("torchscript")
        return OpScope(op.name, op.op_type, outputs, ".".join(map(str, names[:-1])),
                       tuple(map(str, types[:-1])), str(types[-1]))
    if "EXIR_STACK_TRACE" in scopes:
        origins.add("torch.export")
        trace = scopes["EXIR_STACK_TRACE"][0]
        return OpScope(op.name, op.op_type, outputs, "", (), trace or "")
    return OpScope(op.name, op.op_type, outputs, "")


def export_scopes(scope_map: ScopeMap, exported) -> ScopeMap:
    """Module paths for a ``torch.export`` conversion: each op's stack trace (kept in
    ``source_op`` by ``read_program``) matched to the fx node with that ``stack_trace``.

    A stack trace shared by nodes (``nn.Sequential``'s loop calls every child from one line)
    is resolved by output name (``_node_for``); an op that a node decomposed into several
    takes the node of the next op with its trace.
    """
    nodes: dict[str, list] = {}
    for node in exported.graph.nodes:
        trace = node.meta.get("stack_trace")
        if trace and node.meta.get("nn_module_stack"):
            nodes.setdefault(trace, []).append(node)
    ops: list[OpScope] = []
    later: dict[str, object] = {}  # stack trace -> node of the next matched op (reverse walk)
    for scope in reversed(scope_map.ops):
        node = _node_for(scope, nodes.get(scope.source_op, [])) or later.get(scope.source_op)
        if node is None:
            ops.append(OpScope(scope.op, scope.op_type, scope.outputs, ""))
            continue
        later[scope.source_op] = node
        stack = list(node.meta["nn_module_stack"].values())
        types = tuple(str(cls).rsplit(".", 1)[-1] for _, cls in stack[1:])
        target = str(node.target).split(".")
        ops.append(OpScope(scope.op, scope.op_type, scope.outputs, stack[-1][0], types,
                           target[-2] if len(target) > 1 else target[0]))
    return ScopeMap("torch.export", ops[::-1])


def _node_for(scope: OpScope, candidates: list):
    """The fx node an op came from: the only candidate, else the one whose name starts the
    op's output var name (coremltools names a node's result after the node)."""
    if len(candidates) == 1:
        return candidates[0]
    for node in sorted(candidates, key=lambda n: -len(n.name)):
        if any(out == node.name or out.startswith(node.name + "_") for out in scope.outputs):
            return node
    return None


def keras_scopes(scope_map: ScopeMap, layer_names: list[str]) -> ScopeMap:
    """Module paths for a TensorFlow / Keras conversion from op and output names: an op or
    var named ``<model>_<layer>_<TF op>...`` belongs to ``layer`` (the longest layer name that
    fits). Ops that graph passes fused or renamed (``conv_0``) belong to no layer."""
    ordered = sorted(layer_names, key=len, reverse=True)
    ops = []
    for scope in scope_map.ops:
        names = (*scope.outputs, scope.op)  # a renamed output ("Identity") keeps its op name
        layer = next((name for name in ordered for text in names
                      if f"_{name}_" in f"_{text}"), "")
        ops.append(OpScope(scope.op, scope.op_type, scope.outputs, layer))
    return ScopeMap("keras", ops)


def sidecar_path(package: str | Path) -> Path:
    """Where the scope map of a saved model lives: ``Model.mlpackage.scopes.json``."""
    return Path(f"{Path(package)}{SIDECAR}")


def write_sidecar(model, package: str | Path) -> Path | None:
    """Save ``model``'s scope map beside ``package`` (the path ``model`` was saved to); None
    when ``model`` holds no in-memory program (a loaded file: nothing left to keep)."""
    program = getattr(model, "_mil_program", None)
    if program is None:
        return None
    path = sidecar_path(package)
    path.write_text(json.dumps(read_program(program).to_dict()))
    return path


def scopes_for(model) -> ScopeMap:
    """The scope map of a converted model: from its in-memory program, else from the sidecar
    beside its package; an empty map (origin "none") when neither exists."""
    program = getattr(model, "_mil_program", None)
    if program is not None:
        return read_program(program)
    package = getattr(model, "package_path", None) or (
        model if isinstance(model, (str, Path)) else None)
    if package is not None and sidecar_path(package).exists():
        return ScopeMap.from_dict(json.loads(sidecar_path(package).read_text()))
    return ScopeMap("none")


def annotate_hazards(hazards: list[dict], scope_map: ScopeMap,
                     order: list[str] | None = None) -> list[dict]:
    """Hazards (``reference.mil.hazards`` dicts) in program order, each with ``module`` and
    ``module_type`` of its op and a message naming the module next to the op."""
    position = {s.op: i for i, s in enumerate(scope_map.ops)}
    if order is not None:
        position = {name: i for i, name in enumerate(order)}
    annotated = []
    for hazard in sorted(hazards, key=lambda h: position.get(h.get("op"), len(position))):
        scope = scope_map.for_op(hazard.get("op", ""))
        entry = dict(hazard)
        if scope is not None and scope.module:
            entry["module"], entry["module_type"] = scope.module, scope.module_type
            entry["message"] = entry.get("message", "").replace(
                f"op {hazard['op']!r}", f"op {hazard['op']!r} in {scope.module} "
                f"({scope.module_type})", 1)
        annotated.append(entry)
    return annotated
