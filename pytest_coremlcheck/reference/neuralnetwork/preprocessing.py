"""A NeuralNetwork's ``preprocessing`` section: what happens to an image input before layer 1.

The image arrives as float32 pixels 0–255, shape (1, C, H, W), channels in the feature's colour
layout (RGB, BGR or grayscale). Each ``NeuralNetworkPreprocessing`` entry for the feature is
applied in the order listed:

- ``scaler`` (``NeuralNetworkImageScaler``): ``Y[c] = channelScale · X[c] + bias[c]`` with
  ``bias = (redBias, greenBias, blueBias)`` for RGB, ``(blueBias, greenBias, redBias)`` for BGR
  and ``(grayBias,)`` for grayscale;
- ``meanImage`` (``NeuralNetworkMeanImage``): ``Y = X − mean`` with ``mean`` the flattened
  ``[C, H, W]`` mean image.

An entry with an empty ``featureName`` applies to the model's only image input.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from ..errors import ModelLoadError

Preprocess = Callable[[torch.Tensor], torch.Tensor]


def describe(entry) -> dict:
    """A plain-data summary of one preprocessing entry."""
    kind = entry.WhichOneof("preprocessor")
    if kind == "scaler":
        s = entry.scaler
        return {"feature": entry.featureName, "kind": "scaler",
                "channel_scale": s.channelScale, "red_bias": s.redBias,
                "green_bias": s.greenBias, "blue_bias": s.blueBias, "gray_bias": s.grayBias}
    if kind == "meanImage":
        return {"feature": entry.featureName, "kind": "mean_image",
                "values": len(entry.meanImage.meanImage)}
    return {"feature": entry.featureName, "kind": kind or "none"}


def build(entries, image_inputs: dict[str, tuple[str, tuple[int, ...]]],
          model_name: str) -> dict[str, list[Preprocess]]:
    """Per image input name, the preprocessing functions to apply in order.

    ``image_inputs`` maps each image input name to (colour layout, (1, C, H, W)).
    """
    steps: dict[str, list[Preprocess]] = {}
    for entry in entries:
        name = entry.featureName
        if not name:
            if len(image_inputs) != 1:
                raise ModelLoadError(f"{model_name}: a preprocessing entry names no input "
                                     f"feature and the model has {len(image_inputs)} image "
                                     "inputs")
            name = next(iter(image_inputs))
        if name not in image_inputs:
            raise ModelLoadError(f"{model_name}: preprocessing names input {name!r}, which is "
                                 "not an image input of the model")
        color, shape = image_inputs[name]
        kind = entry.WhichOneof("preprocessor")
        if kind == "scaler":
            steps.setdefault(name, []).append(_scaler(entry.scaler, color))
        elif kind == "meanImage":
            steps.setdefault(name, []).append(
                _mean_image(entry.meanImage, shape, f"{model_name}: mean image of {name!r}"))
        elif kind is not None:
            raise ModelLoadError(f"{model_name}: unknown preprocessing {kind!r} for {name!r}")
    return steps


def _scaler(scaler, color: str) -> Preprocess:
    if color.startswith("GRAYSCALE"):
        bias = [scaler.grayBias]
    elif color == "BGR":
        bias = [scaler.blueBias, scaler.greenBias, scaler.redBias]
    else:
        bias = [scaler.redBias, scaler.greenBias, scaler.blueBias]
    scale = float(scaler.channelScale)
    b = torch.tensor(bias, dtype=torch.float32).reshape(-1, 1, 1)

    def apply(x: torch.Tensor) -> torch.Tensor:
        return x * scale + b

    return apply


def _mean_image(mean, shape: tuple[int, ...], where: str) -> Preprocess:
    chw = tuple(shape[-3:])
    values = np.asarray(mean.meanImage, dtype=np.float32)
    if values.size != int(np.prod(chw)):
        raise ModelLoadError(f"{where}: has {values.size} values, expected "
                             f"{int(np.prod(chw))} for [C, H, W] = {list(chw)}")
    m = torch.from_numpy(values.reshape(chw))

    def apply(x: torch.Tensor) -> torch.Tensor:
        return x - m

    return apply
