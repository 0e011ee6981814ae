"""Which ``slice_update`` ops of a block may write into their ``x`` instead of copying it.

A decoder's key/value cache is a state: each layer reads it (``read_state``, or the previous
layer's ``coreml_update_state``), writes one token into it (``slice_update``) and stores it
back (``coreml_update_state``). A copy per layer and step copies the whole cache (3 MB per
layer on a 125M decoder). Writing in place is safe when nothing can see the old values:

- ``x`` shares memory only with values of one alias group: the values connected to it
  through ops that may return an input or a view of it (``ALIASING``), and every group
  member descends from a ``read_state`` (state memory the executor owns, never a constant or
  a caller's array);
- every other reader of a group member runs before the ``slice_update``, in the same block,
  no group member is a block output, and the written ``update`` is not one (it would
  overlap the memory it is written into);
- each state the group reads is written (``coreml_update_state``) later in the block, with no
  ``read_state`` of it in between: the state's old tensor, now changed, is replaced before
  anything reads it again.
"""

from __future__ import annotations

from .fp16 import MOVES_VALUES

#: ops whose output may be (a view of) an input's tensor
ALIASING = MOVES_VALUES | {"cast"}


def slice_updates_in_place(mil_block) -> set[int]:
    """``id`` of each ``slice_update`` op of ``mil_block`` that may write into its ``x``."""
    ops = list(mil_block.operations)
    position = {id(op): index for index, op in enumerate(ops)}
    outputs = {id(var) for var in mil_block.outputs}
    found = set()
    for index, op in enumerate(ops):
        if op.op_type != "slice_update" or not hasattr(op.inputs.get("x"), "child_ops"):
            continue
        group, states = _alias_group(op.inputs["x"], op)
        if group is None or any(id(var) in outputs or var is op.inputs["update"]
                                for var in group):
            continue
        readers_done = all(child is op or position.get(id(child), len(ops)) < index
                           for var in group for child in var.child_ops)
        if readers_done and all(_replaced_later(ops, index, state) for state in states):
            found.add(id(op))
    return found


def _alias_group(start, writer):
    """(the values sharing memory with ``start`` through ``ALIASING`` ops other than
    ``writer``, the state vars the group reads), or (None, None) when a group member does not
    descend from a state."""
    group, states, todo = {id(start): start}, {}, [start]
    while todo:
        var = todo.pop()
        producer = var.op
        if producer is None or producer.op_type not in ALIASING:
            return None, None  # a block input, a constant, or a tensor of unknown origin
        if producer.op_type == "read_state":
            state = producer.inputs["input"]
            states[id(state)] = state
        linked = list(_aliased_inputs(producer))
        linked += [out for child in var.child_ops
                   if child is not writer and any(v is var for v in _aliased_inputs(child))
                   for out in child.outputs]
        for other in linked:
            if id(other) not in group:
                group[id(other)] = other
                todo.append(other)
    return list(group.values()), list(states.values())


def _aliased_inputs(op) -> list:
    """The input vars whose tensors ``op``'s outputs may share: the data input (``x``, the
    ``values`` of ``concat``/``stack``, ``coreml_update_state``'s ``value``), not indices or
    shapes; none for other ops."""
    if op.op_type not in ALIASING or op.op_type == "read_state":
        return []
    if op.op_type == "coreml_update_state":
        return [op.inputs["value"]]
    data = op.inputs.get("x", op.inputs.get("values"))
    return [var for var in (data if isinstance(data, (list, tuple)) else [data])
            if hasattr(var, "child_ops")]


def _replaced_later(ops: list, index: int, state) -> bool:
    """Whether ``state`` is written after op ``index`` before any later read of it."""
    for op in ops[index + 1:]:
        if op.inputs.get("state") is state and op.op_type == "coreml_update_state":
            return True
        if op.inputs.get("input") is state and op.op_type == "read_state":
            return False
    return False
