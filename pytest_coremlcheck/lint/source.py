"""Read a model to lint: an ``.mlpackage`` directory, an ``.mlmodel`` file, an ``MLModel`` or a
``Model_pb2.Model`` spec. Only the protobuf spec is read here; weight files are opened later,
and only by rules that need them."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

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
    from coremltools.proto import Model_pb2

    spec = Model_pb2.Model()
    try:
        spec.ParseFromString(data)
    except Exception as exc:
        detail = str(exc) or exc.__class__.__name__
        raise InvalidModelError(where, f"the protobuf does not parse ({detail}); the file may "
                                       "be truncated or not a Core ML model") from None
    return spec


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
    manifest_path = package / "Manifest.json"
    if not manifest_path.is_file():
        raise InvalidModelError(str(package), "a directory without Manifest.json is not an "
                                              ".mlpackage")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        root = manifest["rootModelIdentifier"]
        relative = manifest["itemInfoEntries"][root]["path"]
    except Exception as exc:
        raise InvalidModelError(str(package), f"unreadable Manifest.json ({exc.__class__.__name__}"
                                              f": {exc})") from None
    if not isinstance(relative, str):
        raise InvalidModelError(str(package), "Manifest.json names no model path")
    data_dir = (package / "Data").resolve()
    spec_path = (data_dir / relative).resolve()
    if data_dir not in spec_path.parents:
        raise InvalidModelError(str(package), f"Manifest.json points outside the package "
                                              f"({relative!r})")
    if not spec_path.is_file():
        raise InvalidModelError(str(package), f"Manifest.json names Data/{relative}, which is "
                                              "missing")
    return spec_path
