"""Linked models: a ``linkedModel`` spec names another model file instead of embedding it.

The spec holds ``linkedModelFile.linkedModelFileName`` (e.g. ``FeatureExtractor.mlmodelc``)
and ``linkedModelSearchPath``: directories separated by ``:``, searched in order (an empty
search path means ``.``). Each entry is one of

- ``.`` or a relative path: relative to the directory holding the model that contains the link
  (the pipeline's ``.mlmodel`` file, or the directory holding its ``.mlpackage``);
- an absolute path;
- ``$BUNDLE_MAIN`` (optionally followed by ``/sub/dir``): the app's main bundle, mapped to the
  directory configured under the key ``main``;
- ``$BUNDLE_IDENTIFIER(com.example.app)`` (optionally followed by ``/sub/dir``): the bundle with
  that identifier, mapped to the directory configured under the key ``com.example.app``.

Every entry must stay inside the *roots*: the linking model's directory and the configured
bundle directories. An entry (or file name) that leads elsewhere is an error, so a test never
reads a model from an unexpected place.

Off macOS a compiled ``Name.mlmodelc`` cannot be run: in each directory the executor looks for
``Name.mlmodelc`` and then for its sources ``Name.mlmodel`` and ``Name.mlpackage``; the first
source found runs, with a note saying which file replaced the compiled one. A file name that
already names an ``.mlmodel``/``.mlpackage`` is used as is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..coreml.features import describe
from ..coreml.loading import LoadedModel, load_path
from . import boundary
from .engine import Engine
from .errors import ExecutionError, ModelLoadError

COMPILED_SUFFIX = ".mlmodelc"
SOURCE_SUFFIXES = (".mlmodel", ".mlpackage")
MAIN_BUNDLE_KEY = "main"

_BUNDLE_MAIN = re.compile(r"^\$BUNDLE_MAIN(?P<rest>/.*)?$")
_BUNDLE_ID = re.compile(r"^\$BUNDLE_IDENTIFIER\((?P<id>[^)]*)\)(?P<rest>/.*)?$")


@dataclass(frozen=True)
class SearchDir:
    """One search path entry: where it points, or why it cannot be searched."""

    entry: str
    directory: Path | None
    problem: str = ""

    def describe(self) -> str:
        if self.directory is None:
            return f"{self.entry or '.'} ({self.problem})"
        return str(self.directory)


@dataclass(frozen=True)
class Resolution:
    """The model file a link resolves to, the files tried before it, and a note if it is a
    source file standing in for the compiled model the spec names."""

    path: Path
    requested: str
    tried: tuple[str, ...]
    note: str = ""


def link_of(spec) -> tuple[str, str]:
    """``(file name, search path)`` of a ``linkedModel`` spec (search path defaults to ``.``)."""
    link = spec.linkedModel.linkedModelFile
    return (link.linkedModelFileName.defaultValue,
            link.linkedModelSearchPath.defaultValue or ".")


def base_directory(loaded: LoadedModel) -> Path | None:
    """The directory relative search paths start from: where the linking model's file is."""
    if loaded.path is None:
        return None
    return Path(loaded.path).absolute().parent


def search_directories(search_path: str, base: Path | None,
                       bundle_dirs: dict[str, str] | None, where: str) -> list[SearchDir]:
    """The directories ``search_path`` names, in order.

    Raises ModelLoadError naming ``where`` when an entry leads outside the roots (``base`` and
    every bundle directory). Entries that cannot be searched (an unconfigured bundle, a
    relative path of a model that has no file) are kept with the reason.
    """
    bundles = {key: Path(value).expanduser().absolute()
               for key, value in (bundle_dirs or {}).items()}
    roots = ([base] if base is not None else []) + list(bundles.values())
    result = []
    for entry in search_path.split(":"):
        entry = entry.strip()
        directory, problem = _entry_directory(entry, base, bundles)
        if directory is not None and not _inside(directory, roots):
            raise ModelLoadError(
                f"{where}: search path entry {entry!r} resolves to {directory}, which leaves the "
                f"configured roots ({_roots_text(base, bundles)})")
        result.append(SearchDir(entry, directory, problem))
    return result


def resolve(loaded: LoadedModel, bundle_dirs: dict[str, str] | None) -> Resolution:
    """The model file the ``linkedModel`` spec of ``loaded`` points to.

    Errors (ModelLoadError) name ``loaded.name`` (which names the stage), the file name and
    every path tried.
    """
    where = loaded.name
    file_name, search_path = link_of(loaded.spec)
    if not file_name:
        raise ModelLoadError(f"{where}: the linked model names no file (linkedModelFileName "
                             "is empty)")
    base = base_directory(loaded)
    directories = search_directories(search_path, base, bundle_dirs, where)
    bundles = [Path(v).expanduser().absolute() for v in (bundle_dirs or {}).values()]
    roots = ([base] if base is not None else []) + bundles
    tried: list[str] = []
    compiled_seen: list[Path] = []
    for search in directories:
        if search.directory is None:
            tried.append(search.describe())
            continue
        for candidate in _candidates(search.directory, file_name):
            if not _inside(candidate, roots):
                raise ModelLoadError(f"{where}: linked file name {file_name!r} resolves to "
                                     f"{candidate}, which leaves the configured roots")
            tried.append(str(candidate))
            if not candidate.exists():
                continue
            if candidate.suffix == COMPILED_SUFFIX:
                compiled_seen.append(candidate)
                continue
            return Resolution(candidate, file_name, tuple(tried),
                              _note(where, file_name, search, candidate))
    detail = "; ".join(tried) or "(no search path entries)"
    compiled = ""
    if compiled_seen:
        compiled = (f" Found only compiled {', '.join(str(p) for p in compiled_seen)}, which "
                    "cannot run off macOS; put the .mlmodel or .mlpackage it was compiled from "
                    "beside it.")
    raise ModelLoadError(f"{where}: linked model {file_name!r} (search path "
                         f"{search_path!r}) not found; tried: {detail}.{compiled}")


class LinkedEngine(Engine):
    """Runs the model a ``linkedModel`` spec points to, through that model's own engine.

    ``notes`` says which file ran (and that it replaced a compiled ``.mlmodelc``);
    ``linked_path`` is that file; ``kind`` its model type.
    """

    def __init__(self, loaded: LoadedModel, engine_for, *, fp16_mode: str, nn_precision: str,
                 bundle_dirs: dict[str, str] | None):
        """``engine_for`` builds the linked model's engine (``engines.engine_for``)."""
        self.name = loaded.name
        self.resolution = resolve(loaded, bundle_dirs)
        self.linked_path = self.resolution.path
        chain = _extend_chain(loaded, self.resolution.path)
        target = load_path(self.resolution.path)
        target = LoadedModel(target.spec, target.weights_dir,
                             f"{loaded.name} -> {self.resolution.path.name}", target.path, chain)
        self.kind = target.spec.WhichOneof("Type")
        _check_interface(loaded, target)
        self.engine = engine_for(target, fp16_mode, None, nn_precision, bundle_dirs=bundle_dirs)
        self.precision = self.engine.precision
        self.mode_label = f"linked {self.resolution.path.name}: {self.engine.mode_label}"
        self.notes = ([self.resolution.note] if self.resolution.note else []) + list(
            self.engine.notes)
        self._link_inputs = {f.name: f for f in describe(loaded.spec.description.input)}
        self._link_outputs = describe(loaded.spec.description.output)
        self._inputs = [f for f in describe(target.spec.description.input)
                        if f.name in self._link_inputs]
        self._outputs = {f.name: f for f in describe(target.spec.description.output)}
        pairs = [(self._link_inputs[f.name], f, "input") for f in self._inputs]
        pairs += [(self._outputs[f.name], f, "output") for f in self._link_outputs]
        for source, dest, role in pairs:
            if not boundary.convertible(source, dest):
                raise ModelLoadError(f"{self.name}: {role} {source.name!r} is "
                                     f"{boundary.type_text(source)} in one of the link and "
                                     f"the linked file and {boundary.type_text(dest)} in the "
                                     "other")
            difference = boundary.mismatch(source, dest)
            if difference:
                self.notes.append(f"{self.name}: {role} {source.name!r} differs between the link "
                                  f"and {self.resolution.path.name} ({difference}); values are "
                                  "converted")

    @property
    def stages(self):
        """The linked model's own stages when it is a pipeline, else ``[]``."""
        return list(self.engine.stages)

    @property
    def stage_outputs(self) -> dict:
        return dict(self.engine.stage_outputs)

    def watch_hazards(self, screen: bool = False):
        """Start the linked model's hazard watch (None when its engine has none)."""
        return self.engine.watch_hazards(screen)

    def run(self, feeds: dict, state=None) -> dict:
        """Feed the link's inputs to the linked model; return the outputs the link declares."""
        inner = {}
        for feature in self._inputs:
            if feature.name in feeds:
                where = f"{self.name}: input {feature.name!r}"
                inner[feature.name] = boundary.convert(
                    feeds[feature.name], self._link_inputs[feature.name], feature, where)
        raw = self.engine.run(inner, state)
        out = {}
        for feature in self._link_outputs:
            where = f"{self.name}: output {feature.name!r}"
            if feature.name not in raw:
                raise ExecutionError(f"{where}: the linked model produced no value")
            produced = self._outputs[feature.name]
            value = boundary.materialise(raw[feature.name], produced, where)
            out[feature.name] = boundary.convert(value, produced, feature, where)
        return out


def _extend_chain(loaded: LoadedModel, target: Path) -> tuple[Path, ...]:
    """The linking chain with ``target`` appended; ModelLoadError naming the cycle (A → B → A)
    when ``target`` is already on it."""
    chain = loaded.files()
    target = Path(target).resolve()
    if target in chain:
        cycle = chain[chain.index(target):] + (target,)
        raise ModelLoadError(f"{loaded.name}: linked models form a cycle: "
                             f"{' → '.join(p.name for p in cycle)} ({target})")
    return chain + (target,)


def _entry_directory(entry: str, base: Path | None,
                     bundles: dict[str, Path]) -> tuple[Path | None, str]:
    if entry.startswith("$"):
        match = _BUNDLE_MAIN.match(entry)
        key = MAIN_BUNDLE_KEY if match else None
        if match is None:
            match = _BUNDLE_ID.match(entry)
            key = match.group("id") if match else None
        if match is None:
            return None, ("unknown variable; expected $BUNDLE_MAIN or "
                          "$BUNDLE_IDENTIFIER(identifier)")
        if key not in bundles:
            return None, (f"no directory configured for bundle {key!r}; set "
                          f"coreml_bundle_dirs {key}=<dir>")
        rest = (match.group("rest") or "").lstrip("/")
        return _normalise(bundles[key] / rest), ""
    if entry in ("", "."):
        entry = "."
    path = Path(entry).expanduser()
    if path.is_absolute():
        return _normalise(path), ""
    if base is None:
        return None, "relative to the linking model's file, but the model has no file location"
    return _normalise(base / path), ""


def _candidates(directory: Path, file_name: str) -> list[Path]:
    named = _normalise(directory / file_name)
    if named.suffix != COMPILED_SUFFIX:
        return [named]
    stem = named.with_suffix("")
    return [named] + [stem.with_name(stem.name + suffix) for suffix in SOURCE_SUFFIXES]


def _note(where: str, file_name: str, search: SearchDir, found: Path) -> str:
    via = f" (search path entry {search.entry!r})" if search.entry not in ("", ".") else ""
    if Path(file_name).suffix == COMPILED_SUFFIX:
        return (f"{where}: linked {file_name} is compiled and cannot run off macOS; ran its "
                f"source {found}{via} instead")
    return f"{where}: linked {file_name} resolved to {found}{via}"


def _normalise(path: Path) -> Path:
    """An absolute path with ``..`` and symbolic links resolved (the file need not exist)."""
    return Path(path).expanduser().absolute().resolve(strict=False)


def _inside(path: Path, roots: list[Path]) -> bool:
    path = _normalise(path)
    for root in roots:
        root = _normalise(root)
        if path == root or root in path.parents:
            return True
    return False


def _roots_text(base: Path | None, bundles: dict[str, Path]) -> str:
    parts = [f"model directory {base}"] if base is not None else []
    parts += [f"bundle {key}={value}" for key, value in bundles.items()]
    return ", ".join(parts) or "none"


def _check_interface(link: LoadedModel, target: LoadedModel) -> None:
    """The linked file must produce every output the link declares and need no input the link
    does not declare."""
    declared_in = {fd.name for fd in link.spec.description.input}
    declared_out = {fd.name for fd in link.spec.description.output}
    description = target.spec.description
    produced = {fd.name for fd in description.output}
    needed = {fd.name for fd in description.input if not fd.type.isOptional}
    missing_out = sorted(declared_out - produced)
    missing_in = sorted(needed - declared_in)
    if missing_out:
        raise ModelLoadError(f"{link.name}: linked file {target.path} has no output(s) "
                             f"{', '.join(missing_out)} that the link declares (it has "
                             f"{', '.join(sorted(produced)) or 'none'})")
    if missing_in:
        raise ModelLoadError(f"{link.name}: linked file {target.path} needs input(s) "
                             f"{', '.join(missing_in)} that the link does not declare (the link "
                             f"declares {', '.join(sorted(declared_in)) or 'none'})")
