"""Hand-built NeuralNetwork specs (``NeuralNetworkBuilder``) for layers converters rarely emit,
checked against numpy: book-era layers, rank-5 shape mapping, preprocessing, image inputs,
classifiers, control flow and updatable models."""

from __future__ import annotations

import numpy as np
import pytest
from coremltools.models import datatypes
from coremltools.models.neural_network import NeuralNetworkBuilder
from coremltools.models.neural_network.update_optimizer_utils import AdamParams, SgdParams
from PIL import Image

from pytest_coremlcheck.reference import ReferenceModel
from pytest_coremlcheck.reference.neuralnetwork import format_summary, training_summary

RNG = np.random.default_rng(0)


def rank5_builder(shape=(3, 5, 6), output=None):
    """A spec-1 builder (RANK5 mapping) with one array input ``data``."""
    return NeuralNetworkBuilder([("data", datatypes.Array(*shape))], [("out", output)])


def run(builder, **feeds):
    return ReferenceModel(builder.spec).predict(feeds)


def test_reflection_and_replication_padding_rank5():
    x = RNG.standard_normal((3, 4, 5)).astype(np.float32)
    b = rank5_builder((3, 4, 5))
    b.add_padding("pad", left=2, right=1, top=1, bottom=2, input_name="data",
                  output_name="r", padding_type="reflection")
    b.add_padding("pad2", left=1, right=0, top=0, bottom=3, input_name="r",
                  output_name="out", padding_type="replication")
    out = run(b, data=x)["out"]
    expected = np.pad(np.pad(x, ((0, 0), (1, 2), (2, 1)), mode="reflect"),
                      ((0, 0), (0, 3), (1, 0)), mode="edge")
    np.testing.assert_allclose(out, expected)


def test_lrn_matches_formula():
    x = RNG.standard_normal((6, 3, 3)).astype(np.float32)
    b = rank5_builder((6, 3, 3))
    b.add_lrn("lrn", "data", "out", alpha=0.3, beta=0.75, local_size=3, k=2.0)
    out = run(b, data=x)["out"]
    sq = np.pad(x ** 2, ((1, 1), (0, 0), (0, 0)))
    window = sq[:-2] + sq[1:-1] + sq[2:]
    np.testing.assert_allclose(out, x / (2.0 + 0.3 / 3 * window) ** 0.75, rtol=1e-5)


def test_instance_normalisation_via_batchnorm():
    x = RNG.standard_normal((4, 5, 6)).astype(np.float32) * 3 + 1
    gamma, beta = RNG.uniform(0.5, 2, 4), RNG.uniform(-1, 1, 4)
    b = rank5_builder((4, 5, 6))
    b.add_batchnorm("in", 4, gamma, beta, input_name="data", output_name="out",
                    compute_mean_var=True, instance_normalization=True, epsilon=1e-5)
    out = run(b, data=x)["out"]
    mean = x.mean(axis=(1, 2), keepdims=True)
    var = x.var(axis=(1, 2), keepdims=True)
    expected = (x - mean) / np.sqrt(var + 1e-5) * gamma[:, None, None] + beta[:, None, None]
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-5)


def test_embedding_legacy_and_nd():
    w = RNG.standard_normal((4, 10)).astype(np.float32)
    bias = RNG.standard_normal(4).astype(np.float32)
    b = NeuralNetworkBuilder([("ids", datatypes.Array(1))], [("out", None)])
    b.add_embedding("emb", W=w, b=bias, input_dim=10, output_channels=4, has_bias=True,
                    input_name="ids", output_name="out")
    out = run(b, ids=np.array([7.0], dtype=np.float32))["out"]
    np.testing.assert_allclose(out.reshape(-1), w[:, 7] + bias, rtol=1e-6)

    b = NeuralNetworkBuilder([("ids", datatypes.Array(3, 1))], [("out", None)],
                             disable_rank5_shape_mapping=True)
    b.add_embedding_nd("emb", "ids", "out", vocab_size=10, embedding_size=4, W=w)
    out = run(b, ids=np.array([[1], [9], [0]], dtype=np.float32))["out"]
    np.testing.assert_allclose(out, w[:, [1, 9, 0]].T, rtol=1e-6)


def test_lut_and_linear_quantized_builder_weights():
    from coremltools.models.neural_network.quantization_utils import (
        _convert_array_to_nbit_quantized_bytes,
    )

    lut = np.array([-1.0, -0.25, 0.5, 2.0], dtype=np.float32)
    idx = RNG.integers(0, 4, (3, 5)).astype(np.uint8)
    raw = _convert_array_to_nbit_quantized_bytes(idx.flatten(), 2).tobytes()
    b = NeuralNetworkBuilder([("data", datatypes.Array(5))], [("out", None)])
    b.add_inner_product("fc", W=raw, b=None, input_channels=5, output_channels=3,
                        has_bias=False, input_name="data", output_name="out",
                        is_quantized_weight=True, quantization_type="lut", nbits=2,
                        quant_lut=lut)
    x = RNG.standard_normal(5).astype(np.float32)
    np.testing.assert_allclose(run(b, data=x)["out"].reshape(-1), lut[idx] @ x, rtol=1e-5)

    q = RNG.integers(0, 256, (3, 5)).astype(np.uint8)
    scale = np.array([0.01, 0.02, 0.03], dtype=np.float32)
    qbias = np.array([-1.0, 0.0, 1.0], dtype=np.float32)
    b = NeuralNetworkBuilder([("data", datatypes.Array(5))], [("out", None)])
    b.add_inner_product("fc", W=q.tobytes(), b=None, input_channels=5, output_channels=3,
                        has_bias=False, input_name="data", output_name="out",
                        is_quantized_weight=True, quantization_type="linear", nbits=8,
                        quant_scale=scale, quant_bias=qbias)
    w = q * scale[:, None] + qbias[:, None]
    np.testing.assert_allclose(run(b, data=x)["out"].reshape(-1), w @ x, rtol=1e-5)


def _image_builder(color: str, size=(4, 5)):
    channels = 1 if color == "GRAYSCALE" else 3
    h, w = size
    b = NeuralNetworkBuilder([("image", datatypes.Array(channels, h, w))], [("out", None)])
    b.add_activation("id", "LINEAR", "image", "out", params=[1.0, 0.0])
    image = b.spec.description.input[0].type
    image.ClearField("multiArrayType")
    image.imageType.width, image.imageType.height = w, h
    image.imageType.colorSpace = {"GRAYSCALE": 10, "RGB": 20, "BGR": 30}[color]
    return b


@pytest.mark.parametrize("color", ["RGB", "BGR", "GRAYSCALE"])
def test_preprocessing_scaler_per_layout(color):
    b = _image_builder(color)
    b.set_pre_processing_parameters(image_input_names=["image"], is_bgr=color == "BGR",
                                    red_bias=-10.0, green_bias=-20.0, blue_bias=-30.0,
                                    gray_bias=-5.0, image_scale=0.5)
    pixels = RNG.integers(0, 256, (4, 5, 3), dtype=np.uint8)
    image = Image.fromarray(pixels, mode="RGB")
    out = run(b, image=image)["out"].reshape(-1, 4, 5)
    if color == "GRAYSCALE":
        gray = np.asarray(image.convert("L"), dtype=np.float32)
        expected = (gray * 0.5 - 5.0)[None]
    else:
        rgb = pixels.transpose(2, 0, 1).astype(np.float32)
        biases = np.array([-10.0, -20.0, -30.0], dtype=np.float32)
        if color == "BGR":
            rgb, biases = rgb[::-1], biases[::-1]
        expected = rgb * 0.5 + biases[:, None, None]
    np.testing.assert_allclose(out, expected, rtol=1e-6)


def test_preprocessing_mean_image():
    b = _image_builder("RGB")
    mean = RNG.uniform(0, 255, (3, 4, 5)).astype(np.float32)
    entry = b.spec.neuralNetwork.preprocessing.add()
    entry.featureName = "image"
    entry.meanImage.meanImage.extend(mean.flatten().tolist())
    pixels = RNG.integers(0, 256, (4, 5, 3), dtype=np.uint8)
    out = run(b, image=Image.fromarray(pixels, mode="RGB"))["out"].reshape(3, 4, 5)
    np.testing.assert_allclose(out, pixels.transpose(2, 0, 1) - mean, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("labels", [["a", "b", "c", "d"], [10, 20, 30, 40]])
def test_classifier_labels_and_probabilities(labels):
    w = RNG.standard_normal((4, 3)).astype(np.float32)
    b = NeuralNetworkBuilder([("data", datatypes.Array(3))], [("probs", None)],
                             mode="classifier")
    b.add_inner_product("fc", W=w, b=None, input_channels=3, output_channels=4,
                        has_bias=False, input_name="data", output_name="logits")
    b.add_softmax("sm", "logits", "probs")
    b.set_class_labels(labels, predicted_feature_name="label")
    x = RNG.standard_normal(3).astype(np.float32)
    out = run(b, data=x)
    logits = w @ x
    probs = np.exp(logits - logits.max())
    probs /= probs.sum()
    assert out["label"] == labels[int(np.argmax(probs))]
    assert type(out["label"]) is type(labels[0])
    assert list(out["probs"]) == labels
    np.testing.assert_allclose([out["probs"][k] for k in labels], probs, rtol=1e-5)


def _add_outputs(spec, *names):
    for name in names:
        output = spec.description.output.add()
        output.name = name
        output.type.multiArrayType.dataType = 65568  # FLOAT32


def test_rank5_legacy_shape_layers():
    x = RNG.standard_normal((4, 2, 3)).astype(np.float32)
    b = rank5_builder((4, 2, 3))
    b.add_reshape("rs", "data", "r", target_shape=(2, 4, 3), mode=0)
    b.add_permute("perm", dim=(0, 3, 1, 2), input_name="r", output_name="p")
    b.add_flatten("fl", mode=0, input_name="p", output_name="f")
    b.add_upsample("up", 2, 1, "data", "u", mode="NN")
    b.add_slice("sl", "u", "s", axis="height", start_index=1, end_index=-1, stride=2)
    b.add_split("sp", "data", ["a", "c"])
    b.add_elementwise("cat", ["c", "a"], "cc", mode="CONCAT")
    b.add_elementwise("out", ["cc", "data"], "out", mode="ADD")
    _add_outputs(b.spec, "f", "s")
    out = ReferenceModel(b.spec).predict({"data": x})
    np.testing.assert_allclose(out["out"], np.concatenate([x[2:], x[:2]]) + x, rtol=1e-6)
    permuted = x.reshape(2, 4, 3).transpose(2, 0, 1)
    np.testing.assert_allclose(out["f"].reshape(-1), permuted.reshape(-1))
    upsampled = np.repeat(x, 2, axis=1)
    np.testing.assert_allclose(out["s"], upsampled[:, 1:-1:2, :])


def test_rank5_reduce_unary_scale_and_l2():
    x = RNG.uniform(0.5, 2.0, (3, 4, 5)).astype(np.float32)
    gamma = RNG.uniform(0.5, 1.5, 3).astype(np.float32)
    beta = RNG.uniform(-1, 1, 3).astype(np.float32)
    b = rank5_builder((3, 4, 5))
    b.add_scale("sc", W=gamma, b=beta, has_bias=True, input_name="data", output_name="s",
                shape_scale=[3], shape_bias=[3])
    b.add_unary("un", "s", "u", mode="power", alpha=2.0)
    b.add_reduce("red", "u", "r", axis="HW", mode="sum")
    b.add_l2_normalize("l2", "data", "l", epsilon=1e-6)
    b.add_mvn("mvn", "data", "m", across_channels=False, normalize_variance=True,
              epsilon=1e-6)
    b.add_elementwise("o", ["l", "m"], "out", mode="MULTIPLY")
    _add_outputs(b.spec, "r")
    out = ReferenceModel(b.spec).predict({"data": x})
    s = x * gamma[:, None, None] + beta[:, None, None]
    np.testing.assert_allclose(out["r"].reshape(3), (s ** 2).sum(axis=(1, 2)), rtol=1e-5)
    l2 = x / np.sqrt((x ** 2).sum() + 1e-6)
    mvn = (x - x.mean(axis=(1, 2), keepdims=True)) / np.sqrt(
        x.var(axis=(1, 2), keepdims=True) + 1e-6)
    np.testing.assert_allclose(out["out"], l2 * mvn, rtol=1e-4, atol=1e-6)


def test_loop_and_branch():
    b = NeuralNetworkBuilder([("x", datatypes.Array(1)), ("n", datatypes.Array(1))],
                             [("out", None)], disable_rank5_shape_mapping=True)
    b.add_copy("init", "x", "acc")
    loop = b.add_loop("loop", input_name="n")
    body = NeuralNetworkBuilder(nn_spec=loop.loop.bodyNetwork, disable_rank5_shape_mapping=True)
    body.add_elementwise("double", ["acc", "acc"], "acc2", mode="ADD")
    body.add_copy("store", "acc2", "acc")
    b.add_greater_than("gt", ["acc"], "big", alpha=100.0)
    branch = b.add_branch("branch", "big")
    if_b = NeuralNetworkBuilder(nn_spec=branch.branch.ifBranch,
                                disable_rank5_shape_mapping=True)
    if_b.add_activation("neg", "LINEAR", "acc", "out", params=[-1.0, 0.0])
    else_b = NeuralNetworkBuilder(nn_spec=branch.branch.elseBranch,
                                  disable_rank5_shape_mapping=True)
    else_b.add_copy("same", "acc", "out")
    model = ReferenceModel(b.spec)
    feeds = {"x": np.array([3.0], dtype=np.float32)}
    out = model.predict({**feeds, "n": np.array([4.0], dtype=np.float32)})["out"]
    np.testing.assert_allclose(out, [48.0])
    out = model.predict({**feeds, "n": np.array([6.0], dtype=np.float32)})["out"]
    np.testing.assert_allclose(out, [-192.0])


def _updatable_builder():
    b = NeuralNetworkBuilder([("input", datatypes.Array(3))], [("output", None)])
    w1 = RNG.uniform(-0.5, 0.5, (3, 3))
    b.add_inner_product("ip1", W=w1, b=None, input_channels=3, output_channels=3,
                        has_bias=False, input_name="input", output_name="hidden")
    b.add_softmax("softmax", "hidden", "output")
    b.make_updatable(["ip1"])
    return b, w1


def test_updatable_model_inference_and_training_summary():
    b, w1 = _updatable_builder()
    b.set_categorical_cross_entropy_loss(name="cross_entropy", input="output")
    b.set_sgd_optimizer(SgdParams(lr=0.02, batch=8, momentum=0.9))
    b.set_epochs(20, allowed_set=[10, 20, 30])
    x = RNG.standard_normal(3).astype(np.float32)
    out = ReferenceModel(b.spec).predict({"input": x})["output"].reshape(-1)
    logits = w1 @ x
    np.testing.assert_allclose(out, np.exp(logits) / np.exp(logits).sum(), rtol=1e-5)

    summary = training_summary(b.spec)
    assert summary["updatable"] is True
    assert summary["updatable_layers"] == [{"name": "ip1", "type": "innerProduct"}]
    assert summary["losses"][0]["type"] == "categorical_cross_entropy"
    assert summary["losses"][0]["input"] == "output"
    opt = summary["optimizer"]
    assert opt["type"] == "sgd"
    assert opt["learning_rate"]["default"] == pytest.approx(0.02)
    assert opt["mini_batch_size"]["default"] == 8
    assert opt["momentum"]["default"] == pytest.approx(0.9)
    assert summary["epochs"] == {"default": 20, "allowed": [10, 20, 30]}
    names = {f["name"] for f in summary["training_inputs"]}
    assert "input" in names
    text = format_summary(summary)
    assert "sgd" in text and "cross_entropy" in text and "epochs: 20" in text


def test_updatable_adam_mse_summary_and_plain_model():
    b, _ = _updatable_builder()
    b.set_mean_squared_error_loss(name="mse", input_feature=("output", datatypes.Array(3)))
    b.set_adam_optimizer(AdamParams(lr=0.001, batch=4, beta1=0.8, beta2=0.95, eps=1e-7))
    b.set_epochs(3)
    summary = training_summary(b.spec)
    assert summary["losses"][0]["type"] == "mean_squared_error"
    assert summary["optimizer"]["type"] == "adam"
    assert summary["optimizer"]["beta1"]["default"] == pytest.approx(0.8)
    assert summary["epochs"]["default"] == 3
    plain = rank5_builder()
    plain.add_activation("relu", "RELU", "data", "out")
    assert training_summary(plain.spec) == {"updatable": False}


def test_reorganize_crop_and_resize_bilinear():
    x = RNG.standard_normal((4, 4, 6)).astype(np.float32)
    b = rank5_builder((4, 4, 6))
    b.add_reorganize_data("s2d", "data", "s", mode="SPACE_TO_DEPTH", block_size=2)
    b.add_reorganize_data("d2s", "s", "d", mode="DEPTH_TO_SPACE", block_size=2)
    b.add_crop("crop", left=1, right=2, top=0, bottom=1, offset=None, input_names=["d"],
               output_name="c")
    b.add_resize_bilinear("rb", "c", "out", target_height=5, target_width=7,
                          mode="STRICT_ALIGN_ENDPOINTS_MODE")
    out = run(b, data=x)["out"]
    cropped = x[:, 0:3, 1:4]
    import torch

    expected = torch.nn.functional.interpolate(torch.from_numpy(cropped)[None], size=(5, 7),
                                               mode="bilinear", align_corners=True)[0]
    np.testing.assert_allclose(out, expected.numpy(), rtol=1e-5, atol=1e-6)


def test_notes_report_precision_and_training_setup():
    b, _ = _updatable_builder()
    b.set_categorical_cross_entropy_loss(name="ce", input="output")
    b.set_sgd_optimizer(SgdParams(lr=0.1, batch=2))
    b.set_epochs(7)
    notes = ReferenceModel(b.spec, nn_precision="fp16").notes
    assert notes[0].startswith("NeuralNetwork spec v4 (neuralNetwork) run in fp16")
    assert any("training inputs" in n and "epochs: 7" in n and "sgd" in n for n in notes)
