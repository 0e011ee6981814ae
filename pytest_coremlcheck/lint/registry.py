"""The rule registry: every rule, in report order, and rule selection (ids and prefixes,
ruff semantics). Importing it registers the rules (``rules/``); ``rule.py`` holds only the
types and the ``@rule`` decorator, so rule modules never import the registry."""

from __future__ import annotations

from collections.abc import Iterable
from importlib import import_module

from .errors import LintUsageError
from .rule import GROUPS, RULES, Rule

# Registers the rules into this RULES. Through sys.modules, not ``from . import rules``: a
# ``rules`` attribute left on the package by an earlier import (pytester restores sys.modules
# between in-process runs) would register into an older RULES.
import_module(f"{__package__}.rules")

_ORDERED: dict[str, Rule] = {}


def all_rules() -> dict[str, Rule]:
    """Every registered rule by id, in report order: groups as in :data:`GROUPS`, then by
    number."""
    if len(_ORDERED) != len(RULES):
        groups = list(GROUPS)
        _ORDERED.clear()
        for rule_id in sorted(RULES, key=lambda i: (groups.index(i[4]), i)):
            _ORDERED[rule_id] = RULES[rule_id]
    return _ORDERED


def normalize_code(code: str) -> str:
    """``"t001"``/``"CML-T001"`` → ``"CML-T001"``; ``"cml-t"`` → ``"CML-T"``; ``"ALL"`` →
    ``"CML"``."""
    text = code.strip().upper()
    if text in ("ALL", "CML", "CML-"):
        return "CML"
    if not text.startswith("CML-"):
        text = "CML-" + text
    return text


def expand_codes(codes: Iterable[str] | None) -> list[str]:
    """Normalise and validate rule ids or prefixes (``CML-T``, ``CML-O00``); raises
    :class:`LintUsageError` for codes that match no rule."""
    if codes is None:
        return []
    if isinstance(codes, str):
        codes = [codes]
    known = all_rules()
    out = []
    for raw in codes:
        for part in str(raw).split(","):
            if not part.strip():
                continue
            code = normalize_code(part)
            if not any(rule_id.startswith(code) for rule_id in known):
                raise LintUsageError(f"unknown rule or rule prefix {part.strip()!r}; "
                                     "`coremlcheck lint --explain all` lists the rules")
            out.append(code)
    return out


def is_selected(rule_id: str, select: list[str], ignore: list[str]) -> bool:
    """ruff semantics: the most specific matching code decides; by default everything is
    selected."""
    best_select = max((len(c) for c in select if rule_id.startswith(c)), default=-1)
    if not select:
        best_select = 0
    best_ignore = max((len(c) for c in ignore if rule_id.startswith(c)), default=-1)
    return best_select >= 0 and best_select > best_ignore
