"""The keypoint-anchored camera: closed-form roll, scale and translation inside the network."""

from __future__ import annotations

import math

import pytest
import torch

from s2h_lib.hand.hand_model import ManoLayer
from s2h_lib.hand.skeleton import MIDDLE_PROXIMAL_LENGTH_M, middle_proximal_length
from s2h_lib.net.camera_solve import (
    CAMERA_Y,
    CAMERA_Z,
    VIEWS,
    about_axis,
    anchor_to_keypoints,
    choose_view,
    reprojection_error,
    solve_translation,
)
from s2h_lib.net.initial_pose import initial_rotation
from s2h_lib.net.keypoint_features import canonical_keypoints
from s2h_lib.net.model import HandNet
from s2h_lib.net.model_config import ModelConfig
from s2h_lib.render.rasterize import project

SIZE = 128
FOCAL = 300.0


def intrinsics(count: int) -> torch.Tensor:
    K = torch.tensor([[FOCAL, 0.0, SIZE / 2], [0.0, FOCAL, SIZE / 2], [0.0, 0.0, 1.0]])
    return K.expand(count, 3, 3).clone()


@pytest.fixture(scope="module")
def rest_joints() -> torch.Tensor:
    """(2, 21, 3) two posed open-model hands in their model frame, float64."""
    layer = ManoLayer(use_pca=True, ncomps=30, flat_hand_mean=False).double()
    generator = torch.Generator().manual_seed(3)
    pose = torch.cat([torch.zeros(2, 3), 0.8 * torch.randn(2, 30, generator=generator)], 1)
    _, joints = layer(pose.double())
    return joints


def placed(joints: torch.Tensor, rotation: torch.Tensor, scale: float, trans: torch.Tensor):
    return trans[:, None] + scale * joints @ rotation.transpose(-1, -2)


def rotation_angle_deg(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(N,) degrees between rotations a and b (N, 3, 3)."""
    trace = (a.transpose(-1, -2) @ b).diagonal(0, -2, -1).sum(-1)
    return torch.rad2deg(torch.arccos(((trace - 1) / 2).clamp(-1, 1)))


def seen_by_a_camera(joints: torch.Tensor):
    """The two hands `joints` (2, 21, 3) shown palm first, rolled in the image and placed in
    front of the camera: the palm view (2, 3, 3), the true rotation (2, 3, 3) and translation
    (2, 3), K (2, 3, 3) and the projected keypoints (2, 21, 2)."""
    view = initial_rotation("right").double().expand(2, 3, 3)
    rotation = about_axis(torch.tensor([0.9, -2.4], dtype=torch.float64), CAMERA_Z) @ view
    trans = torch.tensor([[0.03, -0.02, 0.55], [-0.05, 0.04, 0.7]], dtype=torch.float64)
    K = intrinsics(2).double()
    keypoints, _ = project(placed(joints, rotation, 1.0, trans), K, 1e-2)
    return view, rotation, trans, K, keypoints


def test_recovers_the_roll_and_translation_of_a_hand_seen_by_a_camera(rest_joints):
    count = rest_joints.shape[0]
    view, truth_rotation, truth_trans, K, keypoints = seen_by_a_camera(rest_joints)
    scale = torch.ones(count, dtype=torch.float64)
    weights = torch.ones(count, 21, dtype=torch.float64)
    rotation, trans, solved = anchor_to_keypoints(rest_joints, view, scale, keypoints, weights, K)
    assert solved.all()
    reprojected, _ = project(placed(rest_joints, rotation, 1.0, trans), K, 1e-2)
    # the roll is solved on the image-plane shape, so perspective leaves a little error
    assert (reprojected - keypoints).norm(dim=-1).mean() < 1.0
    assert rotation_angle_deg(rotation, truth_rotation).max() < 3.0
    torch.testing.assert_close(trans, truth_trans, atol=5e-3, rtol=0)


def test_the_translation_minimises_the_pixel_error_of_noisy_keypoints(rest_joints):
    """With noise in the keypoints no translation fits them exactly; the solved one is the
    minimum of the weighted pixel error (so not pulled towards the camera, as the algebraic
    error that is the depth times it would be): moving it 1 mm any way makes the error larger."""
    _, rotation, trans, K, keypoints = seen_by_a_camera(rest_joints)
    generator = torch.Generator().manual_seed(4)
    noisy = keypoints + 4.0 * torch.randn(keypoints.shape, generator=generator, dtype=torch.float64)
    weights = torch.rand(2, 21, generator=generator, dtype=torch.float64) + 0.5
    offsets = placed(rest_joints, rotation, 1.0, torch.zeros(2, 3, dtype=torch.float64))
    solved = solve_translation(offsets, noisy, K, weights)

    def squared_error(t: torch.Tensor) -> torch.Tensor:
        projected, _ = project(offsets + t[:, None], K, 1e-2)
        return (weights * (projected - noisy).square().sum(-1)).sum(-1)

    at_solution = squared_error(solved)
    for axis in range(3):
        for sign in (-1.0, 1.0):
            moved = solved.clone()
            moved[:, axis] += sign * 1e-3
            assert (squared_error(moved) > at_solution).all(), (axis, sign)
    # and near the truth: 4 px of noise on 21 points of a 40-50 px hand, a few % of the depth
    assert ((solved - trans).norm(dim=-1) < 0.05 * trans[:, CAMERA_Z]).all()


def test_too_few_confident_keypoints_are_not_solved(rest_joints):
    count = rest_joints.shape[0]
    view = initial_rotation("right").double().expand(count, 3, 3)
    keypoints = torch.full((count, 21, 2), 64.0, dtype=torch.float64)
    weights = torch.zeros(count, 21, dtype=torch.float64)
    weights[0, :2] = 1.0
    scale = torch.ones(count, dtype=torch.float64)
    K = intrinsics(count).double()
    rotation, trans, solved = anchor_to_keypoints(rest_joints, view, scale, keypoints, weights, K)
    assert not solved.any()
    torch.testing.assert_close(rotation, view)
    assert (trans == 0).all()


def test_gradients_through_the_solve_match_finite_differences(rest_joints):
    view = initial_rotation("right").double()[None]
    keypoints = torch.tensor([[[40.0 + 2.5 * i, 90.0 - 3.0 * i] for i in range(21)]])
    keypoints = (
        keypoints.double()
        + torch.randn(1, 21, 2, generator=torch.Generator().manual_seed(0)).double()
    )
    K = intrinsics(1).double()

    def reprojection(points: torch.Tensor) -> torch.Tensor:
        weights = torch.ones(1, 21, dtype=torch.float64)
        rotation, trans, _ = anchor_to_keypoints(
            points, view, torch.ones(1).double(), keypoints, weights, K
        )
        projected, _ = project(placed(points, rotation, 1.0, trans), K, 1e-2)
        return (projected - keypoints).square().sum()

    points = rest_joints[:1].clone().requires_grad_(True)
    assert torch.autograd.gradcheck(reprojection, (points,), eps=1e-6, atol=1e-4)


def test_canonical_keypoints_ignore_position_size_and_roll():
    generator = torch.Generator().manual_seed(1)
    keypoints = 20 * torch.randn(1, 21, 2, generator=generator) + 64
    confidence = torch.rand(1, 21, generator=generator)
    angle = torch.tensor(1.1)
    turn = torch.tensor([[angle.cos(), -angle.sin()], [angle.sin(), angle.cos()]])
    moved = 1.7 * keypoints @ turn.T + torch.tensor([13.0, -8.0])
    torch.testing.assert_close(
        canonical_keypoints(moved, confidence),
        canonical_keypoints(keypoints, confidence),
        atol=1e-4,
        rtol=0,
    )
    features = canonical_keypoints(keypoints, confidence)
    assert features.shape == (1, 63)
    canon = features[0, :42].view(21, 2)
    bone = canon[9] - canon[0]
    assert bone[0].abs() < 1e-4 and bone[1] < 0, "wrist -> middle MCP points up the image"


def anchored_net(**overrides) -> HandNet:
    config = {"camera": "keypoints", "keypoint_input": True, "keypoint_branch": False}
    return HandNet(ModelConfig(**(config | overrides))).eval()


def test_anchored_network_puts_the_hand_on_the_keypoints_at_the_prior_scale():
    torch.manual_seed(0)
    net = anchored_net()
    count = 2
    keypoints = torch.tensor([[[50.0 + 1.5 * i, 85.0 - 2.0 * i] for i in range(21)]] * count)
    confidence = torch.ones(count, 21)
    with torch.no_grad():
        pred = net(torch.rand(count, 3, 64, 64), intrinsics(count), keypoints, confidence)
    bone = middle_proximal_length(pred.joints)
    torch.testing.assert_close(bone, torch.full_like(bone, MIDDLE_PROXIMAL_LENGTH_M))
    centre_error = (pred.keypoints2d.mean(1) - keypoints.mean(1)).norm(dim=-1)
    assert (centre_error < 3.0).all(), centre_error
    assert (pred.joints[..., 2] > 0).all()


def test_anchored_network_needs_keypoints_or_a_2d_branch():
    net = anchored_net()
    with pytest.raises(ValueError, match="pass keypoints to forward"):
        net(torch.rand(1, 3, 64, 64), intrinsics(1))
    with_branch = anchored_net(
        keypoint_branch=True, num_stacks=1, keypoint_features=8, hourglass_depth=1
    )
    with torch.no_grad():
        pred = with_branch(torch.rand(1, 3, 64, 64), intrinsics(1))
    assert torch.isfinite(pred.verts).all()


def test_regressed_camera_ignores_given_keypoints():
    torch.manual_seed(0)
    net = HandNet(ModelConfig(keypoint_branch=False)).eval()
    images, K = torch.rand(1, 3, 64, 64), intrinsics(1)
    with torch.no_grad():
        plain = net(images, K)
        given = net(images, K, torch.full((1, 21, 2), math.nan), torch.ones(1, 21))
    torch.testing.assert_close(plain.verts, given.verts)


def test_a_hand_the_detector_missed_gets_the_mean_hand_and_the_others_their_own():
    torch.manual_seed(0)
    net = anchored_net(keypoint_input=True, without_anchors="mean")
    keypoints = torch.tensor([[[50.0 + 1.5 * i, 85.0 - 2.0 * i] for i in range(21)]] * 3)
    confidence = torch.ones(3, 21)
    confidence[1] = 0.0  # no hand found
    confidence[2, 2:] = 0.0  # two confident joints: too few to place the hand
    with torch.no_grad():
        pred = net(torch.rand(3, 3, 64, 64), intrinsics(3), keypoints, confidence)
    assert pred.pose_coeffs[0].abs().sum() > 0 and pred.betas[0].abs().sum() > 0
    for missed in (1, 2):
        assert torch.all(pred.pose_coeffs[missed] == 0) and torch.all(pred.betas[missed] == 0)
    torch.testing.assert_close(pred.joint_angles[1, 1:], pred.joint_angles[2, 1:])
    with pytest.raises(ValueError, match="without_anchors='mean' needs anchor keypoints"):
        ModelConfig(without_anchors="mean")


def test_reprojection_error_is_the_weighted_mean_pixel_distance():
    K = intrinsics(1).double()
    points = torch.zeros(1, 21, 3, dtype=torch.float64)
    trans = torch.tensor([[0.0, 0.0, 0.5]], dtype=torch.float64)
    keypoints = torch.full((1, 21, 2), SIZE / 2, dtype=torch.float64)
    keypoints[0, 0] += torch.tensor([3.0, 4.0], dtype=torch.float64)  # 5 px off
    keypoints[0, 1] += torch.tensor([6.0, 8.0], dtype=torch.float64)  # 10 px off, weight 0
    weights = torch.ones(1, 21, dtype=torch.float64)
    weights[0, 1] = 0.0
    error = reprojection_error(points, trans, keypoints, weights, K)
    torch.testing.assert_close(error, torch.tensor([5.0 / 20], dtype=torch.float64))


def test_choose_view_turns_a_hand_seen_from_the_wrong_side_back(rest_joints):
    count = rest_joints.shape[0]
    _, truth, _, K, keypoints = seen_by_a_camera(rest_joints)
    weights = torch.ones(count, 21, dtype=torch.float64)
    scale = torch.ones(count, dtype=torch.float64)
    yaws = torch.tensor(list(VIEWS.values()), dtype=torch.float64)
    # the network's guess: row 0 shows the back (turned half a turn), row 1 is right
    back = about_axis(torch.tensor(math.pi, dtype=torch.float64), CAMERA_Y)
    guess = torch.stack([back @ truth[0], truth[1]])
    chosen = choose_view(rest_joints, guess, scale, keypoints, weights, K, yaws)
    torch.testing.assert_close(chosen[1], guess[1])
    rotation, _, _ = anchor_to_keypoints(rest_joints, chosen, scale, keypoints, weights, K)
    assert rotation_angle_deg(rotation, truth).max() < 3.0
    # with one hypothesis (the guess itself) nothing turns
    only = choose_view(rest_joints, guess, scale, keypoints, weights, K, yaws[:1])
    torch.testing.assert_close(only, guess)


def test_choose_view_passes_the_gradient_through_the_chosen_rotation(rest_joints):
    view = initial_rotation("right").double()[None]
    K = intrinsics(1).double()
    trans = torch.tensor([[0.0, 0.0, 0.6]], dtype=torch.float64)
    keypoints, _ = project(placed(rest_joints[:1], view, 1.0, trans), K, 1e-2)
    back = about_axis(torch.tensor(math.pi, dtype=torch.float64), CAMERA_Y)
    guess = (back @ view).requires_grad_(True)
    yaws = torch.tensor([0.0, math.pi], dtype=torch.float64)
    ones = torch.ones(1, dtype=torch.float64), torch.ones(1, 21, dtype=torch.float64)
    chosen = choose_view(rest_joints[:1], guess, ones[0], keypoints, ones[1], K, yaws)
    chosen.sum().backward()
    # chosen = back @ guess, so d(sum)/d(guess) = back^T @ ones
    expected = back.transpose(-1, -2) @ torch.ones(3, 3, dtype=torch.float64)
    torch.testing.assert_close(guess.grad[0], expected)


def test_unanchored_rows_keep_the_network_rotation(rest_joints):
    view = initial_rotation("right").double().expand(2, 3, 3)
    back = about_axis(torch.tensor(math.pi, dtype=torch.float64), CAMERA_Y)
    guess = back @ view
    keypoints = torch.full((2, 21, 2), 64.0, dtype=torch.float64)
    weights = torch.zeros(2, 21, dtype=torch.float64)
    yaws = torch.tensor(list(VIEWS.values()), dtype=torch.float64)
    ones = torch.ones(2, dtype=torch.float64)
    chosen = choose_view(rest_joints, guess, ones, keypoints, weights, intrinsics(2).double(), yaws)
    torch.testing.assert_close(chosen, guess)


def test_view_hypotheses_are_checked_and_run_in_the_network():
    with pytest.raises(ValueError, match="view_hypotheses must be one of"):
        ModelConfig(camera="keypoints", view_hypotheses=3)
    with pytest.raises(ValueError, match="needs the keypoint-anchored camera"):
        ModelConfig(view_hypotheses=2)
    images, K = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0)), intrinsics(2)
    keypoints = torch.tensor([[[50.0 + 1.5 * i, 85.0 - 2.0 * i] for i in range(21)]] * 2)
    confidence = torch.ones(2, 21)
    errors = {}
    for hypotheses in (1, 4):
        with torch.no_grad():
            pred = anchored_net(view_hypotheses=hypotheses)(images, K, keypoints, confidence)
        errors[hypotheses] = (pred.keypoints2d - keypoints).norm(dim=-1).mean(-1)
    # same weights (init_seed): the chosen side reprojects at least as close as the guess
    assert (errors[4] <= errors[1] + 1e-4).all(), errors
