"""FP16 execution modes of the reference executor.

- ``typed`` (default): compute each op in float32, then round every value the program
  declares fp16 to float16. This is exactly the precision the program's types promise: each
  op's result is representable in its declared type. It cannot model how a device kernel
  accumulates inside an op (the Neural Engine and GPU may accumulate in fp16 or in mixed
  precision), so it certifies conversion correctness and sensitivity to fp16 storage, not
  bit-exact device results.
- ``fp32``: ignore declared fp16 (no rounding): the ideal the conversion approximates.
"""

from __future__ import annotations

from dataclasses import dataclass

MODES = ("typed", "fp32")


@dataclass(frozen=True)
class Fp16Mode:
    name: str = "typed"

    def __post_init__(self):
        if self.name not in MODES:
            raise ValueError(f"unknown fp16 mode {self.name!r}; expected one of {', '.join(MODES)}")

    @property
    def rounds_outputs(self) -> bool:
        return self.name == "typed"

    def wrap(self, impl, op_type: str):
        """The implementation to run for ``op_type`` in this mode."""
        return impl
