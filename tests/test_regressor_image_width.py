"""How much of the image the pose regressor reads (`ModelConfig.regressor_image_width`)."""

from __future__ import annotations

import pytest
import torch

from s2h_lib.net.model import HandNet
from s2h_lib.net.model_config import ModelConfig

SIZE = 64
FOCAL = 150.0


def inputs(count: int = 2):
    """Two different images with the same keypoints: (images, K, keypoints, confidence)."""
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(count, 3, SIZE, SIZE, generator=generator)
    K = torch.tensor([[FOCAL, 0.0, SIZE / 2], [0.0, FOCAL, SIZE / 2], [0.0, 0.0, 1.0]])
    keypoints = torch.tensor([[[20.0 + 1.2 * i, 50.0 - 1.5 * i] for i in range(21)]] * count)
    return images, K.expand(count, 3, 3).clone(), keypoints, torch.ones(count, 21)


def network(width: int | None) -> HandNet:
    config = ModelConfig(
        camera="keypoints",
        keypoint_input=True,
        keypoint_branch=False,
        regressor_image_width=width,
    )
    return HandNet(config).eval()


def pose_spread(net: HandNet) -> float:
    """The largest difference between the pose coefficients of the two images."""
    with torch.no_grad():
        pose = net(*inputs()).pose_coeffs
    return float((pose[0] - pose[1]).abs().max())


def test_the_full_image_features_change_the_pose():
    assert pose_spread(network(None)) > 1e-4


def test_without_the_image_the_pose_comes_from_the_keypoints_and_the_late_encoder_never_runs():
    net = network(0)
    calls = []
    net.encoder.late.register_forward_hook(lambda *_: calls.append(1))
    assert pose_spread(net) < 1e-6
    assert calls == []
    with torch.no_grad():
        pred = net(*inputs())
    assert pred.texture.shape[0] == 2 and torch.isfinite(pred.lights).all()


def test_a_narrow_image_input_starts_closed_and_opens_as_it_learns():
    net = network(4)
    assert pose_spread(net) < 1e-6
    net.train()
    # a loss that rewards telling the two images apart reaches the zero-initialised projection
    pose = net(*inputs()).pose_coeffs
    (pose[1].sum() - pose[0].sum()).backward()
    assert net.regressor.image.weight.grad.abs().sum() > 0.0
    torch.optim.SGD(net.regressor.parameters(), lr=0.1).step()
    assert pose_spread(net.eval()) > 1e-4


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"regressor_image_width": -1, "keypoint_input": True}, "must be None or >= 0"),
        ({"regressor_image_width": 0}, "set keypoint_input=True and camera='keypoints'"),
        (
            {"regressor_image_width": 0, "keypoint_input": True, "camera": "regressed"},
            "set keypoint_input=True and camera='keypoints'",
        ),
    ],
)
def test_bad_widths_are_refused(overrides, message):
    with pytest.raises(ValueError, match=message):
        ModelConfig(**({"camera": "keypoints"} | overrides))
