"""The package's module-level import graph, read from the source (no import runs).

An edge ``a -> b`` means module ``a`` imports ``b``, at load time or inside a function (a lazy
import still ties the two modules together); imports under ``if TYPE_CHECKING:`` are not
edges. ``from pkg import name``
is an edge to ``pkg.name`` when that is a module, else to ``pkg``.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = "pytest_coremlcheck"


def modules(root: Path) -> dict[str, Path]:
    """Module name -> file, for every .py file of the package under ``root``."""
    found = {}
    for path in sorted((root / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def import_graph(root: Path) -> dict[str, set[str]]:
    """Module -> the package modules it imports at load time."""
    mods = modules(root)
    return {name: _edges(name, path, mods) for name, path in mods.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def _edges(name: str, path: Path, mods: dict[str, Path]) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    edges: set[str] = set()
    for node in _runtime_nodes(tree):
        if isinstance(node, ast.Import):
            edges.update(a.name for a in node.names if a.name in mods)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, package)
            if base is None:
                continue
            for alias in node.names:
                target = f"{base}.{alias.name}"
                if target in mods:
                    edges.add(target)
                elif base in mods:
                    edges.add(base)
    edges.discard(name)
    return edges


def _runtime_nodes(node: ast.AST):
    """Every node of ``node``'s tree except what ``if TYPE_CHECKING:`` guards."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child.test):
            for branch in child.orelse:
                yield branch
                yield from _runtime_nodes(branch)
            continue
        yield child
        yield from _runtime_nodes(child)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _absolute(node: ast.ImportFrom, package: str) -> str | None:
    """The absolute module an ``ImportFrom`` names; None outside the package."""
    if node.level == 0:
        module = node.module or ""
        return module if module == PACKAGE or module.startswith(PACKAGE + ".") else None
    parts = package.split(".")
    if node.level > 1:
        parts = parts[: len(parts) - (node.level - 1)]
    return ".".join(parts + ([node.module] if node.module else []))


def first_import_errors(names: list[str], preload: tuple[str, ...] = ()) -> dict[str, str]:
    """Module -> the error its import raised, for each of ``names`` imported first: in a
    forked child of this interpreter (which must not have loaded the package), after loading
    only the third-party ``preload`` libraries here once. A module can import fine after
    its package but fail first, when a package ``__init__`` it loads imports it back."""
    import importlib
    import os

    for library in preload:
        importlib.import_module(library)
    failed = {}
    for name in names:
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: import, report the error through the pipe
            os.close(read)
            try:
                importlib.import_module(name)
            except BaseException as exc:
                os.write(write, f"{type(exc).__name__}: {exc}".encode())
                os._exit(1)
            os._exit(0)
        os.close(write)
        with os.fdopen(read, "rb") as pipe:
            message = pipe.read().decode()
        if os.waitpid(pid, 0)[1]:
            failed[name] = message or "the import failed"
    return failed
