"""On-device personalisation of a digits CNN, emulated, against the same training in torch.

scikit-learn's bundled 8×8 handwritten digits (1,797 images, no download): a small CNN is
pre-trained in torch on the first 1,000 images, rebuilt as an updatable NeuralNetwork with
NeuralNetworkBuilder (its last two dense layers updatable, cross-entropy), then updated on 200
"user" images for 5 epochs (SGD with momentum, then Adam) by ``ReferenceModel.update`` and, on
the same mini-batches, by torch.optim. Prints per layer the SNR of the updated weights, the
loss curves, held-out accuracy before/after and the time per epoch; then an updatable k-NN
(coremltools' builder) on the same features. Run: ``python benchmarks/updatable_digits.py``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import time

import numpy as np
import torch
from coremltools.models import datatypes
from coremltools.models.nearest_neighbors import KNearestNeighborsClassifierBuilder
from coremltools.models.neural_network import NeuralNetworkBuilder
from coremltools.models.neural_network.update_optimizer_utils import AdamParams, SgdParams
from sklearn.datasets import load_digits

from pytest_coremlcheck.reference import ReferenceModel
from pytest_coremlcheck.training import UpdateCheck, check_update, torch_trainer


class DigitsCNN(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(1, 8, 3)
        self.fc1 = torch.nn.Linear(72, 32)
        self.fc2 = torch.nn.Linear(32, 10)

    def forward(self, x):
        x = torch.nn.functional.max_pool2d(torch.relu(self.conv(x)), 2)
        return torch.softmax(self.fc2(torch.relu(self.fc1(x.flatten(1)))), dim=-1)


def pretrain(model, images, labels, epochs=15):
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    x, y = torch.from_numpy(images), torch.from_numpy(labels)
    for _ in range(epochs):
        for i in range(0, len(x), 50):
            opt.zero_grad()
            loss = torch.nn.functional.nll_loss(torch.log(model(x[i:i + 50])), y[i:i + 50])
            loss.backward()
            opt.step()


def updatable_spec(model, set_optimizer):
    w = {k: v.detach().numpy() for k, v in model.state_dict().items()}
    b = NeuralNetworkBuilder([("image", datatypes.Array(1, 8, 8))],
                             [("probs", datatypes.Array(10))])
    b.add_convolution("conv", 1, 8, 3, 3, 1, 1, "valid", 1,
                      w["conv.weight"].transpose(2, 3, 1, 0), w["conv.bias"], True,
                      input_name="image", output_name="c")
    b.add_activation("relu0", "RELU", "c", "cr")
    b.add_pooling("pool", 2, 2, 2, 2, layer_type="MAX", padding_type="VALID",
                  input_name="cr", output_name="p")
    b.add_flatten("flatten", 0, "p", "f")
    b.add_inner_product("fc1", w["fc1.weight"], w["fc1.bias"], 72, 32, True, "f", "h")
    b.add_activation("relu1", "RELU", "h", "hr")
    b.add_inner_product("fc2", w["fc2.weight"], w["fc2.bias"], 32, 10, True, "hr", "z")
    b.add_softmax("softmax", "z", "probs")
    b.make_updatable(["fc1", "fc2"])
    with contextlib.redirect_stdout(io.StringIO()):
        b.set_categorical_cross_entropy_loss("loss", "probs")
    set_optimizer(b)
    b.set_epochs(5)
    b.set_shuffle(seed=1)
    return b.spec


def accuracy(model: ReferenceModel, images, labels) -> float:
    hits = [int(np.argmax(model.predict({"image": x})["probs"])) == y
            for x, y in zip(images, labels)]
    return float(np.mean(hits))


def _wrong_learning_rate(spec, user, source, factor: float):
    right = torch_trainer(source, {"fc1": source.fc1, "fc2": source.fc2})

    def wrong(plan):
        config = dataclasses.replace(plan.config,
                                     learning_rate=plan.config.learning_rate * factor)
        return right(dataclasses.replace(plan, config=config))

    return check_update(spec, UpdateCheck(user, wrong))


def main() -> None:
    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)[:, None]
    labels = digits.target.astype(np.int64)
    source = DigitsCNN()
    pretrain(source, images[:1000], labels[:1000])
    user = {"image": images[1000:1200], "probs_true": labels[1000:1200, None].astype(np.int32)}
    held_x, held_y = images[1200:1500], labels[1200:1500]
    for name, set_optimizer in (
            ("SGD lr 0.05 momentum 0.9", lambda b: b.set_sgd_optimizer(
                SgdParams(lr=0.05, batch=16, momentum=0.9))),
            ("Adam lr 0.003", lambda b: b.set_adam_optimizer(
                AdamParams(lr=0.003, batch=16, beta1=0.9, beta2=0.999, eps=1e-8)))):
        spec = updatable_spec(source, set_optimizer)
        before = accuracy(ReferenceModel(spec), held_x, held_y)
        started = time.perf_counter()
        updated = ReferenceModel(spec).update(user)
        per_epoch = (time.perf_counter() - started) / 5
        after = accuracy(updated, held_x, held_y)
        result = check_update(spec, UpdateCheck(
            user, torch_trainer(source, {"fc1": source.fc1, "fc2": source.fc2}),
            held_out={"image": held_x[:50]}))
        print(f"\n{name}: passed={result.passed}; held-out accuracy {before:.3f} → {after:.3f};"
              f" emulated update {per_epoch:.2f} s/epoch (200 samples)")
        for key, r in result.output_results.items():
            m = r.metrics
            print(f"  {key:22s} SNR {m.snr_db:6.1f} dB  max_abs {m.max_abs:.2e}")
        wrong = _wrong_learning_rate(spec, user, source, 1.1)
        print(f"  source trained with a learning rate 10% too high: passed={wrong.passed}; "
              f"fc2.weights SNR {wrong.output_results['weights:fc2.weights'].metrics.snr_db:.1f}"
              f" dB, fc1.weights "
              f"{wrong.output_results['weights:fc1.weights'].metrics.snr_db:.1f} dB")
        losses = result.training["losses"]
        print("  loss converted:", " ".join(f"{v:.5f}" for v in losses["converted"]))
        print("  loss source:   ", " ".join(f"{v:.5f}" for v in losses["source"]))
    features = images.reshape(len(images), -1)
    with contextlib.redirect_stdout(io.StringIO()):
        b = KNearestNeighborsClassifierBuilder("x", "digit", 64, default_class_label=-1,
                                               number_of_neighbors=3,
                                               weighting_scheme="inverse_distance")
    knn = ReferenceModel(b.spec).update({"x": features[:1000], "digit": labels[:1000]})
    hits = [knn.predict({"x": f})["digit"] == y for f, y in zip(features[1200:1500], held_y)]
    print(f"\nk-NN (k=3, inverse distance) after update with 1000 examples: held-out "
          f"accuracy {np.mean(hits):.3f}")


if __name__ == "__main__":
    main()
