"""How often device-risk flags correct models: real architectures, random weights, checked in
``typed`` and ``device-risk`` mode (the numbers in docs/device-risk.md).

    TF_USE_LEGACY_KERAS=1 python tests/device_risk/zoo_measure.py [name ...]

Prints one line per model: pass/fail per mode, the inside-the-op hazard if any, the
device-risk behaviours that fired.
"""

from __future__ import annotations

import sys
import time
import warnings

import coremltools as ct
import numpy as np
import torch
from torch import nn

from pytest_coremlcheck import EquivalenceError, assert_equivalent, tensors


def _keras(name, size):
    def build():
        import tf_keras

        app = getattr(tf_keras.applications, name)
        return app(weights=None, input_shape=(size, size, 3), classes=10)
    return build, [(1, size, size, 3)]


class Encoder(nn.Module):
    """Token embedding, two pre-norm transformer layers, mean pool, head."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.embed = nn.Embedding(100, 64)
        layer = nn.TransformerEncoderLayer(64, 4, 128, batch_first=True, norm_first=True,
                                           dropout=0.0)
        self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.head = nn.Linear(64, 10)

    def forward(self, x):
        return self.head(self.encoder(self.embed(x)).mean(dim=1))


class MishNet(nn.Module):
    """conv → BN → Mish (softplus inside) ×3, global pool: a YOLO-style backbone."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        layers, channels = [], 3
        for out in (16, 32, 64):
            layers += [nn.Conv2d(channels, out, 3, 2, 1), nn.BatchNorm2d(out), nn.Mish()]
            channels = out
        self.body = nn.Sequential(*layers)

    def forward(self, x):
        return self.body(x).mean(dim=(2, 3))


class GaussianHead(nn.Module):
    """MLP with a softplus standard deviation (VAE / probabilistic regression head)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.body = nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 16))

    def forward(self, x):
        mean, raw = self.body(x).chunk(2, dim=-1)
        return mean, nn.functional.softplus(raw) + 1e-3


class Classifier(nn.Module):
    """conv net with instance norm, log-softmax output."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.body = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.InstanceNorm2d(16),
                                  nn.ReLU(), nn.Conv2d(16, 32, 3, 2, 1), nn.ReLU())
        self.head = nn.Linear(32, 10)

    def forward(self, x):
        return torch.log_softmax(self.head(self.body(x).mean(dim=(2, 3))), dim=-1)


class Retrieval(nn.Module):
    """Embedding MLP, L2-normalised, log-sum-exp pooled over 16 candidates."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.body = nn.Sequential(nn.Linear(32, 64), nn.GELU(), nn.Linear(64, 32))

    def forward(self, x):
        e = nn.functional.normalize(self.body(x), dim=-1)
        return torch.logsumexp(e @ e.transpose(-1, -2) * 10.0, dim=-1)


def _torch(cls, shape, dtype=np.float32):
    return (lambda: cls().eval()), [shape], dtype


MODELS = {
    "keras MobileNetV2 96": _keras("MobileNetV2", 96),
    "keras EfficientNetB0 64": _keras("EfficientNetB0", 64),
    "keras ResNet50 64": _keras("ResNet50", 64),
    "keras DenseNet121 64": _keras("DenseNet121", 64),
    "keras ConvNeXtTiny 64": _keras("ConvNeXtTiny", 64),
    "torch transformer encoder": _torch(Encoder, (1, 16), np.int32),
    "torch Mish backbone": _torch(MishNet, (1, 3, 64, 64)),
    "torch Gaussian head": _torch(GaussianHead, (4, 32)),
    "torch instance-norm classifier": _torch(Classifier, (1, 3, 32, 32)),
    "torch retrieval log-sum-exp": _torch(Retrieval, (1, 16, 32)),
}


def _convert(source, shapes, dtype):
    if isinstance(source, nn.Module):
        traced = torch.jit.trace(source, tuple(torch.zeros(s, dtype=torch.int64 if dtype ==
                                                           np.int32 else torch.float32)
                                               for s in shapes), check_trace=False)
        inputs = [ct.TensorType(name=f"x{i}", shape=s, dtype=dtype) for i, s in enumerate(shapes)]
        return ct.convert(traced, inputs=inputs, minimum_deployment_target=ct.target.iOS16,
                          skip_model_load=True)
    return ct.convert(source, inputs=[ct.TensorType(shape=s) for s in shapes],
                      convert_to="mlprogram", minimum_deployment_target=ct.target.iOS16,
                      skip_model_load=True)


def measure(name: str) -> str:
    entry = MODELS[name]
    build, shapes = entry[0], entry[1]
    dtype = entry[2] if len(entry) > 2 else np.float32
    source = build()
    model = _convert(source, shapes, dtype)
    high = 100 if dtype == np.int32 else 1.0
    verdicts, inside, fired = {}, "", []
    for mode in ("typed", "device-risk"):
        started = time.perf_counter()
        try:
            result = assert_equivalent(source, model, tensors(n=2, high=high),
                                       backend="reference", fp16_mode=mode)
            verdicts[mode] = "pass"
        except EquivalenceError as exc:
            result = exc.result
            verdicts[mode] = "FAIL"
        verdicts[mode] += f" ({time.perf_counter() - started:.1f} s)"
        hazard = next((h for h in result.hazards if h["kind"] == "fp16_inside_overflow"), None)
        inside = inside or (f"{hazard['op_type']} {hazard['detail'].split(' (')[0]}"
                            if hazard else "")
        fired = fired or [n.split(" — ")[0] for n in result.notes
                          if n.startswith("device-risk: ")]
    return (f"{name}: typed {verdicts['typed']}, device-risk {verdicts['device-risk']}; "
            f"inside hazard: {inside or 'none'}; fired: {', '.join(fired) or 'none'}")


if __name__ == "__main__":
    warnings.filterwarnings("ignore")
    for model_name in sys.argv[1:] or MODELS:
        try:
            print(measure(model_name), flush=True)
        except Exception as exc:  # a model that cannot be built or converted is reported
            print(f"{model_name}: could not run: {type(exc).__name__}: {exc}", flush=True)
