"""Deployment targets: OS names ↔ Core ML specification versions ↔ MIL opset strings.

A *spec version* is ``Model.specificationVersion``: 1 (iOS 11) … 10 (iOS 26). The table is the
comment block "Specification Versions : OS Availability" of ``Model.proto``; visionOS minimums
before spec 10 are inferred from Core ML API availability (visionOS 1 ships every Core ML 7
feature, visionOS 2 the Core ML 8 ones).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import LintUsageError

#: Newest specification version this linter knows (``MLMODEL_SPECIFICATION_VERSION_NEWEST``).
NEWEST_SPEC = 10
#: Lowest spec version of an ML program (``_LOWEST_ALLOWED_SPECIFICATION_VERSION_FOR_MILPROGRAM``).
MLPROGRAM_MIN_SPEC = 6

# Minimum OS version per spec version 1..NEWEST_SPEC, per OS family.
_IOS = ((11,), (11, 2), (12,), (13,), (14,), (15,), (16,), (17,), (18,), (26,))
MIN_OS: dict[str, tuple[tuple[int, ...], ...]] = {
    "iOS": _IOS,
    "macOS": ((10, 13), (10, 13, 2), (10, 14), (10, 15), (11,), (12,), (13,), (14,), (15,),
              (26,)),
    "tvOS": _IOS,
    "watchOS": ((4,), (4, 2), (5,), (6,), (7,), (8,), (9,), (10,), (11,), (26,)),
    "visionOS": ((1,),) * 8 + ((2,), (26,)),
}
_FAMILY_BY_LOWER = {name.lower(): name for name in MIN_OS} | {"xros": "visionOS", "ipados": "iOS"}

#: MIL opset string per spec version (``coremltools._OPSET``).
OPSET_BY_SPEC = {4: "CoreML3", 5: "CoreML4", 6: "CoreML5", 7: "CoreML6", 8: "CoreML7",
                 9: "CoreML8", 10: "CoreML9"}


def opset_strings() -> dict[int, str]:
    """Spec version → opset string, from the installed coremltools when it has the table."""
    try:
        import coremltools

        table = dict(coremltools._OPSET)
    except Exception:  # an older or newer coremltools without the private table
        return dict(OPSET_BY_SPEC)
    return {**OPSET_BY_SPEC, **{int(k): str(v) for k, v in table.items()}}


def spec_of_opset(opset: str) -> int | None:
    """Spec version that introduced MIL opset ``opset`` (``"CoreML7"`` → 8), or None."""
    for spec, name in opset_strings().items():
        if name == opset:
            return spec
    match = re.fullmatch(r"CoreML(\d+)", opset)
    return int(match.group(1)) + 1 if match else None


def os_name(spec: int, family: str | None = None) -> str:
    """The first OS release of ``family`` (default iOS) that reads spec version ``spec``."""
    family = family or "iOS"
    if not 1 <= spec <= NEWEST_SPEC:
        return f"spec {spec}"
    version = MIN_OS[family][spec - 1]
    if family == "visionOS" and spec <= 8:
        version = (1,)
    return family + ".".join(str(part) for part in version)


def all_os_names(spec: int) -> str:
    """``"iOS16 / macOS13 / tvOS16 / watchOS9 / visionOS1"`` for spec 7."""
    return " / ".join(os_name(spec, family) for family in MIN_OS)


@dataclass(frozen=True)
class Target:
    """A deployment target: its spec version and the OS family it was named in.

    ``family`` is None when the target was given as a bare spec number (``"7"``); names are
    then shown as iOS names.
    """

    spec: int
    family: str | None
    text: str

    def name(self, spec: int | None = None) -> str:
        """OS name for ``spec`` (default: this target's own) in this target's family."""
        return os_name(self.spec if spec is None else spec, self.family)

    def describe(self) -> str:
        """``"iOS16 (spec 7)"``."""
        return f"{self.text} (spec {self.spec})"

    def __str__(self) -> str:
        return self.text


_OS_RE = re.compile(r"^(?P<family>[a-z]+)\s*(?P<version>\d+(?:[._]\d+)*)$", re.IGNORECASE)


def parse_target(value: object) -> Target | None:
    """Read a deployment target.

    Accepts OS names (``"iOS16"``, ``"iOS 17.4"``, ``"macOS13"``, ``"macOS10_15"``,
    ``"tvOS17"``, ``"watchOS10"``, ``"visionOS2"``), a spec version (``"7"`` or ``7``), a
    ``coremltools.target`` member, or None. An OS version between two Core ML releases maps to
    the older one (iOS 17.4 → spec 8). Raises :class:`LintUsageError` for anything else.
    """
    if value is None or isinstance(value, Target):
        return value
    name = getattr(value, "name", None)
    if name is not None and isinstance(value, int):  # coremltools.target member (IntEnum)
        return parse_target(str(name).replace("_", "."))
    if isinstance(value, int) and not isinstance(value, bool):
        return _spec_target(value, str(value))
    text = str(value).strip()
    if text.isdigit():
        return _spec_target(int(text), text)
    match = _OS_RE.match(text)
    family = _FAMILY_BY_LOWER.get(match.group("family").lower()) if match else None
    if family is None:
        raise LintUsageError(
            f"unknown deployment target {text!r}; use an OS name such as iOS16, macOS13, "
            f"tvOS17, watchOS10, visionOS2, or a spec version 1-{NEWEST_SPEC}"
        )
    version = tuple(int(part) for part in re.split(r"[._]", match.group("version")))
    if family == "macOS" and version[:2] == (10, 16):  # Big Sur's first version number
        version = (11,) + version[2:]
    majors = {minimum[0] for minimum in MIN_OS[family]}
    if version[0] not in majors:
        raise LintUsageError(f"unknown deployment target {text!r}: there is no Core ML release "
                             f"for {family} {version[0]}; valid {family} targets are "
                             f"{', '.join(family + str(m) for m in sorted(majors))}")
    spec = _spec_for_os(family, version)
    if spec is None:
        raise LintUsageError(f"{text}: {family} {'.'.join(map(str, version))} predates Core ML "
                             f"(the first release is {os_name(1, family)})")
    return Target(spec, family, family + ".".join(map(str, version)))


def _spec_target(spec: int, text: str) -> Target:
    if not 1 <= spec <= NEWEST_SPEC:
        raise LintUsageError(f"spec version {spec} is not one of 1-{NEWEST_SPEC}")
    return Target(spec, None, f"spec {spec}")


def _spec_for_os(family: str, version: tuple[int, ...]) -> int | None:
    best = None
    for spec, minimum in enumerate(MIN_OS[family], start=1):
        if version >= minimum:
            best = spec
    return best
