"""Repository-wide pytest configuration: the example zoo is importable from tests."""

import sys
from pathlib import Path

ROOT = Path(__file__).parent
sys.path.insert(0, str(ROOT / "examples"))
