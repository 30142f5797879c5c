"""Silhouette fitting: scene geometry, IoU and soft-IoU by hand, gradients against finite
differences and backpropagation, and a fit that recovers the pose."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from s2h_lib.fit.silhouette_fit import (
    DISTANCE_M,
    FILL,
    FitConfig,
    fit_global_pose,
    image_motion,
    make_scene,
    pixel_contributions,
    random_start,
    silhouette_gradients,
    silhouette_iou,
    soft_iou_loss,
)
from s2h_lib.render import silhouette

SIZE = 40


@pytest.fixture(scope="module")
def scene():
    return make_scene(SIZE, pose="relaxed")


ZERO = torch.zeros(1, 3)


def test_iou_by_hand():
    a = torch.zeros(1, 1, 4, 4)
    b = torch.zeros(1, 1, 4, 4)
    a[..., :2, :] = 1.0  # 8 pixels
    b[..., 1:3, :] = 0.9  # 8 pixels, 4 shared
    assert silhouette_iou(a, b).item() == pytest.approx(4 / 12)
    assert silhouette_iou(torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 2, 2)).item() == 1.0


def test_soft_iou_loss_by_hand():
    pred = torch.tensor([0.5, 1.0, 0.0, 0.25]).reshape(1, 1, 2, 2)
    target = torch.tensor([1.0, 1.0, 1.0, 0.0]).reshape(1, 1, 2, 2)
    inter = 0.5 + 1.0
    union = (0.5 + 1 - 0.5) + 1.0 + 1.0 + 0.25
    assert soft_iou_loss(pred, target).item() == pytest.approx(1 - inter / union)
    assert soft_iou_loss(target, target).item() == pytest.approx(0.0, abs=1e-7)


def test_scene_centres_the_hand_and_fills_the_image(scene):
    verts = scene.place(ZERO, ZERO)
    assert verts[0, :, 2].mean().item() == pytest.approx(DISTANCE_M, abs=0.02)
    mask = silhouette(verts, scene.faces, scene.K, scene.settings("hard"))[0, 0]
    rows, cols = torch.nonzero(mask > 0.5, as_tuple=True)
    height = (rows.max() - rows.min() + 1).item()
    assert abs(height - FILL * SIZE) <= 3  # the fingers point up: height is the larger side
    centre = (SIZE - 1) / 2
    assert abs((rows.max() + rows.min()).item() / 2 - centre) <= 2.5
    assert abs((cols.max() + cols.min()).item() / 2 - centre) <= 2.5


def test_place_rotates_about_the_centre_then_translates(scene):
    quarter = torch.tensor([[0.0, 0.0, math.pi / 2]])  # about the optical axis
    shift = torch.tensor([[0.01, 0.0, 0.0]])
    placed = scene.place(quarter, shift)[0]
    rest = scene.rest_verts
    expected = torch.stack([-rest[:, 1], rest[:, 0], rest[:, 2]], dim=-1)
    expected = expected + torch.tensor([0.01, 0.0, DISTANCE_M])
    torch.testing.assert_close(placed, expected, atol=1e-6, rtol=0)


def test_unknown_pose_and_tiny_image_are_refused():
    with pytest.raises(ValueError, match="unknown pose 'wave'"):
        make_scene(32, pose="wave")
    with pytest.raises(ValueError, match="at least 8 pixels"):
        make_scene(4)


def test_vertex_gradient_matches_finite_differences(scene):
    soft = scene.settings("soft", sigma=2.0)
    target = silhouette(scene.place(ZERO, ZERO), scene.faces, scene.K, soft)
    rotation, translation = random_start(seed=3)
    verts = scene.place(rotation, translation).detach()
    grads = silhouette_gradients(scene, verts, target, soft)
    direction = torch.zeros_like(verts)
    direction[..., 0] = 1.0  # every vertex moves right: a translation
    analytic = (grads.vertex_grad * direction).sum().item()
    h = 1e-4

    def loss(v):
        return soft_iou_loss(silhouette(v, scene.faces, scene.K, soft), target).item()

    numeric = (loss(verts + h * direction) - loss(verts - h * direction)) / (2 * h)
    assert analytic == pytest.approx(numeric, rel=2e-2)
    assert grads.loss.item() == pytest.approx(loss(verts), rel=1e-6)


def test_hard_silhouette_has_no_gradient(scene):
    verts = scene.place(ZERO, ZERO)
    target = torch.zeros(1, 1, SIZE, SIZE)
    with pytest.raises(ValueError, match="a hard silhouette has no gradient: use mode='soft'"):
        silhouette_gradients(scene, verts, target, scene.settings("hard"))


def test_pixel_contributions_sum_to_the_backpropagated_derivative(scene):
    soft = scene.settings("soft", sigma=1.0)
    target = silhouette(scene.place(ZERO, ZERO), scene.faces, scene.K, soft)
    start_rotation, start_translation = random_start(seed=1)
    rotation = start_rotation.clone().requires_grad_(True)
    translation = start_translation.clone().requires_grad_(True)
    alpha = silhouette(scene.place(rotation, translation), scene.faces, scene.K, soft)
    soft_iou_loss(alpha, target).backward()
    d_rotation = torch.tensor([[0.3, -0.2, 1.0]])
    d_translation = torch.tensor([[1.0, 0.5, -0.2]])
    shares = pixel_contributions(
        scene, start_rotation, start_translation, target, soft, d_rotation, d_translation
    )
    expected = (rotation.grad * d_rotation).sum() + (translation.grad * d_translation).sum()
    assert shares.sum().item() == pytest.approx(expected.item(), rel=1e-4)
    outside = silhouette(scene.place(start_rotation, start_translation), scene.faces, scene.K, soft)
    assert shares[(outside < 1e-6) & (target < 1e-6)].abs().max().item() == 0.0


def test_image_motion_of_a_sideways_step(scene):
    verts = scene.place(ZERO, ZERO)
    step = torch.zeros_like(verts)
    step[..., 0] = 0.001
    uv, motion = image_motion(verts, step, scene.K)
    focal = scene.K[0, 0, 0]
    torch.testing.assert_close(motion[..., 0], focal * 0.001 / verts[..., 2])
    assert motion[..., 1].abs().max().item() < 1e-4
    assert uv.shape == (1, scene.rest_verts.shape[0], 2)


def test_random_start_is_seeded_and_sized():
    rotation, translation = random_start(seed=5, rotation_deg=30.0, shift_m=0.01)
    again, _ = random_start(seed=5, rotation_deg=30.0, shift_m=0.01)
    torch.testing.assert_close(rotation, again)
    assert np.rad2deg(rotation.norm().item()) == pytest.approx(30.0)
    assert translation[0, :2].norm().item() == pytest.approx(0.01)
    assert abs(translation[0, 2].item()) <= 0.01 / 4


def test_fit_recovers_the_pose(scene):
    soft = scene.settings("soft", sigma=1.0)
    target = silhouette(scene.place(ZERO, ZERO), scene.faces, scene.K, soft)
    truth = silhouette(scene.place(ZERO, ZERO), scene.faces, scene.K, scene.settings("hard"))
    rotation, translation = random_start(seed=2, rotation_deg=20.0)
    history = fit_global_pose(
        scene, target, rotation, translation, FitConfig(steps=25), reference=truth, progress=False
    )
    assert history.frames.shape == (26, SIZE, SIZE)
    assert history.ious.shape == (26,) and history.losses.shape == (25,)
    assert history.ious[0] < 0.7
    assert history.ious[-1] > 0.85
    assert history.losses[-1] < 0.5 * history.losses[0]
    assert np.linalg.norm(history.translations[-1][:2]) < 0.3 * np.linalg.norm(
        translation[0, :2].numpy()
    )


def test_fit_config_is_checked():
    with pytest.raises(ValueError, match="steps must be >= 1"):
        FitConfig(steps=0)
    with pytest.raises(ValueError, match="must be positive"):
        FitConfig(sigma=0.0)
