"""Where the fitter starts: a closed-form camera for the mean hand, per frame and restart view.

For each frame, given 2D keypoints with confidences and K:
1. rotation: one of the named `VIEWS` (the network's `initial_rotation`, palm to the camera and
   fingers up, turned about the image's vertical axis), then rolled in the image plane so that
   the rest skeleton lines up with the keypoints (2D Procrustes, rotation only);
2. scale: the one that gives the scale prior's bone length (the mean hand's middle proximal
   phalanx times |s| = `reference_bone_m`);
3. translation: linear least squares of the reprojection error in the normalised image plane.

A frame with fewer than `MIN_CONFIDENT_KEYPOINTS` keypoints of positive confidence (or whose
solution lands behind the camera) starts from the network's initial camera instead: the view's
rotation, the mean hand's centroid on the optical axis at `INITIAL_DEPTH`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from s2h_lib.losses import middle_proximal_length
from s2h_lib.model import INITIAL_DEPTH, MIN_DEPTH, initial_rotation
from s2h_lib.rotations import axis_angle_to_matrix, quaternion_to_matrix

# Turn about the image's vertical axis applied to `initial_rotation`: which side of the hand
# faces the camera.
VIEWS: dict[str, float] = {
    "palm": 0.0,
    "back": math.pi,
    "thumb_side": math.pi / 2,
    "little_side": -math.pi / 2,
}
# Fewer confident keypoints do not pin the translation down (3 unknowns, 2 equations a point,
# and two points leave the roll to noise).
MIN_CONFIDENT_KEYPOINTS = 3
CAMERA_Y, CAMERA_Z = 1, 2
# Tikhonov term of the 3x3 least-squares system; its entries are sums of weights (~21).
SOLVE_DAMPING = 1e-9


@dataclass
class Start:
    """The start of M (restart, frame) pairs, restart-major: rotation (M, 3, 3), scale (M,),
    trans (M, 3); usable (N,) the frames with enough confident keypoints; pose_coeffs (M, C)
    and betas (M, 10), None for the mean pose and shape."""

    rotation: Tensor
    scale: Tensor
    trans: Tensor
    usable: Tensor
    pose_coeffs: Tensor | None = None
    betas: Tensor | None = None


def about_axis(angle: Tensor, axis: int) -> Tensor:
    """Rotations (..., 3, 3) by `angle` (...) radians about camera axis 0, 1 or 2."""
    vector = torch.zeros(*angle.shape, 3, dtype=angle.dtype, device=angle.device)
    vector[..., axis] = angle
    return axis_angle_to_matrix(vector)


def random_rotations(count: int, seed: int) -> Tensor:
    """(count, 3, 3) rotations uniform over SO(3) (normalised Gaussian quaternions)."""
    generator = torch.Generator().manual_seed(seed)
    return quaternion_to_matrix(torch.randn(count, 4, generator=generator))


def restart_rotations(
    views: Sequence[str], random_count: int, seed: int, side: str = "right"
) -> Tensor:
    """(R, 3, 3) the rotation each restart starts from, before the roll: the named views, then
    `random_count` random ones drawn with `seed`."""
    unknown = [view for view in views if view not in VIEWS]
    if unknown:
        raise ValueError(f"unknown views {unknown}; known: {list(VIEWS)}")
    yaws = torch.tensor([VIEWS[view] for view in views])
    named = about_axis(yaws, CAMERA_Y) @ initial_rotation(side)
    return torch.cat([named, random_rotations(random_count, seed)])


def in_plane_roll(points: Tensor, keypoints: Tensor, weights: Tensor) -> Tensor:
    """Angle (N,) about the optical axis that best turns the image-plane shape (x, y) of
    `points` (N, 21, 3) onto `keypoints` (N, 21, 2), both about their weighted centroids.

    For centred a, b: theta = atan2(sum w a x b, sum w a . b) (2D Procrustes, rotation only).
    """
    total = weights.sum(-1).clamp_min(1e-12)[..., None, None]

    def centred(xy: Tensor) -> Tensor:
        return xy - (weights[..., None] * xy).sum(-2, keepdim=True) / total

    a, b = centred(points[..., :2]), centred(keypoints)
    cross = (weights * (a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0])).sum(-1)
    dot = (weights * (a * b).sum(-1)).sum(-1)
    return torch.atan2(cross, dot)


def solve_translation(points: Tensor, keypoints: Tensor, K: Tensor, weights: Tensor) -> Tensor:
    """t (N, 3) minimising the weighted algebraic reprojection error of `points + t`.

    With (x, y, 1) = K^-1 (u, v, 1): (p_x + t_x) - x (p_z + t_z) = 0 and
    (p_y + t_y) - y (p_z + t_z) = 0, linear in t. points (N, 21, 3) camera-frame offsets;
    keypoints (N, 21, 2) pixels; K (N, 3, 3); weights (N, 21).
    """
    homogeneous = torch.cat([keypoints, torch.ones_like(keypoints[..., :1])], dim=-1)
    normalised = homogeneous @ torch.linalg.inv(K).transpose(-1, -2)
    x, y = normalised[..., 0], normalised[..., 1]
    one, zero = torch.ones_like(x), torch.zeros_like(x)
    rows_x = torch.stack([one, zero, -x], dim=-1)
    rows_y = torch.stack([zero, one, -y], dim=-1)
    A = torch.cat([rows_x, rows_y], dim=-2)  # (N, 42, 3)
    rhs = torch.cat([x * points[..., 2] - points[..., 0], y * points[..., 2] - points[..., 1]], -1)
    w = torch.cat([weights, weights], dim=-1)
    normal = A.transpose(-1, -2) @ (w[..., None] * A)
    normal = normal + SOLVE_DAMPING * torch.eye(3, dtype=A.dtype, device=A.device)
    return torch.linalg.solve(normal, A.transpose(-1, -2) @ (w * rhs)[..., None])[..., 0]


def closed_form_start(
    keypoints: Tensor,
    confidence: Tensor,
    K: Tensor,
    views: Tensor,
    rest_joints: Tensor,
    rest_centroid: Tensor,
    reference_bone_m: float,
) -> Start:
    """The start (module docstring) of every restart view and frame.

    keypoints (N, 21, 2), confidence (N, 21), K (N, 3, 3): the frames; views (R, 3, 3) from
    `restart_rotations`; rest_joints (21, 3) and rest_centroid (3,): the mean hand (mean pose,
    mean shape) in its model frame.
    """
    restarts, frames = views.shape[0], keypoints.shape[0]
    weights = confidence.repeat(restarts, 1)
    view = views.repeat_interleave(frames, dim=0)
    turned = rest_joints @ view.transpose(-1, -2)
    roll = in_plane_roll(turned, keypoints.repeat(restarts, 1, 1), weights)
    rotation = about_axis(roll, CAMERA_Z) @ view
    bone = middle_proximal_length(rest_joints[None])[0]
    scale = (reference_bone_m / bone).expand(restarts * frames).clone()
    offsets = scale[:, None, None] * rest_joints @ rotation.transpose(-1, -2)
    trans = solve_translation(
        offsets, keypoints.repeat(restarts, 1, 1), K.repeat(restarts, 1, 1), weights
    )

    on_axis = rest_centroid.new_tensor([0.0, 0.0, INITIAL_DEPTH])
    initial_trans = on_axis - scale[:, None] * (view @ rest_centroid)
    depth = trans[:, 2] + scale * (rotation @ rest_centroid)[:, 2]
    usable = (confidence > 0).sum(-1) >= MIN_CONFIDENT_KEYPOINTS
    good = usable.repeat(restarts) & (depth > MIN_DEPTH) & torch.isfinite(trans).all(-1)
    return Start(
        rotation=torch.where(good[:, None, None], rotation, view),
        scale=scale,
        trans=torch.where(good[:, None], trans, initial_trans),
        usable=usable,
    )
