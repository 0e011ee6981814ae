"""Input sources: images (resize policies), random tensors, explicit feeds."""

import numpy as np
import pytest
from PIL import Image

from pytest_coremlcheck import images, tensors
from pytest_coremlcheck.coreml.features import Feature
from pytest_coremlcheck.inputs import feeds
from pytest_coremlcheck.inputs.images import resize_image

from .helpers import IMAGES

IMAGE_IN = Feature("image", "image", (1, 3, 48, 64), np.dtype(np.float32), color="RGB")


def test_images_feed_the_same_pixels_to_both_sides():
    samples = images(IMAGES).materialize([IMAGE_IN])
    assert [s.label for s in samples] == sorted(p.name for p in IMAGES.iterdir()
                                                if p.suffix in (".jpg", ".png"))
    for s in samples:
        image = s.coreml["image"]
        assert image.size == (64, 48) and image.mode == "RGB"
        expected = np.asarray(image, dtype=np.float32).transpose(2, 0, 1)[None] / 255
        np.testing.assert_array_equal(s.source["image"], expected)


def test_custom_preprocess_receives_the_resized_image():
    seen = []

    def preprocess(image):
        seen.append(image.size)
        return np.zeros((1, 3, 48, 64), np.float32)

    images(IMAGES / "astronaut.jpg", preprocess=preprocess).materialize([IMAGE_IN])
    assert seen == [(64, 48)]


def test_grayscale_model_gets_grayscale_images():
    gray = Feature("g", "image", (1, 1, 20, 20), np.dtype(np.float32), color="GRAYSCALE")
    s = images(IMAGES / "chelsea.jpg").materialize([gray])[0]
    assert s.coreml["g"].mode == "L" and s.source["g"].shape == (1, 1, 20, 20)


@pytest.mark.parametrize("policy", ["fit", "center_crop", "fill"])
def test_resize_policies_hit_the_size(policy):
    image = Image.new("RGB", (100, 50), (255, 0, 0))
    out = resize_image(image, (40, 40), policy)
    assert out.size == (40, 40)
    pixels = np.asarray(out)
    if policy == "fit":  # letterboxed: black bars above and below
        assert pixels[0, 20].tolist() == [0, 0, 0] and pixels[20, 20, 0] > 200
    else:
        assert pixels[0, 20, 0] > 200


def test_image_errors_name_the_path(tmp_path):
    with pytest.raises(ValueError, match=f"no image files.*{tmp_path}"):
        images(tmp_path).files()
    with pytest.raises(FileNotFoundError, match="nope"):
        images(tmp_path / "nope").files()
    with pytest.raises(ValueError, match="resize"):
        images(tmp_path, resize="stretch")
    (tmp_path / "broken.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="cannot read .*broken.png"):
        images(tmp_path).materialize([IMAGE_IN])


def test_tensors_follow_the_description_and_seed():
    feats = [Feature("x", "array", (2, 3), np.dtype(np.float32)),
             Feature("ids", "array", (1, 5), np.dtype(np.int32))]
    a = tensors(n=3, seed=1, low=0, high=10).materialize(feats)
    b = tensors(n=3, seed=1, low=0, high=10).materialize(feats)
    assert len(a) == 3
    np.testing.assert_array_equal(a[2].coreml["x"], b[2].coreml["x"])
    assert a[0].coreml["x"].dtype == np.float32 and a[0].coreml["x"].shape == (2, 3)
    ids = a[0].coreml["ids"]
    assert ids.dtype == np.int32 and ids.min() >= 0 and ids.max() < 10
    assert not np.array_equal(a[0].coreml["x"], a[1].coreml["x"])


def test_feeds_from_dict_list_and_npz(tmp_path):
    feats = [Feature("x", "array", (1, 2), np.dtype(np.float32))]
    one = feeds({"x": np.ones((1, 2))}).materialize(feats)
    assert len(one) == 1 and one[0].coreml["x"].dtype == np.float32
    two = feeds([{"x": np.ones((1, 2))}, {"x": np.zeros((1, 2))}]).materialize(feats)
    assert len(two) == 2
    path = tmp_path / "in.npz"
    np.savez(path, **{"x/0": np.ones((1, 2)), "x/1": np.zeros((1, 2)), "x/2": np.ones((1, 2))})
    assert len(feeds(path).materialize(feats)) == 3


def test_feed_errors_name_the_input(tmp_path):
    feats = [Feature("x", "array", (1, 2), np.dtype(np.float32))]
    with pytest.raises(ValueError, match="unknown input name.*'?y'?.*inputs are x"):
        feeds({"y": np.ones((1, 2))}).materialize(feats)
    with pytest.raises(ValueError, match="missing input.*x"):
        feeds([{}]).materialize(feats)
    with pytest.raises(FileNotFoundError, match="missing.npz"):
        feeds(tmp_path / "missing.npz").materialize(feats)


def test_random_tensors_name_the_image_preprocess_only_for_image_models():
    arrays = tensors(n=1)
    arrays.materialize([Feature("x", "array", (1, 4), np.dtype(np.float32))])
    assert "images via" not in arrays.describe()
    pictures = tensors(n=1)
    pictures.materialize([Feature("image", "image", (1, 3, 8, 8), np.dtype(np.float32),
                                  color="RGB")])
    assert "images via RGB float32" in pictures.describe()
