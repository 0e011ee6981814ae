"""Read a Core ML model (path, MLModel or spec) into its spec and weights directory."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..reference.errors import ModelLoadError
from . import files


@dataclass
class LoadedModel:
    """A model's spec, where its weights live, and a name for messages."""

    spec: object  # coremltools.proto.Model_pb2.Model
    weights_dir: str | None
    name: str
    path: Path | None = None
    #: files opened from the top model to this one (linked models), for cycle detection
    chain: tuple[Path, ...] = ()

    def files(self) -> tuple[Path, ...]:
        """The model files from the top model to this one, resolved."""
        if self.chain:
            return self.chain
        return (Path(self.path).resolve(),) if self.path is not None else ()


def load_model(model) -> LoadedModel:
    """Accept a path (``.mlpackage``/``.mlmodel``), an ``MLModel`` or a ``Model_pb2.Model``."""
    import coremltools as ct
    from coremltools.proto import Model_pb2

    if isinstance(model, LoadedModel):
        return model
    if isinstance(model, Model_pb2.Model):
        return LoadedModel(model, None, "<spec>")
    if isinstance(model, ct.models.MLModel):
        path = getattr(model, "package_path", None)
        name = str(path) if path else "<MLModel>"
        if path and Path(path).is_dir():
            check_confined(Path(path))
        return LoadedModel(model.get_spec(), model.weights_dir, name, Path(path) if path else None)
    if isinstance(model, (str, os.PathLike)):
        return load_path(Path(model))
    raise ModelLoadError(
        f"expected a path to .mlpackage/.mlmodel, an MLModel or a spec, got {type(model).__name__}"
    )


def load_path(path: Path) -> LoadedModel:
    """Load a model file, with errors that name the file and what is wrong with it."""
    from coremltools.proto import Model_pb2

    if not path.exists():
        raise ModelLoadError(f"{path}: no such file or directory")
    if path.suffix == ".mlmodelc":
        raise ModelLoadError(
            f"{path}: a compiled .mlmodelc cannot be read off macOS; use the .mlmodel or "
            ".mlpackage it was compiled from"
        )
    if path.is_dir():
        manifest_path = path / "Manifest.json"
        if not manifest_path.exists():
            raise ModelLoadError(f"{path}: not an .mlpackage (no Manifest.json)")
        check_regular(manifest_path)
        manifest = check_confined(path)
        spec_path = _package_spec_path(path, manifest)
        weights_dir = spec_path.parent / "weights"
    else:
        spec_path = path
        weights_dir = None
    check_regular(spec_path)
    spec = Model_pb2.Model()
    try:
        data = spec_path.read_bytes()
        spec.ParseFromString(data)
    except Exception as exc:
        raise ModelLoadError(f"{path}: not a valid Core ML model ({exc.__class__.__name__}: "
                             f"{exc})") from None
    if spec.specificationVersion <= 0 or spec.WhichOneof("Type") is None:
        raise ModelLoadError(f"{path}: not a valid Core ML model (no model type or version; "
                             "the file may be truncated)")
    return LoadedModel(spec, str(weights_dir) if weights_dir else None, str(path), path)


def check_regular(path: Path) -> None:
    """Refuse a FIFO, device or directory where a file is expected (reading a FIFO blocks)."""
    try:
        files.check_regular(path)
    except files.ModelFileError as exc:
        raise ModelLoadError(str(exc)) from None


def check_confined(package: Path) -> dict:
    """Every path inside an ``.mlpackage`` stays inside it: each Manifest.json entry and each
    symbolic link must resolve to a place within the package's own directory. Returns the
    ``Manifest.json`` it read, so a load reads it once."""
    root = package.resolve()
    for directory, dirnames, filenames in os.walk(package):
        for name in dirnames + filenames:
            entry = Path(directory) / name
            if entry.is_symlink() and not _within(entry.resolve(), root):
                raise ModelLoadError(f"{package}: {entry.relative_to(package)} is a symbolic "
                                     f"link to {entry.resolve()}, outside the package; every "
                                     "file of an .mlpackage must stay inside it")
    manifest = _manifest(package)
    for entry_id, entry in manifest["itemInfoEntries"].items():
        relative = str(entry.get("path", "")) if isinstance(entry, dict) else ""
        target = (package / "Data" / relative).resolve()
        if not _within(target, root):
            raise ModelLoadError(f"{package}: Manifest.json entry {entry_id!r} has path "
                                 f"{relative!r}, which resolves to {target}, outside the "
                                 "package; every file of an .mlpackage must stay inside it")
    return manifest


def _within(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _manifest(package: Path) -> dict:
    """Manifest.json, whose ``itemInfoEntries`` is an object; ModelLoadError when unreadable."""
    try:
        manifest = files.read_manifest(package)
        if not isinstance(manifest["itemInfoEntries"], dict):
            raise TypeError("itemInfoEntries is not an object")
    except Exception as exc:
        raise ModelLoadError(f"{package}: unreadable Manifest.json ({exc})") from None
    return manifest


def _package_spec_path(package: Path, manifest: dict) -> Path:
    try:
        return files.package_spec_path(package, manifest)
    except files.ModelFileError as exc:
        raise ModelLoadError(str(exc)) from None
