"""Control flow: copy, branch, loop, loopBreak, loopContinue.

Nested networks share the model's blob scope: blobs they produce stay visible afterwards.

- ``branch``: runs ``ifBranch`` when |condition| > 1e-6, else ``elseBranch`` (if any).
- ``loop``: with no ``conditionNetwork``, runs the body ``maxLoopIterations`` times (or the
  count given by the input); with one, evaluates ``conditionVar`` (true when |v| > 1e-6) before
  every iteration and stops when it is false or, if a count is given (input, or a positive
  ``maxLoopIterations``), when the count is reached.
- ``loopBreak`` / ``loopContinue`` end the innermost loop / its current iteration.
"""

from __future__ import annotations

from ..network import LoopBreak, LoopContinue
from ..registry import register
from ._util import scalar_of

_TRUE = 1e-6


def _produced(nn) -> set[str]:
    """Every blob a (nested) network writes, its own nested networks included."""
    names = set()
    for layer in nn.layers:
        names.update(layer.output)
        kind = layer.WhichOneof("layer")
        if kind == "branch":
            names |= _produced(layer.branch.ifBranch) | _produced(layer.branch.elseBranch)
        elif kind == "loop":
            names |= _produced(layer.loop.conditionNetwork) | _produced(layer.loop.bodyNetwork)
    return names


@register("copy")
def copy(params, ctx):
    return lambda ins: ins[0]


@register("branch", scope=True)
def branch(params, ctx):
    if ctx.n_inputs != 1:
        raise ctx.error(f"expects 1 input (the condition), got {ctx.n_inputs}")
    cond_name = ctx.layer.input[0]
    if_net = ctx.compile_network(params.ifBranch)
    else_net = ctx.compile_network(params.elseBranch) if params.HasField("elseBranch") \
        else None
    ctx.available.update(if_net.produced() | (else_net.produced() if else_net else set()))

    def run(env):
        if abs(scalar_of(env[cond_name])) > _TRUE:
            if_net.run(env)
        elif else_net is not None:
            else_net.run(env)
    return run


@register("loop", scope=True)
def loop(params, ctx):
    written = _produced(params.conditionNetwork) | _produced(params.bodyNetwork)
    has_condition = params.HasField("conditionNetwork") and bool(params.conditionVar)
    cond_net = ctx.compile_network(params.conditionNetwork, written) if has_condition else None
    body = ctx.compile_network(params.bodyNetwork, written)
    ctx.available.update(written)
    cond_var = params.conditionVar
    max_param = int(params.maxLoopIterations)
    count_input = ctx.layer.input[0] if ctx.n_inputs else None

    def condition(env) -> bool:
        cond_net.run(env)
        return abs(scalar_of(env[cond_var])) > _TRUE

    def run(env):
        limit = int(scalar_of(env[count_input])) if count_input else max_param
        bounded = count_input is not None or max_param > 0 or cond_net is None
        i = 0
        while True:
            if bounded and i >= limit:
                break
            if cond_net is not None and not condition(env):
                break
            i += 1
            try:
                body.run(env)
            except LoopContinue:
                continue
            except LoopBreak:
                break
    return run


@register("loopBreak", scope=True)
def loop_break(params, ctx):
    def run(env):
        raise LoopBreak()
    return run


@register("loopContinue", scope=True)
def loop_continue(params, ctx):
    def run(env):
        raise LoopContinue()
    return run
