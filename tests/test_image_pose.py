"""The image pose head: an answer from the image where the detector found no hand, learnt from
the anchored answers (distillation, no 3D label)."""

from __future__ import annotations

import pytest
import torch
from helpers.small_crop import SIZE, intrinsics, keypoints

from s2h_lib.data.sample import HandSample
from s2h_lib.hand.rotations import axis_angle_to_matrix
from s2h_lib.losses import terms
from s2h_lib.losses.loss_config import LossConfig
from s2h_lib.losses.objective import compute_losses
from s2h_lib.net.hand_in_camera import CameraPose, network_hand_model, place_in_camera, posed_hand
from s2h_lib.net.mirror import mirror_prediction
from s2h_lib.net.model import HandNet
from s2h_lib.net.model_config import ModelConfig


def image_net(**overrides) -> HandNet:
    config = {
        "camera": "keypoints",
        "keypoint_input": True,
        "keypoint_branch": False,
        "regressor_image_width": 0,
        "without_anchors": "image",
    }
    return HandNet(ModelConfig(**(config | overrides)))


def missed_second(count: int = 3) -> torch.Tensor:
    """(count, 21) confidences: row 1 has no hand found, the others all joints."""
    confidence = torch.ones(count, 21)
    confidence[1] = 0.0
    return confidence


def test_an_untrained_head_answers_the_mean_hand_where_no_hand_was_found():
    torch.manual_seed(0)
    net = image_net().eval()
    with torch.no_grad():
        pred = net(torch.rand(3, 3, SIZE, SIZE), intrinsics(3), keypoints(3), missed_second())
    assert torch.all(pred.pose_coeffs[1] == 0) and torch.all(pred.betas[1] == 0)
    assert pred.pose_coeffs[0].abs().sum() > 0
    mean_hand = net.articulation(torch.zeros(1, 30), torch.zeros(1, 10))
    torch.testing.assert_close(pred.image_articulation, mean_hand.expand(3, 21, 3))


@pytest.mark.parametrize("hypotheses", [1, 2])
def test_the_rows_without_a_hand_get_the_heads_answer_and_the_others_their_own(hypotheses):
    torch.manual_seed(0)
    net = image_net(pose_hypotheses=hypotheses).eval()
    with torch.no_grad():
        torch.nn.init.normal_(net.image_pose.layers[-1].weight, std=0.05)
        images = torch.rand(3, 3, SIZE, SIZE)
        _, pooled = net.encoder((images - net.pixel_mean) / net.pixel_std)
        pose_coeffs, betas = net.image_pose(pooled)
        pred = net(images, intrinsics(3), keypoints(3), missed_second())
    torch.testing.assert_close(pred.pose_coeffs[1], pose_coeffs[1])
    torch.testing.assert_close(pred.betas[1], betas[1])
    assert not torch.allclose(pred.pose_coeffs[0], pose_coeffs[0])
    torch.testing.assert_close(pred.image_articulation, net.articulation(pose_coeffs, betas))


def test_the_head_is_deterministic_at_inference_and_in_the_regressor_group():
    net = image_net().eval()
    images = torch.rand(2, 3, SIZE, SIZE)
    with torch.no_grad():
        torch.nn.init.normal_(net.image_pose.layers[-1].weight, std=0.05)
        first = net(images, intrinsics(2), keypoints(2), missed_second(2))
        second = net(images, intrinsics(2), keypoints(2), missed_second(2))
    torch.testing.assert_close(first.image_articulation, second.image_articulation)
    head = {id(p) for p in net.image_pose.parameters()}
    assert head <= {id(p) for p in net.parameter_groups()["regressor"]}
    net.set_trainable({"regressor"})
    assert all(p.requires_grad for p in net.image_pose.parameters())
    assert not any(p.requires_grad for p in net.encoder.parameters())


def test_hand_frame_joints_undo_the_camera():
    torch.manual_seed(0)
    layer = network_hand_model(30, "right", None)
    camera = CameraPose(
        pose_coeffs=torch.randn(3, 30),
        betas=torch.randn(3, 10) * 0.5,
        rotation=torch.eye(3).expand(3, 3, 3),
        global_rot=torch.randn(3, 3),
        scale=torch.tensor([0.9, -1.2, 0.4]),
        trans=torch.tensor([[0.0, 0.0, 0.6], [0.05, -0.02, 0.5], [0.1, 0.1, 1.0]]),
    )
    camera.rotation = axis_angle_to_matrix(camera.global_rot)
    model_joints = posed_hand(camera, layer).joints
    joints = place_in_camera(model_joints, camera)
    recovered = terms.hand_frame_joints(joints, camera.scale, camera.global_rot)
    torch.testing.assert_close(recovered, model_joints - model_joints[:, :1], atol=1e-6, rtol=0)


def test_image_pose_loss_is_the_mean_joint_distance_over_the_anchored_rows():
    student = torch.zeros(3, 21, 3)
    teacher = torch.zeros(3, 21, 3)
    teacher[0, :, 0] = 0.003  # 3 mm at every joint
    teacher[1, :5, 1] = 0.021  # 21 mm at 5 of 21 joints: 5 mm on average
    teacher[2] = 1.0  # a row without a hand found: ignored
    teacher.requires_grad_(True)
    student.requires_grad_(True)
    anchored = torch.tensor([True, True, False])
    loss = terms.image_pose_loss(student, teacher, anchored)
    torch.testing.assert_close(loss, torch.tensor(0.004))
    loss.backward()
    assert teacher.grad is None
    assert student.grad[2].abs().sum() == 0 and student.grad[0].abs().sum() > 0


def test_the_term_teaches_the_head_only_and_is_absent_without_one():
    torch.manual_seed(0)
    net = image_net()
    net.set_trainable({"encoder3d", "regressor"})
    batch = HandSample(
        image=torch.rand(3, 3, SIZE, SIZE),
        K=intrinsics(3),
        keypoints=keypoints(3),
        confidence=missed_second(),
    )
    pred = net(batch.image, batch.K, batch.keypoints, batch.confidence)
    only_image_pose = LossConfig(weights={t: 0.0 for t in LossConfig().weights} | {"image_pose": 1})
    result = compute_losses(pred, batch, net.faces, only_image_pose, stage="shape")
    assert set(result.terms) == {"image_pose"} and result.total > 0
    result.total.backward()
    assert all(p.grad is not None for p in net.image_pose.parameters())
    others = [*net.regressor.parameters(), *net.encoder.parameters()]
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in others)

    plain = HandNet(ModelConfig(camera="keypoints", keypoint_input=True, keypoint_branch=False))
    pred = plain(batch.image, batch.K, batch.keypoints, batch.confidence)
    result = compute_losses(pred, batch, plain.faces, LossConfig(), stage="shape")
    assert pred.image_articulation is None and "image_pose" not in result.terms


def test_distillation_moves_the_head_towards_the_anchored_answers():
    torch.manual_seed(0)
    net = image_net()
    net.set_trainable({"regressor"})
    batch = HandSample(
        image=torch.rand(8, 3, SIZE, SIZE),
        K=intrinsics(8),
        keypoints=keypoints(8) + torch.randn(8, 21, 2),
        confidence=torch.ones(8, 21),
    )
    only_image_pose = LossConfig(weights={t: 0.0 for t in LossConfig().weights} | {"image_pose": 1})
    optimiser = torch.optim.Adam(net.image_pose.parameters(), lr=1e-3)

    def loss() -> torch.Tensor:
        pred = net(batch.image, batch.K, batch.keypoints, batch.confidence)
        return compute_losses(pred, batch, net.faces, only_image_pose, stage="shape").total

    net.eval()
    with torch.no_grad():
        before = loss()
    net.train()
    for _ in range(60):
        optimiser.zero_grad()
        loss().backward()
        optimiser.step()
    net.eval()
    with torch.no_grad():
        after = loss()
    assert after < 0.7 * before


def test_mirroring_back_reflects_the_heads_joints():
    net = image_net().eval()
    with torch.no_grad():
        torch.nn.init.normal_(net.image_pose.layers[-1].weight, std=0.05)
        pred = net(torch.rand(2, 3, SIZE, SIZE), intrinsics(2), keypoints(2), missed_second(2))
    back, joints = mirror_prediction(pred, SIZE).image_articulation, pred.image_articulation
    torch.testing.assert_close(back[..., 0], -joints[..., 0])
    torch.testing.assert_close(back[..., 1:], joints[..., 1:])


def test_the_option_is_checked_and_old_model_files_still_read():
    with pytest.raises(ValueError, match="without_anchors must be one of"):
        ModelConfig(camera="keypoints", without_anchors="guess")
    with pytest.raises(ValueError, match="without_anchors='image' needs anchor keypoints"):
        ModelConfig(without_anchors="image")
    old = {"camera": "keypoints", "keypoint_input": True, "mean_hand_without_anchors": True}
    assert ModelConfig.from_dict(old).without_anchors == "mean"
    old["mean_hand_without_anchors"] = False
    assert ModelConfig.from_dict(old).without_anchors == "regressed"
