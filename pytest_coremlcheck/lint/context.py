"""What a rule sees: the model's views, the target, the settings and shared helpers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from .config import LintConfig
from .opsets import OpsetTable
from .source import ModelFile
from .spec import FeatureView, FunctionView, ModelView, OpView, walk_models
from .targets import Target
from .weights import BlobStore


class LintContext:
    """One lint of one model. Views and indexes are built lazily and shared by all rules."""

    def __init__(self, model_file: ModelFile, target: Target | None, config: LintConfig,
                 opsets: OpsetTable, scan_weights: bool = True):
        self.file = model_file
        self.top = ModelView(model_file.spec)
        self.models = walk_models(self.top)
        self.target = target
        self.config = config
        self.opsets = opsets
        self.scan_weights = scan_weights
        self.blobs = BlobStore(model_file.model_dir)
        self._memo: dict[str, Any] = {}

    def memo(self, key: str, compute: Callable[[], Any]) -> Any:
        """Compute a shared analysis once per lint (several rules read the same facts)."""
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    def functions(self) -> Iterator[FunctionView]:
        for model in self.models:
            if model.program is not None:
                yield from model.program.functions

    def ops(self) -> Iterator[OpView]:
        for function in self.functions():
            yield from function.ops

    def features(self) -> Iterator[tuple[ModelView, FeatureView]]:
        for model in self.models:
            for feature in model.features:
                yield model, feature

    def name(self, spec: int) -> str:
        """OS name of ``spec`` in the target's family (iOS when there is no target)."""
        return self.target.name(spec) if self.target else Target(spec, None, "").name(spec)
