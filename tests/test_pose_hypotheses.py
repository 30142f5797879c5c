"""The network's pose hypotheses: several answers an image, the closest to the keypoints kept."""

from __future__ import annotations

import pytest
import torch
from helpers.small_crop import SIZE, intrinsics, keypoints

from s2h_lib.net.model import HandNet
from s2h_lib.net.model_config import ModelConfig
from s2h_lib.net.pose_hypotheses import best_hypothesis, per_hypothesis
from s2h_lib.net.prediction import HandPrediction, reprojection_px


def net(hypotheses: int) -> HandNet:
    config = ModelConfig(
        camera="keypoints",
        keypoint_input=True,
        keypoint_branch=False,
        regressor_image_width=0,
        pose_hypotheses=hypotheses,
    )
    return HandNet(config)


def prediction_with(keypoints2d: torch.Tensor) -> HandPrediction:
    """A prediction of N rows whose only meaningful field is `keypoints2d` (N, 21, 2); the
    joints carry the row's index, to see which row was kept."""
    rows = keypoints2d.shape[0]
    index = torch.arange(rows, dtype=torch.float32)
    zeros = torch.zeros(rows, 3)
    return HandPrediction(
        pose_coeffs=torch.zeros(rows, 30),
        global_rot=zeros,
        joint_angles=torch.zeros(rows, 16, 3),
        betas=torch.zeros(rows, 10),
        scale=torch.ones(rows),
        trans=zeros,
        verts=torch.zeros(rows, 5, 3),
        joints=index[:, None, None].expand(rows, 21, 3).clone(),
        keypoints2d=keypoints2d,
    )


def test_the_option_is_checked():
    with pytest.raises(ValueError, match="pose_hypotheses must be an int >= 1"):
        ModelConfig(camera="keypoints", pose_hypotheses=0)
    with pytest.raises(ValueError, match="needs the keypoint-anchored camera"):
        ModelConfig(pose_hypotheses=2)


def test_reprojection_is_the_confidence_weighted_mean_pixel_distance():
    target = keypoints(1)
    shifted = target.clone()
    shifted[0, :, 0] += 3.0  # every joint 3 px off
    shifted[0, 0, 1] += 4.0  # the wrist 5 px off
    confidence = torch.ones(1, 21)
    confidence[0, 1] = 0.0  # a joint that does not count
    expected = (5.0 + 19 * 3.0) / 20
    torch.testing.assert_close(
        reprojection_px(prediction_with(shifted), target, confidence), torch.tensor([expected])
    )


def test_best_hypothesis_keeps_each_images_closest_answer():
    target = keypoints(2)
    # 3 hypotheses x 2 images, hypothesis-major: image 0 is closest in hypothesis 2, image 1 in 0
    offsets = torch.tensor([4.0, 1.0, 2.0, 8.0, 1.0, 3.0])
    predicted = per_hypothesis(target, 3) + offsets[:, None, None]
    rows = per_hypothesis(target, 3)
    chosen = best_hypothesis(prediction_with(predicted), rows, torch.ones(6, 21), 3)
    assert chosen.joints.shape == (2, 21, 3)
    # rows 4 (hypothesis 2, image 0) and 1 (hypothesis 0, image 1)
    assert chosen.joints[:, 0, 0].tolist() == [4.0, 1.0]
    # with no confident keypoint there is nothing to choose by: the first hypothesis
    unsure = best_hypothesis(prediction_with(predicted), rows, torch.zeros(6, 21), 3)
    assert unsure.joints[:, 0, 0].tolist() == [0.0, 1.0]


def test_one_hypothesis_builds_the_network_as_before():
    single, several = net(1), net(3)
    assert not any("alternatives" in name for name in single.state_dict())
    # the first hypothesis's heads and the trunk start as the single network's
    first = {k: v for k, v in several.state_dict().items() if "alternatives" not in k}
    for name, value in single.regressor.state_dict().items():
        torch.testing.assert_close(first[f"regressor.{name}"], value)


def test_the_network_answers_its_closest_hypothesis_and_trains_only_its_heads():
    images, K = (
        torch.rand(2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(0)),
        intrinsics(2),
    )
    points, confidence = keypoints(2), torch.ones(2, 21)
    single, several = net(1).eval(), net(3).eval()
    with torch.no_grad():
        one = single(images, K, points, confidence)
    pred = several(images, K, points, confidence)
    assert pred.joints.shape == (2, 21, 3) and pred.pose_coeffs.shape == (2, 30)
    # hypothesis 0 is the single network's answer; the chosen one reprojects at least as close
    errors = {
        name: reprojection_px(p, points, confidence)
        for name, p in (("one", one), ("several", pred))
    }
    assert (errors["several"] <= errors["one"] + 1e-4).all(), errors
    pred.joints[:1].sum().backward()  # image 0 only: one hypothesis's heads get a gradient
    heads = [several.regressor.pose, *(h["pose"] for h in several.regressor.alternatives)]
    touched = [
        bool(head[-1].weight.grad is not None and head[-1].weight.grad.abs().sum() > 0)
        for head in heads
    ]
    assert sum(touched) == 1, touched
