"""``Engine``: what runs one model type (ML program, NeuralNetwork, pipeline, linked model),
and the capabilities every engine declares, with their defaults (``engines.engine_for``
picks the engine for a spec)."""

from __future__ import annotations

from typing import Any

import numpy as np


class Engine:
    """Runs one loaded model. Subclasses set ``precision`` ("fp16" when any value is computed
    in fp16) and ``mode_label`` (how the run is named in reports) and implement ``run``."""

    precision: str = "fp32"
    mode_label: str = "fp32"
    #: the model type when it differs from the spec's own (a linked model's target)
    kind: str = ""
    #: the file a linked model ran, else None
    linked_path: Any = None
    #: an ML program's inputs (name -> MIL var), checked against the description; else None
    program_inputs: dict | None = None
    #: what the report should say about the run
    notes: list[str] = []
    #: a pipeline's stages (``pipeline.StageInfo``) and stage boundaries
    stages: list = []
    boundaries: list = []
    #: a pipeline's outputs of the last run, per stage name
    stage_outputs: dict[str, dict] = {}

    #: True when ``record`` returns every op's output (ML programs)
    records: bool = False

    def run(self, feeds: dict[str, np.ndarray], state=None) -> dict:
        """One prediction; ``state`` (a ReferenceState) is read and updated in place."""
        raise NotImplementedError

    def record(self, feeds: dict[str, np.ndarray], state=None):
        """One prediction, with every op's output (``records``); see ``mil.recording``."""
        raise NotImplementedError

    def watch_hazards(self, screen: bool = False):
        """Start recording numeric hazards; returns the watch (None: this engine has none)."""
        return None
