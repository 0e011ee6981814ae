"""On-disk cache of converted models and variants.

Key: SHA-256 over the source model's weights and graph, the conversion arguments, the variant
and the coremltools / torch / tensorflow versions. Entries are ``<key>/model.mlpackage`` plus
``<key>/meta.json`` (and ``<key>/model.mlpackage.scopes.json``: which source module each op came
from, kept from the in-memory program before it is lost in saving, ``localize.scopes``); a
per-key file lock makes concurrent builders (pytest-xdist workers) build once, and an entry
appears atomically (built in a temporary directory, then renamed).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

MODES = ("off", "read", "write", "on")


class ConversionCache:
    """``get_or_build(key_parts, build)``: a cached MLModel, or ``build()``'s, stored."""

    def __init__(self, directory: str | Path | None, mode: str = "on"):
        if mode not in MODES:
            raise ValueError(f"unknown cache mode {mode!r}; expected one of {', '.join(MODES)}")
        self.directory = Path(directory) if directory else None
        self.mode = mode if directory else "off"
        self.hits = 0
        self.misses = 0

    def get_or_build(self, key_parts: list, build: Callable[[], tuple[Any, list[str]]]):
        """(MLModel, notes, hit) for ``key_parts``; ``build`` returns (MLModel, notes)."""
        if self.mode == "off":
            model, notes = build()
            return model, notes, False
        from filelock import FileLock

        key = cache_key(key_parts)
        self.directory.mkdir(parents=True, exist_ok=True)
        entry = self.directory / key
        with FileLock(str(self.directory / f"{key}.lock")):
            if self.mode in ("read", "on") and (entry / "meta.json").exists():
                self.hits += 1
                return _load(entry), json.loads((entry / "meta.json").read_text())["notes"], True
            self.misses += 1
            model, notes = build()
            if self.mode in ("write", "on"):
                _store(entry, model, notes)
        return model, notes, False


def _load(entry: Path):
    import coremltools as ct

    return ct.models.MLModel(str(entry / "model.mlpackage"), skip_model_load=True)


def _store(entry: Path, model, notes: list[str]) -> None:
    from ..localize.scopes import write_sidecar

    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=entry.parent))
    try:
        model.save(str(staging / "model.mlpackage"))
        write_sidecar(model, staging / "model.mlpackage")  # the in-memory scopes, else lost
        (staging / "meta.json").write_text(json.dumps({"notes": notes}))
        if entry.exists():
            shutil.rmtree(entry)
        os.rename(staging, entry)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def cache_key(parts: list) -> str:
    """Hex digest of the key parts plus the versions that change conversions."""
    digest = hashlib.sha256()
    for package in ("coremltools", "torch", "tensorflow", "tf-keras"):
        try:
            digest.update(f"{package}={metadata.version(package)};".encode())
        except metadata.PackageNotFoundError:
            continue
    for part in parts:
        digest.update(part if isinstance(part, bytes) else canonical(part).encode())
        digest.update(b"\0")
    return digest.hexdigest()[:32]


def canonical(value: Any) -> str:
    """A stable text form of conversion arguments (ct types, enums, arrays, nested containers)."""
    import numpy as np

    if isinstance(value, dict):
        items = sorted(value.items(), key=lambda kv: str(kv[0]))
        return "{" + ",".join(f"{k}:{canonical(v)}" for k, v in items) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(canonical(v) for v in value) + "]"
    if isinstance(value, np.ndarray):
        return f"array{value.shape}{value.dtype}:{hashlib.sha256(value.tobytes()).hexdigest()}"
    if callable(value) and hasattr(value, "__qualname__"):
        return f"{getattr(value, '__module__', '')}.{value.__qualname__}"
    if hasattr(value, "__dict__") and not isinstance(value, type):
        return f"{type(value).__name__}{canonical(vars(value))}"
    return repr(value)


def fingerprint_torch(model) -> list:
    """Key parts of a torch source: weights, buffers, architecture and every forward's code."""
    import torch

    parts: list = [type(model).__qualname__]
    if isinstance(model, torch.export.ExportedProgram):
        parts.append(str(model.graph))
        state = model.state_dict
    else:
        parts.append(repr(model))
        state = model.state_dict()
        classes = {type(m) for m in model.modules()} if isinstance(model, torch.nn.Module) \
            else {type(model)}
        for cls in sorted(classes, key=lambda c: c.__qualname__):
            parts.append(_forward_code(cls, model))
    for name, tensor in sorted(state.items()):
        data = tensor.detach().cpu().contiguous()
        parts.append(f"{name}:{tuple(data.shape)}:{data.dtype}")
        parts.append(data.reshape(-1).view(torch.uint8).numpy().tobytes() if data.numel() else b"")
    return parts


def graph_text(script_module) -> str:
    """A TorchScript module's inlined graph — the ops and the constants they use — without
    source-location comments and without the ``___torch_mangle_N`` prefixes TorchScript gives
    a class traced more than once in a process."""
    import re

    text = re.sub(r"\s+#[^\n]*", "", str(script_module.inlined_graph))
    return re.sub(r"___torch_mangle_\d+\.", "", text)


def _forward_code(cls, model) -> str:
    """Source of the ``forward`` a module class uses (TorchScript code for scripted modules)."""
    code = method_source(cls, "forward")
    return f"{cls.__qualname__}:{code if code is not None else getattr(model, 'code', '')}"


def method_source(cls, name: str) -> str | None:
    """Python source of the method ``name`` that ``cls`` uses (the first class of its MRO that
    defines it); None when that definition has no readable source."""
    import inspect

    for klass in cls.__mro__:
        if name in vars(klass):
            try:
                return inspect.getsource(vars(klass)[name])
            except (OSError, TypeError):
                return None
    return None
