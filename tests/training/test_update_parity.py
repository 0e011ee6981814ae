"""Training parity: the emulated update of an updatable NeuralNetwork against its torch source
trained with torch.optim on the same mini-batches (weights, held-out predictions, loss
curve), and wrong-on-purpose sources that must fail naming the layer."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from coremltools.models import datatypes
from coremltools.models.neural_network import NeuralNetworkBuilder
from coremltools.models.neural_network.update_optimizer_utils import AdamParams, SgdParams

from pytest_coremlcheck import EquivalenceError
from pytest_coremlcheck.training import UpdateCheck, check_update, torch_trainer

from .builders import quiet
from .cnn import SmallCNN, cnn_data, cnn_spec

SOURCE = SmallCNN()
DATA = cnn_data(16)
HELD_OUT = {"image": cnn_data(4, seed=9)["image"]}


def sgd(b):
    b.set_sgd_optimizer(SgdParams(lr=0.05, batch=8, momentum=0.9))


def adam(b):
    b.set_adam_optimizer(AdamParams(lr=0.01, batch=8, beta1=0.9, beta2=0.999, eps=1e-7))


@pytest.fixture(scope="module")
def sgd_spec():
    return cnn_spec(SOURCE, ["fc1", "fc2"], sgd)


def dense_layers():
    return {"fc1": SOURCE.fc1, "fc2": SOURCE.fc2}


@pytest.fixture(scope="module")
def sgd_result(sgd_spec):
    return check_update(sgd_spec, UpdateCheck(DATA, torch_trainer(SOURCE, dense_layers()),
                                              held_out=HELD_OUT))


def test_sgd_momentum_dense_layers_match_torch(sgd_result):
    result = sgd_result
    assert result.passed, result.failure_table()
    names = set(result.output_results)
    assert {"weights:fc1.weights", "weights:fc1.bias", "weights:fc2.weights",
            "weights:fc2.bias", "updated:probs", "loss per epoch"} <= names
    assert result.output_results["weights:fc2.weights"].metrics.snr_db > 100
    curves = result.training["losses"]
    assert len(curves["converted"]) == len(curves["source"]) == 3
    assert curves["converted"][-1] < curves["converted"][0]  # it learns
    assert result.to_dict()["training"]["config"]["momentum"] == 0.9


def test_adam_with_an_updatable_convolution_matches_torch():
    spec = cnn_spec(SOURCE, ["conv", "fc1", "fc2"], adam, epochs=2)
    trainer = torch_trainer(SOURCE, {"conv": SOURCE.conv, **dense_layers()})
    result = check_update(spec, UpdateCheck(DATA, trainer, held_out=HELD_OUT))
    assert result.passed, result.failure_table()
    assert result.output_results["weights:conv.weights"].metrics.snr_db > 100


def test_mse_regression_head_matches_torch():
    torch.manual_seed(3)
    head = torch.nn.Linear(6, 2)
    b = NeuralNetworkBuilder([("x", datatypes.Array(6))], [("y", datatypes.Array(2))])
    b.add_inner_product("head", head.weight.detach().numpy(), head.bias.detach().numpy(), 6, 2,
                        True, "x", "y")
    b.make_updatable(["head"])
    quiet(b.set_mean_squared_error_loss, "mse", ("y", datatypes.Array(2)))
    b.set_sgd_optimizer(SgdParams(lr=0.05, batch=4, momentum=0.0))
    b.set_epochs(5)
    rng = np.random.default_rng(2)
    data = {"x": rng.normal(size=(10, 6)).astype(np.float32),
            "y_true": rng.normal(size=(10, 2))}
    result = check_update(b.spec, UpdateCheck(data, torch_trainer(head, {"head": head}),
                                              held_out={"x": data["x"][:3]}))
    assert result.passed, result.failure_table()
    assert len(result.training["losses"]["source"]) == 5


def test_wrong_learning_rate_on_the_source_fails_naming_the_layer(sgd_spec):
    right = torch_trainer(SOURCE, dense_layers())

    def wrong(plan):
        config = dataclasses.replace(plan.config, learning_rate=plan.config.learning_rate * 1.5)
        return right(dataclasses.replace(plan, config=config))

    result = check_update(sgd_spec, UpdateCheck(DATA, wrong, held_out=HELD_OUT))
    assert not result.passed
    assert any(f.startswith("weights:fc2.weights: SNR") for f in result.failures)
    assert any(f.startswith("loss per epoch") for f in result.failures)
    assert "weights:fc1.weights" in result.failure_table()


def test_source_that_trains_the_wrong_layer_fails(sgd_spec):
    result = check_update(sgd_spec, UpdateCheck(DATA, torch_trainer(SOURCE, {"fc2": SOURCE.fc2})))
    assert any("returned no weights for layer 'fc1'" in f for f in result.failures)


def test_fixture_records_and_fails(coreml_update_check, sgd_spec):
    ok = coreml_update_check(sgd_spec, UpdateCheck(DATA, torch_trainer(SOURCE, dense_layers())))
    assert ok.passed
    frozen = torch_trainer(SOURCE, {"fc1": SOURCE.fc1, "fc2": SOURCE.fc2})

    def no_training(plan):
        return frozen(dataclasses.replace(plan, batches=[[] for _ in plan.batches]))

    with pytest.raises(EquivalenceError, match=r"weights:fc\d\.\w+: SNR"):
        coreml_update_check(sgd_spec, UpdateCheck(DATA, no_training), name="frozen source")


def test_html_report_plots_both_loss_curves(sgd_result):
    from pytest_coremlcheck.report.html import render

    result = sgd_result
    page = render([result.to_dict()], {})
    assert page.count("<polyline class=\"loss-") == 2
    assert "converted (emulated update)" in page and "Loss per epoch" in page
    first = result.training["losses"]["converted"][0]
    assert f"{first}" in page  # the values are in the tooltip
