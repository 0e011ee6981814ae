"""Content hashes that tell whether a stored baseline or golden output still describes the
same converted model and the same inputs (sha256, hex)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .files import read_manifest

_CHUNK = 1 << 20


#: metadata that changes with every conversion of the same model
VOLATILE_METADATA = ("com.github.apple.coremltools.conversion_date",)


def model_hash(loaded) -> str:
    """sha256 of a converted model (a ``coreml.loading.LoadedModel``): its spec, serialized
    deterministically without the conversion date, then its weight files (package-relative
    path and bytes, in sorted path order): for an ``.mlpackage`` the files its Manifest.json
    references besides the spec, for a model in memory its weights directory. The manifest
    itself is left out (its item ids are random per save).
    """
    digest = hashlib.sha256()
    digest.update(b"spec\0" + _spec_bytes(loaded.spec))
    path = getattr(loaded, "path", None)
    if path is not None and Path(path).is_dir():
        _hash_files(digest, Path(path), _package_files(Path(path)))
    elif path is None and loaded.weights_dir and Path(loaded.weights_dir).is_dir():
        root = Path(loaded.weights_dir)
        _hash_files(digest, root, sorted(p for p in root.rglob("*") if p.is_file()))
    return digest.hexdigest()


def _spec_bytes(spec) -> bytes:
    user = spec.description.metadata.userDefined
    if not any(key in user for key in VOLATILE_METADATA):
        return spec.SerializeToString(deterministic=True)
    copy = type(spec)()
    copy.CopyFrom(spec)
    for key in VOLATILE_METADATA:
        copy.description.metadata.userDefined.pop(key, None)
    return copy.SerializeToString(deterministic=True)


def _package_files(package: Path) -> list[Path]:
    """Weight (and other) files the manifest references; the root spec is hashed as a spec."""
    manifest = read_manifest(package)
    entries = manifest.get("itemInfoEntries", {})
    root = entries.get(manifest.get("rootModelIdentifier"), {}).get("path")
    files: set[Path] = set()
    for entry in entries.values():
        if entry["path"] == root:
            continue
        item = package / "Data" / entry["path"]
        if item.is_dir():
            files.update(p for p in item.rglob("*") if p.is_file())
        elif item.is_file():
            files.add(item)
    return sorted(files, key=lambda p: p.relative_to(package).as_posix())


def _hash_files(digest, root: Path, files: Iterable[Path]) -> None:
    for file in files:
        digest.update(file.relative_to(root).as_posix().encode() + b"\0")
        _hash_file(digest, file)


def _hash_file(digest, file: Path) -> None:
    digest.update(str(file.stat().st_size).encode() + b"\0")
    with file.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)


def inputs_hash(feeds: Iterable[Mapping[str, Any]]) -> str:
    """sha256 over the samples in order, and in each its inputs in order: name, dtype,
    shape and bytes (C order). PIL images count as their pixel arrays, with their mode."""
    digest = hashlib.sha256()
    for index, feed in enumerate(feeds):
        digest.update(f"sample {index}\0".encode())
        for name, value in feed.items():
            kind = ""
            if hasattr(value, "mode") and hasattr(value, "size"):  # a PIL image
                kind = f"image {value.mode} "
            array = np.ascontiguousarray(np.asarray(value))
            digest.update(f"{name}\0{kind}{array.dtype.str}\0{array.shape}\0".encode())
            digest.update(array.tobytes())
    return digest.hexdigest()
