"""Control flow and lists: ``cond``, ``while_loop``, ``select``, consts and the ``list_*`` ops.

Nested blocks run through ``node.run_block(index, values)``. A MIL list is a value: every
``list_write``/``list_scatter`` returns a new ``TensorList`` and leaves its input unchanged.
"""

from __future__ import annotations

import torch

from ..registry import register
from ._util import ints, scalar


@register("const", "_const_symbolic")
def const(ins, node):
    """``const``: the value itself (consts are bound at load; this runs only if one is not)."""
    return ins["val"]


@register("identity")
def identity(ins, node):
    return ins["x"]


@register("select")
def select(ins, node):
    """``select(cond, a, b) = cond ? a : b`` elementwise, with broadcasting."""
    cond, a, b = ins["cond"], ins["a"], ins["b"]
    cond = cond.bool() if isinstance(cond, torch.Tensor) else torch.tensor(bool(cond))
    return torch.where(cond, _tensor(a), _tensor(b))


def _tensor(value):
    return value if isinstance(value, torch.Tensor) else torch.tensor(value)


@register("cond")
def cond(ins, node):
    """Run block 0 (true branch) when ``pred`` holds, else block 1; return its outputs."""
    pred = bool(scalar(ins["pred"]))
    return tuple(node.run_block(0 if pred else 1, []))


@register("while_loop")
def while_loop(ins, node):
    """``while cond_block(*v): v = body_block(*v)``; returns the final loop values."""
    values = list(ins["loop_vars"])
    while bool(scalar(node.run_block(0, values)[0])):
        values = list(node.run_block(1, values))
    return tuple(values)


class TensorList:
    """A MIL list: elements of one dtype and (possibly unknown) shape, value semantics.

    Unwritten slots read as zeros of the element shape (known from ``elem_shape`` or from
    any written element).
    """

    __slots__ = ("items", "elem_shape", "dtype", "dynamic")

    def __init__(self, items, elem_shape, dtype, dynamic):
        self.items = items
        self.elem_shape = elem_shape
        self.dtype = dtype
        self.dynamic = dynamic

    def copy(self) -> TensorList:
        return TensorList(list(self.items), self.elem_shape, self.dtype, self.dynamic)

    def element(self, index: int) -> torch.Tensor:
        if index < 0:
            index += len(self.items)
        if index >= len(self.items) or index < 0:
            raise IndexError(f"list index {index} out of range for a list of length "
                             f"{len(self.items)}")
        value = self.items[index]
        if value is None:
            return torch.zeros(self._shape(), dtype=self.dtype)
        return value

    def set(self, index: int, value: torch.Tensor) -> None:
        if index < 0:
            index += len(self.items)
        if index >= len(self.items):
            if not self.dynamic:
                raise IndexError(f"write at index {index} of a fixed-length list of length "
                                 f"{len(self.items)}")
            self.items.extend([None] * (index + 1 - len(self.items)))
        self.items[index] = value
        if self.elem_shape is None:
            self.elem_shape = tuple(value.shape)

    def _shape(self):
        if self.elem_shape is not None:
            return self.elem_shape
        for value in self.items:
            if value is not None:
                return tuple(value.shape)
        raise ValueError("reading an element of a list whose element shape is unknown "
                         "and that holds no written element")


_LIST_DTYPES = {"fp16": torch.float32, "fp32": torch.float32, "int32": torch.int32,
                "bool": torch.bool}


@register("make_list")
def make_list(ins, node):
    """A list of ``init_length`` unwritten slots; ``dynamic_length`` lets writes grow it."""
    length = int(scalar(ins.get("init_length"), 1))
    dynamic = bool(scalar(ins.get("dynamic_length"), True))
    shape = []
    for dim in ins["elem_shape"]:
        value = dim if not isinstance(dim, torch.Tensor) else scalar(dim)
        if isinstance(value, str):
            shape = None
            break
        shape.append(int(value))
    dtype = _LIST_DTYPES.get(ins.get("dtype") or "fp32", torch.float32)
    return TensorList([None] * length, tuple(shape) if shape is not None else None, dtype,
                      dynamic)


@register("list_length")
def list_length(ins, node):
    return torch.tensor(len(ins["ls"].items), dtype=torch.int32)


@register("list_write")
def list_write(ins, node):
    """A copy of ``ls`` with ``ls[index] = value``."""
    out = ins["ls"].copy()
    out.set(int(scalar(ins["index"])), ins["value"])
    return out


@register("list_read")
def list_read(ins, node):
    return ins["ls"].element(int(scalar(ins["index"])))


@register("list_gather")
def list_gather(ins, node):
    """``stack([ls[i] for i in indices])``."""
    ls = ins["ls"]
    return torch.stack([ls.element(i) for i in ints(ins["indices"])])


@register("list_scatter")
def list_scatter(ins, node):
    """A copy of ``ls`` with ``ls[indices[k]] = value[k]`` for every k."""
    out = ins["ls"].copy()
    value = ins["value"]
    for k, index in enumerate(ints(ins["indices"])):
        out.set(index, value[k])
    return out
