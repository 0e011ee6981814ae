"""Layer implementations keyed by NeuralNetwork layer type.

The key is the name of the layer's ``oneof layer`` field (``layer.WhichOneof("layer")``), e.g.
``"convolution"``, ``"innerProduct"``, ``"reduceMean"``.

A *builder* is ``build(params, ctx) -> run``, called once when the network is compiled:
``params`` is the layer's parameter message (e.g. ``ConvolutionLayerParams``) and ``ctx`` a
:class:`~.network.LayerContext` that decodes weights and names the layer in errors. ``run`` is
the per-prediction function ``run(inputs: list[Tensor]) -> Tensor | list[Tensor]`` taking the
layer's input blobs in order and returning its output blobs in order.

Control-flow layers (``loop``, ``branch``, …) read and write the blob environment directly;
they are registered with ``scope=True`` and their ``run`` is ``run(env: dict) -> None``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

Builder = Callable[..., Callable]


@dataclass(frozen=True)
class Entry:
    build: Builder
    scope: bool = False


_BUILDERS: dict[str, Entry] = {}


def register(*layer_types: str, scope: bool = False):
    """Decorator: ``build`` implements each of ``layer_types``."""

    def wrap(build: Builder) -> Builder:
        for layer_type in layer_types:
            if layer_type in _BUILDERS:
                raise ValueError(f"layer type {layer_type!r} is registered twice")
            _BUILDERS[layer_type] = Entry(build, scope)
        return build

    return wrap


def lookup(layer_type: str) -> Entry | None:
    """The implementation of ``layer_type``, or None."""
    return _BUILDERS.get(layer_type)


def implemented() -> list[str]:
    """Every layer type with an implementation, sorted."""
    return sorted(_BUILDERS)
