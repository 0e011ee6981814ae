"""Reading a Core ML file: the spec of an ``.mlpackage`` (through its ``Manifest.json``) or of
an ``.mlmodel``. Shared by the executor's loader (``loading``, which also refuses packages whose
files leave them) and the linter (``lint.source``, which reads broken files to report them);
each turns ``ModelFileError`` into its own error type."""

from __future__ import annotations

import json
import stat
from pathlib import Path


class ModelFileError(ValueError):
    """A model file that cannot be read: ``where`` (the path as given) and ``reason``; the
    message is ``where: reason`` unless given whole."""

    def __init__(self, where: str, reason: str, message: str | None = None):
        super().__init__(message or f"{where}: {reason}")
        self.where = where
        self.reason = reason


def read_manifest(package: Path) -> dict:
    """A package's ``Manifest.json``, parsed: the one place it is read (callers name what is
    wrong with it; OSError, UnicodeDecodeError and JSONDecodeError pass through)."""
    return json.loads((package / "Manifest.json").read_text(encoding="utf-8"))


def package_spec_path(package: Path, manifest: dict | None = None) -> Path:
    """The spec file a package's ``Manifest.json`` names (``Data/<path>`` of the root model
    entry), which must lie inside the package's ``Data`` directory and exist. ``manifest``:
    the manifest already read (``read_manifest``), else it is read here."""
    manifest_path = package / "Manifest.json"
    if not manifest_path.is_file():
        raise ModelFileError(str(package), "a directory without Manifest.json is not an "
                                           ".mlpackage")
    try:
        if manifest is None:
            manifest = read_manifest(package)
        root = manifest["rootModelIdentifier"]
        relative = manifest["itemInfoEntries"][root]["path"]
    except Exception as exc:  # any malformed manifest: named, never a traceback
        raise ModelFileError(str(package), f"unreadable Manifest.json "
                                           f"({exc.__class__.__name__}: {exc})") from None
    if not isinstance(relative, str):
        raise ModelFileError(str(package), "Manifest.json names no model path")
    data_dir = (package / "Data").resolve()
    spec_path = (data_dir / relative).resolve()
    if data_dir not in spec_path.parents:
        raise ModelFileError(str(package), f"Manifest.json points outside the package "
                                           f"({relative!r})")
    if not spec_path.exists():
        raise ModelFileError(str(package), f"Manifest.json names Data/{relative}, which is "
                                           "missing")
    check_regular(spec_path)
    return spec_path


def check_regular(path: Path) -> None:
    """Refuse a FIFO, device or directory where a file is expected (reading a FIFO blocks)."""
    if not stat.S_ISREG(path.stat().st_mode):
        reason = ("not a regular file (a FIFO, device or directory); a model file must be a "
                  "regular file")
        raise ModelFileError(str(path), reason, f"{path} is {reason}")


def parse_spec(data: bytes, where: str):
    """Serialized ``Model`` bytes as a spec that has a model type; ModelFileError otherwise."""
    from coremltools.proto import Model_pb2

    spec = Model_pb2.Model()
    try:
        spec.ParseFromString(data)
    except Exception as exc:  # protobuf's DecodeError and friends
        detail = str(exc) or exc.__class__.__name__
        raise ModelFileError(where, f"the protobuf does not parse ({detail}); the file may be "
                                    "truncated or not a Core ML model") from None
    return spec
