"""Read a model to lint: an ``.mlpackage`` directory, an ``.mlmodel`` file, an ``MLModel`` or a
``Model_pb2.Model`` spec. Only the protobuf spec is read here; weight files are opened later,
and only by rules that need them."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..coreml import files
from .errors import InvalidModelError

#: File name of the weights directory inside the directory holding the spec
#: (``@model_path/weights/weight.bin``).
WEIGHTS_DIR_NAME = "weights"


@dataclass
class ModelFile:
    """The spec and where it came from.

    ``kind`` is ``"mlpackage"``, ``"mlmodel"``, ``"MLModel"`` or ``"spec"``; ``display`` is the
    path as given (or ``<MLModel>``/``<spec>``) for messages; ``model_dir`` is what
    ``@model_path`` resolves to (the directory of the spec file inside a package).
    """

    spec: object  # coremltools.proto.Model_pb2.Model
    kind: str
    display: str
    path: Path | None = None
    spec_path: Path | None = None
    model_dir: Path | None = None

    @property
    def spec_bytes(self) -> int | None:
        """Size of the serialized spec in bytes, when it was read from a file."""
        try:
            return self.spec_path.stat().st_size if self.spec_path else None
        except OSError:
            return None


def read_model(model) -> ModelFile:
    """Accept a path, an ``MLModel`` or a spec; raise :class:`InvalidModelError` otherwise."""
    from coremltools.proto import Model_pb2

    if isinstance(model, Model_pb2.Model):
        return _checked(ModelFile(model, "spec", "<spec>"))
    if isinstance(model, (str, os.PathLike)):
        return read_path(Path(model))
    get_spec = getattr(model, "get_spec", None)
    if callable(get_spec):  # coremltools.models.MLModel
        package = getattr(model, "package_path", None)
        weights_dir = getattr(model, "weights_dir", None)
        model_dir = Path(weights_dir).parent if weights_dir else None
        display = str(package) if package else "<MLModel>"
        return _checked(ModelFile(get_spec(), "MLModel", display,
                                  Path(package) if package else None, None, model_dir))
    raise InvalidModelError(
        f"<{type(model).__name__}>",
        "expected a path to an .mlpackage or .mlmodel, an MLModel or a Model_pb2.Model spec",
    )


def read_path(path: Path) -> ModelFile:
    """Read the spec of an ``.mlpackage`` (via its ``Manifest.json``) or an ``.mlmodel``."""
    if not path.exists():
        raise InvalidModelError(str(path), "no such file or directory")
    if path.suffix == ".mlmodelc":
        raise InvalidModelError(str(path), "a compiled .mlmodelc holds no spec to lint; lint "
                                           "the .mlmodel or .mlpackage it was compiled from")
    if path.is_dir():
        spec_path = _package_spec_path(path)
        kind = "mlpackage"
    else:
        spec_path = path
        kind = "mlmodel"
    try:
        data = spec_path.read_bytes()
    except OSError as exc:
        raise InvalidModelError(str(path),
                                f"cannot read {spec_path.name}: {exc.strerror}") from None
    spec = parse_spec(data, str(path))
    return _checked(ModelFile(spec, kind, str(path), path, spec_path, spec_path.parent))


def parse_spec(data: bytes, where: str):
    """Parse serialized ``Model`` bytes; a decode failure is an :class:`InvalidModelError`."""
    try:
        return files.parse_spec(data, where)
    except files.ModelFileError as exc:
        raise InvalidModelError(exc.where, exc.reason) from None


def _checked(model_file: ModelFile) -> ModelFile:
    spec = model_file.spec
    try:
        model_type = spec.WhichOneof("Type")
    except Exception:  # pragma: no cover - a message of another type
        model_type = None
    if model_type is None:
        reason = ("empty file or no Core ML data" if spec.specificationVersion == 0
                  else "no model type this linter knows (the file may be truncated, or come "
                       "from a newer Core ML)")
        raise InvalidModelError(model_file.display, reason)
    return model_file


def _package_spec_path(package: Path) -> Path:
    try:
        return files.package_spec_path(package)
    except files.ModelFileError as exc:
        raise InvalidModelError(exc.where, exc.reason) from None
