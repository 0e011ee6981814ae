"""The framework side of a check: what every source does, and the optional capabilities
(with their defaults) the check asks of it. A framework adds a subclass of ``Source``."""

from __future__ import annotations

from typing import Any

import numpy as np


class SourceError(Exception):
    """The source model could not be wrapped or raised while running."""


class Source:
    """A source model. Subclasses set ``framework`` and implement ``describe``, ``run`` and
    ``conversion_source``; the other methods are capabilities with a "not supported" default.
    """

    framework: str = ""

    def describe(self) -> str:
        """One line naming the framework, its version and the model."""
        raise NotImplementedError

    def run(self, feed: dict[str, np.ndarray], order: list[str]) -> list[np.ndarray]:
        """The outputs on ``feed`` (keyed by the converted model's input names, ``order`` being
        its input order) as a flat list in the model's output order."""
        raise NotImplementedError

    def conversion_source(self, feed: dict[str, np.ndarray], order: list[str]) -> Any:
        """What to hand to ``ct.convert`` (a traced module, a Keras model, ...)."""
        raise NotImplementedError

    # ---------------------------------------------------------------- capabilities

    def fingerprint(self, feed: dict[str, np.ndarray], order: list[str]) -> list | None:
        """Conversion-cache key parts that change when the model changes; None: conversions
        of this source are not cached."""
        return None

    def input_features(self) -> list | None:
        """The model's inputs (``Feature`` list) when it declares complete shapes, so it can
        be converted without ``convert={'inputs': ...}``; None when it does not."""
        return None

    def run_float64(self, feed: dict[str, np.ndarray], order: list[str]
                    ) -> list[np.ndarray] | None:
        """``run`` in float64 (for the noise floor); None: no float64 mode."""
        return None

    @property
    def can_export(self) -> bool:
        """True when ``export`` offers a second conversion route (torch.export)."""
        return False

    def export(self, feed: dict[str, np.ndarray], order: list[str]) -> Any:
        """The fallback conversion source, tried when ``conversion_source`` fails to convert."""
        raise NotImplementedError

    def align_output(self, name: str, source: np.ndarray, converted: np.ndarray) -> np.ndarray:
        """The source's output ``name`` moved into the converted output's layout (default: as
        it is)."""
        return source

    @property
    def framework_model(self) -> Any:
        """The framework's model object itself (a torch module, a Keras model) when there is
        one to look inside (conversion localisation hooks its layers); else None."""
        return None

    @property
    def layout_notes(self) -> list[str]:
        """Layout changes ``run`` made (e.g. NCHW→NHWC feeds), for the report."""
        return []
