"""The recipes of docs/architecture.md work when followed: each code snippet, run in a fresh
interpreter, registers what it says (an op, a layer, a lint rule that then fires)."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "architecture.md"


def _snippets() -> dict[str, str]:
    """Recipe title -> its python code block."""
    text = DOC.read_text(encoding="utf-8")
    out = {}
    for section in re.split(r"^### ", text, flags=re.M)[1:]:
        title = section.splitlines()[0]
        block = re.search(r"```python\n(.*?)```", section, re.S)
        if block:
            out[title] = textwrap.dedent(block.group(1))
    return out


CHECKS = {
    "Add a MIL op to the executor": """
from pytest_coremlcheck.reference.mil.registry import lookup
import torch
impl = lookup("example_softsign", "CoreML7")
assert impl is not None
assert torch.allclose(impl({"x": torch.tensor([-2.0, 0.0, 3.0])}, None),
                      torch.tensor([-2 / 3, 0.0, 0.75]))
""",
    "Add a NeuralNetwork layer": """
from pytest_coremlcheck.reference.neuralnetwork.registry import lookup
import torch
run = lookup("example_softsign").build(None, None)
assert torch.allclose(run([torch.tensor([1.0, -3.0])]), torch.tensor([0.5, -0.75]))
""",
    "Add a lint rule": """
import coremltools as ct
from coremltools.models import datatypes
from coremltools.models.neural_network import NeuralNetworkBuilder
from pytest_coremlcheck.lint import lint
builder = NeuralNetworkBuilder([("x", datatypes.Array(2))], [("y", datatypes.Array(2))])
builder.add_activation("relu", "RELU", "x", "y")
found = [f.id for f in lint(builder.spec).findings]
assert "CML-D099" in found, found
""",
}


@pytest.mark.parametrize("title", sorted(CHECKS))
def test_recipe_snippet_does_what_it_says(title):
    run = subprocess.run([sys.executable, "-c", _snippets()[title] + "\n" + CHECKS[title]],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]


def test_every_recipe_with_code_is_followed_here():
    assert set(_snippets()) == set(CHECKS)
