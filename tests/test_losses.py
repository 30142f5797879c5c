"""Every loss term: hand-computed values on tiny inputs, and a gradient step that lowers it."""

import math

import pytest
import torch
from test_laplacian import dense_reference, grid_mesh

from s2h_lib.hand.skeleton import FREIHAND_BONES
from s2h_lib.losses import terms as losses

INDEX_MCP = 5  # a FreiHAND joint with weight 1 (not the wrist, not a tip)


@pytest.fixture(autouse=True)
def float64_default():
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


def spread_keypoints(batch: int = 1, seed: int = 0) -> torch.Tensor:
    """(B, 21, 2) keypoints with every bone at least a few pixels long."""
    generator = torch.Generator().manual_seed(seed)
    return 100.0 + 40.0 * torch.rand(batch, 21, 2, generator=generator)


# --------------------------------------------------------------------------------------------
# Huber and keypoint terms


def test_huber_both_sides_of_delta():
    distances = torch.tensor([[3.0, 0.0], [0.0, 8.0], [0.0, 0.0]])
    torch.testing.assert_close(
        huber := losses.huber_distance(distances), torch.tensor([0.9, 5.5, 0])
    )
    assert huber[2] == 0
    x = torch.zeros(1, 2, requires_grad=True)
    losses.huber_distance(x).sum().backward()
    assert torch.equal(x.grad, torch.zeros(1, 2))


def test_keypoint_reprojection_one_joint_off_with_half_confidence():
    target = spread_keypoints()
    projected = target.clone()
    projected[0, INDEX_MCP, 0] += 3.0
    confidence = torch.ones(1, 21)
    confidence[0, INDEX_MCP] = 0.5
    # numerator (1 * 0.5)^2 * 3^2/10; denominator wrist 2^2 + 5 tips 1.5^2 + 14 * 1 + 0.5^2
    expected = 0.25 * 0.9 / (4.0 + 5 * 2.25 + 14.0 + 0.25)
    value = losses.keypoint_reprojection_loss(projected, target, confidence)
    assert value.item() == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(("joint", "offset", "expected"), [(0, 3.0, 0.9), (0, 8.0, 5.5)])
def test_keypoint_reprojection_single_confident_joint_is_rho(joint, offset, expected):
    target = spread_keypoints()
    projected = target.clone()
    projected[0, joint, 1] -= offset
    confidence = torch.zeros(1, 21)
    confidence[0, joint] = 0.3
    value = losses.keypoint_reprojection_loss(projected, target, confidence)
    assert value.item() == pytest.approx(expected, rel=1e-12)


def test_keypoint_reprojection_all_zero_confidence_is_zero():
    value = losses.keypoint_reprojection_loss(
        spread_keypoints(), spread_keypoints(seed=1), torch.zeros(1, 21)
    )
    assert value.item() == 0.0


def test_bone_pointing_the_opposite_way():
    target = spread_keypoints()
    target[0, 1] = target[0, 0] + torch.tensor([10.0, 0.0])
    projected = target.clone()
    projected[0, 1] = target[0, 0] - torch.tensor([10.0, 0.0])
    confidence = torch.zeros(1, 21)
    confidence[0, 0], confidence[0, 1] = 1.0, 0.5  # only bone 0 -> 1 has weight
    unit = 10.0 / (10.0 + 1e-4)
    expected = 0.5 * (2.0 * unit) ** 2 / len(FREIHAND_BONES)
    value = losses.bone_direction_loss(projected, target, confidence)
    assert value.item() == pytest.approx(expected, rel=1e-12)


def test_bone_direction_ignores_bone_length():
    target = spread_keypoints()
    projected = target[0, 0] + 2.0 * (target - target[0, 0])
    value = losses.bone_direction_loss(projected, target, torch.ones(1, 21))
    assert value.item() < 1e-9


def test_length_weighting_counts_a_bone_by_its_squared_length():
    # Bones 0 -> 1 (30 px) and 1 -> 2 (10 px) along x, both predicted the opposite way (each
    # error 4); joints 3.. sit on the wrist with no confidence, which leaves bone 2 -> 3
    # (40 px) in the sample's mean squared length but out of the loss.
    target = torch.zeros(1, 21, 2)
    target[0, 1] = torch.tensor([30.0, 0.0])
    target[0, 2] = torch.tensor([40.0, 0.0])
    projected = -target
    confidence = torch.ones(1, 21)
    confidence[0, 3:] = 0.0
    mean_squared = (30.0**2 + 10.0**2 + 40.0**2) / len(FREIHAND_BONES)
    lengths = torch.tensor([30.0, 10.0])
    errors = (2.0 * lengths / (lengths + 1e-4)).square()
    weights = lengths.square() / mean_squared
    expected = (errors * weights).sum().item() / len(FREIHAND_BONES)
    value = losses.bone_direction_loss(projected, target, confidence, length_weighted=True)
    assert value.item() == pytest.approx(expected, rel=1e-12)
    plain = losses.bone_direction_loss(projected, target, confidence)
    assert plain.item() == pytest.approx(errors.sum().item() / len(FREIHAND_BONES), rel=1e-12)


def test_length_weights_average_one_over_a_sample():
    bones = torch.randn(3, 20, 2, generator=torch.Generator().manual_seed(0))
    weights = losses.detected_bone_length_weights(bones)
    assert weights.shape == (3, 20)
    torch.testing.assert_close(weights.mean(-1), torch.ones(3))
    longest = bones.square().sum(-1).argmax(-1)
    assert torch.equal(weights.argmax(-1), longest)


def test_heatmap_term_sums_over_stacks():
    target = spread_keypoints()
    stacks = target.unsqueeze(1).repeat(1, 2, 1, 1)
    stacks[0, 0, 3] += torch.tensor([3.0, 4.0])  # 5 px off in the first stack
    stacks[0, 1, 3] += torch.tensor([0.0, 2.0])  # 2 px off in the second
    confidence = torch.ones(1, 21)
    confidence[0, 3] = 0.5
    expected = 0.25 * (5.0 + 2.0) / (20.0 + 0.25)
    value = losses.heatmap_keypoint_loss(stacks, target, confidence)
    assert value.item() == pytest.approx(expected, rel=1e-12)


def test_consistency_term_and_gradients_reach_both_branches():
    projected = spread_keypoints().requires_grad_()
    heatmap = projected.detach().clone()
    heatmap[0, 7, 0] += 3.0
    heatmap.requires_grad_()
    value = losses.keypoint_consistency_loss(heatmap, projected)
    assert value.item() == pytest.approx(0.9 / 21, rel=1e-12)
    value.backward()
    assert heatmap.grad[0, 7, 0] > 0 and projected.grad[0, 7, 0] < 0


# --------------------------------------------------------------------------------------------
# Priors


def test_scale_prior_reads_the_middle_proximal_phalanx():
    joints = torch.zeros(2, 21, 3)
    joints[0, 10, 2] = 0.0300  # FreiHAND 9 -> 10: middle MCP -> PIP
    joints[1, 10, 0] = 0.0282
    joints[:, 11] = 5.0  # other joints do not matter
    value = losses.scale_prior_loss(joints)
    assert value.item() == pytest.approx(0.0018 / 2, rel=1e-9)
    assert losses.scale_prior_loss(joints, reference_length=0.03).item() == pytest.approx(0.0009)


def test_joint_limit_ten_degrees_over_with_bend_weight():
    angles = torch.zeros(1, 16, 3)
    angles[0, 0] = torch.tensor([3.0, 2.0, -2.0])  # root row: excluded
    angles[0, 1, 2] = math.radians(110.0)  # index MCP bend, limit 100 deg
    expected = 2.0 * math.radians(10.0) / 45
    assert losses.joint_limit_loss(angles).item() == pytest.approx(expected, rel=1e-12)


def test_joint_limit_low_side_and_inside_range():
    angles = torch.zeros(1, 16, 3)
    angles[0, 13, 0] = math.radians(-10.0)  # thumb CMC twist, range [0, 90] deg
    angles[0, 2, 2] = math.radians(50.0)  # index PIP bend inside [-10, 100]
    expected = math.radians(10.0) / 45
    assert losses.joint_limit_loss(angles).item() == pytest.approx(expected, rel=1e-12)


def test_shape_prior():
    betas = torch.zeros(1, 10)
    betas[0, :2] = torch.tensor([1.0, 2.0])
    assert losses.shape_prior_loss(betas).item() == pytest.approx(0.5)


def test_laplacian_loss_matches_dense_laplacian():
    verts, faces, _ = grid_mesh(jitter=0.3, bumps=0.5, seed=1)
    dense = torch.from_numpy(dense_reference(verts.numpy(), faces.numpy()))
    expected = (dense @ verts).norm(dim=-1).mean()
    value = losses.laplacian_loss(verts[None].repeat(2, 1, 1), faces)
    assert value.item() == pytest.approx(expected.item(), rel=1e-10)


# --------------------------------------------------------------------------------------------
# Appearance


def test_photometric_sample_weights():
    confidence = torch.full((3, 21), 0.8)
    confidence[1, 4] = 0.05  # below the cut-off: no weight
    confidence[2, 4] = 0.2
    weights = losses.photometric_sample_weights(confidence)
    expected = torch.tensor([0.8, 0.0, (20 * 0.8 + 0.2) / 21])
    torch.testing.assert_close(weights, expected)


def hand_square(size: int = 24, lo: int = 8, hi: int = 16) -> torch.Tensor:
    alpha = torch.zeros(1, 1, size, size)
    alpha[..., lo:hi, lo:hi] = 1.0
    return alpha


def test_photometric_render_equal_to_image_is_zero():
    image = torch.rand(1, 3, 24, 24, generator=torch.Generator().manual_seed(0))
    alpha = torch.rand(1, 1, 24, 24)
    weights = torch.ones(1)
    assert losses.photometric_l1_loss(image, alpha, image, weights).item() == 0.0
    assert losses.photometric_ssim_loss(image, alpha, image, weights).item() == pytest.approx(0)
    assert losses.mean_colour_loss(image, alpha, image, weights).item() == 0.0


def test_photometric_hand_computed():
    image = torch.zeros(1, 3, 4, 4)
    rgb = torch.zeros(1, 3, 4, 4)
    rgb[0, 0, 1, 2] = 0.3
    alpha = torch.zeros(1, 1, 4, 4)
    alpha[0, 0, 1, 2] = 0.5
    value = losses.photometric_l1_loss(rgb, alpha, image, torch.ones(1))
    assert value.item() == pytest.approx(0.5 * 0.3 / 48, rel=1e-12)


def test_photometric_background_never_contributes():
    generator = torch.Generator().manual_seed(1)
    alpha = hand_square()
    rgb = torch.rand(1, 3, 24, 24, generator=generator)
    image = torch.rand(1, 3, 24, 24, generator=generator)
    other = image.clone()
    outside = (alpha == 0).expand_as(image)
    other[outside] = torch.rand(int(outside.sum()), generator=generator)
    weights = torch.ones(1)
    for term in (losses.photometric_l1_loss, losses.mean_colour_loss):
        assert term(rgb, alpha, image, weights).item() == term(rgb, alpha, other, weights).item()


def test_ssim_background_beyond_the_window_never_contributes():
    generator = torch.Generator().manual_seed(1)
    alpha = hand_square(size=40, lo=14, hi=22)
    rgb = torch.rand(1, 3, 40, 40, generator=generator)
    image = torch.rand(1, 3, 40, 40, generator=generator)
    # no 11 px window holds both a hand pixel and a pixel more than 10 px from the hand
    far = torch.ones_like(image, dtype=torch.bool)
    far[..., 4:32, 4:32] = False
    other = torch.where(far, 1.0 - image, image)
    weights = torch.ones(1)
    ssim_a = losses.photometric_ssim_loss(rgb, alpha, image, weights)
    ssim_b = losses.photometric_ssim_loss(rgb, alpha, other, weights)
    assert ssim_a.item() == pytest.approx(ssim_b.item(), abs=1e-12) and ssim_a > 0


def test_photometric_batch_reduction_uses_squared_weights():
    image = torch.zeros(2, 3, 4, 4)
    rgb = torch.stack([torch.full((3, 4, 4), 1.0), torch.full((3, 4, 4), 2.0)])
    alpha = torch.ones(2, 1, 4, 4)
    value = losses.photometric_l1_loss(rgb, alpha, image, torch.tensor([1.0, 0.5]))
    assert value.item() == pytest.approx((1.0 * 1.0 + 0.25 * 2.0) / 1.25)


def test_mean_colour_over_the_hand_per_channel():
    alpha = hand_square(lo=4, hi=8)
    rgb = torch.tensor([0.8, 0.5, 0.4]).view(1, 3, 1, 1).expand(1, 3, 24, 24)
    image = torch.tensor([0.6, 0.5, 0.4]).view(1, 3, 1, 1).expand(1, 3, 24, 24)
    value = losses.mean_colour_loss(rgb, alpha, image, torch.ones(1))
    assert value.item() == pytest.approx(0.2 / 3, rel=1e-12)


def test_texture_outlier_hand_computed():
    texture = torch.zeros(1, 10, 3)
    texture[0, 9, 0] = 10.0  # mu 1, sigma 3: |10 - 1| = 9 > 6
    penalty = losses.texture_outlier_penalty(texture)
    assert penalty.item() == pytest.approx(9.0 / 30, rel=1e-12)


def test_texture_outlier_is_per_sample():
    generator = torch.Generator().manual_seed(2)
    calm = 0.5 + 0.01 * torch.randn(1, 50, 3, generator=generator)
    wild = torch.randn(1, 50, 3, generator=generator)
    wild[0, :3] += 40.0
    alone = losses.texture_outlier_penalty(calm)
    together = losses.texture_outlier_penalty(torch.cat([calm, wild]))
    torch.testing.assert_close(together[0], alone[0])
    assert together[1] > 10 * together[0]
    weighted = losses.texture_outlier_loss(torch.cat([calm, wild]), torch.tensor([1.0, 0.0]))
    torch.testing.assert_close(weighted, alone[0])


# --------------------------------------------------------------------------------------------
# Supervised


def test_supervised_terms():
    joints = torch.zeros(1, 21, 3)
    truth = joints.clone()
    truth[0, 4] = torch.tensor([0.003, 0.004, 0.0])
    assert losses.joints3d_loss(joints, truth).item() == pytest.approx(0.005 / 21)
    verts = torch.zeros(2, 4, 3)
    true_verts = torch.zeros(2, 4, 3)
    true_verts[0, 0, 0] = 0.012
    true_verts[1] = 7.0  # a sample without a mesh must not count
    has_mesh = torch.tensor([True, False])
    assert losses.verts3d_loss(verts, true_verts, has_mesh).item() == pytest.approx(0.001)
    with pytest.raises(ValueError, match="another hand model"):
        losses.verts3d_loss(verts, true_verts[:, :3], has_mesh)


# --------------------------------------------------------------------------------------------
# Video terms


def test_constant_velocity_clip_has_zero_acceleration_cost():
    start = torch.rand(2, 1, 21, 3)
    velocity = torch.rand(2, 1, 21, 3) * 0.01
    clip = start + torch.arange(5.0).view(1, 5, 1, 1) * velocity
    assert losses.joint_acceleration_loss(clip).item() < 1e-15
    clip[0, 2, 6] += torch.tensor([0.0, 0.004, 0.003])  # one 5 mm jump at frame 2
    # the jump shows in accelerations at t = 1, 2, 3 with sizes 5, 10, 5 mm; 2 x 3 x 21 entries
    expected = (0.005 + 0.010 + 0.005) / (2 * 3 * 21)
    assert losses.joint_acceleration_loss(clip).item() == pytest.approx(expected, rel=1e-9)
    assert losses.joint_acceleration_loss(clip[:, :2]).item() == 0.0


def test_acceleration_leaves_out_the_joints_the_detector_missed():
    start = torch.rand(1, 1, 21, 3)
    clip = start + torch.arange(5.0).view(1, 5, 1, 1) * 0.01
    clip[0, 2] += 0.05  # frame 2 is a placeholder far from the hand: 5 cm on every axis
    confidence = torch.ones(1, 5, 21)
    assert losses.joint_acceleration_loss(clip, confidence).item() > 0.05
    confidence[0, 2] = 0.0  # the detector missed the hand in frame 2
    # every acceleration (t = 1, 2, 3) touches frame 2: nothing is left to smooth
    assert losses.joint_acceleration_loss(clip, confidence).item() == 0.0
    confidence[0, 2, :10] = 0.5  # seen, half-confident, on 10 joints: only theirs count
    jump = 0.05 * 3**0.5
    per_joint = (jump + 2 * jump + jump) / 3
    assert losses.joint_acceleration_loss(clip, confidence).item() == pytest.approx(per_joint)


def test_keypoint_motion_consistency():
    detected = spread_keypoints(batch=3).unsqueeze(0)  # a clip of 3 frames
    projected = detected + torch.tensor([4.0, 1.0])  # a constant offset: same motion
    confidence = torch.ones(1, 3, 21)
    assert losses.keypoint_motion_loss(projected, detected, confidence).item() < 1e-12
    projected[0, 2, 5] += torch.tensor([3.0, 0.0])  # frame 2 moves 3 px too far
    confidence[0, 1, 5] = 0.5
    # only pair (1, 2) of joint 5 errs, with weight 0.5 * 1; of the 2 x 21 pair weights, the
    # two that involve frame 1's joint 5 are 0.5
    expected = 0.5 * 0.9 / (40 + 2 * 0.5)
    value = losses.keypoint_motion_loss(projected, detected, confidence)
    assert value.item() == pytest.approx(expected, rel=1e-12)


def test_shape_and_bone_consistency():
    betas = torch.zeros(1, 2, 10)
    assert losses.shape_consistency_loss(betas).item() == 0.0
    betas[0, 1, 0] = 1.0  # frames differ by 1 in one coefficient: deviations +-0.5
    assert losses.shape_consistency_loss(betas).item() == pytest.approx(0.25 / 10)
    joints = spread_keypoints().new_zeros(1, 1, 21, 3)
    joints[..., :2] = spread_keypoints().unsqueeze(0) * 1e-3
    clip = torch.cat([joints, joints * 1.1])  # the same hand, 10 % bigger in frame 2
    clip = clip.transpose(0, 1)
    lengths = losses.bone_lengths(joints[0, 0])
    expected = (0.05 * lengths).mean()
    assert losses.bone_length_consistency_loss(clip).item() == pytest.approx(expected.item())
    assert losses.bone_length_consistency_loss(joints.repeat(1, 3, 1, 1)).item() < 1e-15


def test_texture_consistency_weighted_by_frames():
    texture = torch.zeros(1, 3, 4, 3)
    texture[0, 1] = 0.2  # frame 1 differs from frames 0 and 2 by 0.2 everywhere
    weights = torch.tensor([[1.0, 0.5, 1.0]])
    assert losses.texture_consistency_loss(texture, weights).item() == pytest.approx(0.2)
    weights = torch.tensor([[1.0, 1.0, 0.0]])  # the pair (1, 2) has no weight
    texture[0, 2] = 0.9
    assert losses.texture_consistency_loss(texture, weights).item() == pytest.approx(0.2)


# --------------------------------------------------------------------------------------------
# A gradient step on each term's input lowers it


def _term_cases():
    generator = torch.Generator().manual_seed(5)
    keypoints = spread_keypoints(2)
    confidence = torch.rand(2, 21, generator=generator) * 0.8 + 0.2
    off2d = keypoints + 6.0 * torch.randn(2, 21, 2, generator=generator)
    joints = torch.randn(2, 21, 3, generator=generator) * 0.03
    angles = torch.randn(2, 16, 3, generator=generator) * 1.5
    verts, faces, _ = grid_mesh(jitter=0.3, bumps=0.5, seed=4)
    image = torch.rand(2, 3, 24, 24, generator=generator)
    alpha = hand_square().repeat(2, 1, 1, 1) * 0.9
    texture = torch.rand(2, 30, 3, generator=generator)
    texture[:, :2] += 5.0
    clip_joints = torch.randn(2, 4, 21, 3, generator=generator) * 0.03
    sample_weights = torch.tensor([1.0, 0.6])
    return {
        "keypoints": (lambda x: losses.keypoint_reprojection_loss(x, keypoints, confidence), off2d),
        "bones": (lambda x: losses.bone_direction_loss(x, keypoints, confidence), off2d),
        "heatmap": (
            lambda x: losses.heatmap_keypoint_loss(x, keypoints, confidence),
            off2d.unsqueeze(1).repeat(1, 2, 1, 1),
        ),
        "consistency": (lambda x: losses.keypoint_consistency_loss(x, keypoints), off2d),
        "scale": (losses.scale_prior_loss, joints),
        "limits": (losses.joint_limit_loss, angles),
        "laplacian": (lambda x: losses.laplacian_loss(x, faces), verts[None]),
        "shape": (losses.shape_prior_loss, torch.randn(2, 10, generator=generator)),
        "photometric": (
            lambda x: losses.photometric_l1_loss(x, alpha, image, sample_weights),
            torch.rand(2, 3, 24, 24, generator=generator),
        ),
        "ssim": (
            lambda x: losses.photometric_ssim_loss(x, alpha, image, sample_weights),
            torch.rand(2, 3, 24, 24, generator=generator),
        ),
        "mean_colour": (
            lambda x: losses.mean_colour_loss(x, alpha, image, sample_weights),
            torch.rand(2, 3, 24, 24, generator=generator),
        ),
        "outliers": (lambda x: losses.texture_outlier_loss(x, sample_weights), texture),
        "joints3d": (lambda x: losses.joints3d_loss(x, joints), joints + 0.01),
        "acceleration": (losses.joint_acceleration_loss, clip_joints),
        "motion2d": (
            lambda x: losses.keypoint_motion_loss(
                x,
                keypoints.unsqueeze(0).repeat(2, 1, 1, 1),
                confidence.unsqueeze(0).repeat(2, 1, 1),
            ),
            off2d.unsqueeze(0).repeat(2, 1, 1, 1) + torch.randn(2, 2, 21, 2, generator=generator),
        ),
        "shape_consistency": (losses.shape_consistency_loss, torch.randn(2, 3, 10)),
        "bone_consistency": (losses.bone_length_consistency_loss, clip_joints),
        "texture_consistency": (
            lambda x: losses.texture_consistency_loss(x, sample_weights.view(1, 2)),
            torch.rand(1, 2, 30, 3, generator=generator),
        ),
    }


@pytest.mark.parametrize("name", list(_term_cases()))
def test_gradient_step_lowers_the_term(name):
    term, start = _term_cases()[name]
    x = start.clone().requires_grad_()
    before = term(x)
    (gradient,) = torch.autograd.grad(before, x)
    assert torch.isfinite(gradient).all() and gradient.abs().sum() > 0
    step = 1e-3 * before.item() / gradient.square().sum()
    after = term(x.detach() - step * gradient)
    assert after.item() < before.item()


def test_smooth_terms_pass_gradcheck():
    generator = torch.Generator().manual_seed(6)
    keypoints = spread_keypoints()
    confidence = torch.rand(1, 21, generator=generator)
    x = (keypoints + 3.0 * torch.randn(1, 21, 2, generator=generator)).requires_grad_()
    assert torch.autograd.gradcheck(
        lambda p: losses.keypoint_reprojection_loss(p, keypoints, confidence), (x,)
    )
    assert torch.autograd.gradcheck(
        lambda p: losses.bone_direction_loss(p, keypoints, confidence), (x,)
    )


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match=r"\(\.\.\., 21, 2\)"):
        losses.keypoint_reprojection_loss(torch.zeros(1, 16, 2), torch.zeros(1, 16, 2), None)
    with pytest.raises(ValueError, match=r"16, 3"):
        losses.joint_limit_loss(torch.zeros(1, 15, 3))
    with pytest.raises(ValueError, match="SSIM needs"):
        losses.ssim_map(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 8))
