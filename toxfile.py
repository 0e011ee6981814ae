"""tox plugin: install torch from PyTorch's CPU index on Linux, as the Makefile does.

PyPI's Linux torch is the CUDA build (2.74 GB to download); the CPU index has the same version
as ``+cpu`` (0.19 GB), which pip prefers. ``TORCH_INDEX`` overrides the index; set it empty to
keep PyPI's build. The index is added only when it answers within 5 s.
"""

from __future__ import annotations

import os
import platform
import urllib.request

from tox.plugin import impl

CPU_INDEX = "https://download.pytorch.org/whl/cpu"


@impl
def tox_add_core_config(core_conf, state) -> None:
    """Add the torch index to PIP_EXTRA_INDEX_URL (tox passes PIP_* to every install)."""
    default = CPU_INDEX if platform.system() == "Linux" else ""
    index = os.environ.get("TORCH_INDEX", default)
    if index and _answers(index):
        extra = os.environ.get("PIP_EXTRA_INDEX_URL", "")
        os.environ["PIP_EXTRA_INDEX_URL"] = f"{extra} {index}".strip()


def _answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=5).close()
    except OSError:
        return False
    return True
