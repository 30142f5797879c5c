"""Closed-form pieces of a camera from 2D keypoints: the in-plane roll and the translation.

Shared by the fitter's start (`fit_start.py`) and the network's keypoint-anchored camera
(`model.py`). Everything is differentiable, so a network can learn through them.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from s2h_lib.hand.rotations import axis_angle_to_matrix
from s2h_lib.render.rasterize import project

CAMERA_Y, CAMERA_Z = 1, 2
# Tikhonov term of the 3x3 least-squares systems; their entries are sums of weights (~21).
SOLVE_DAMPING = 1e-9
# Gauss-Newton steps from the algebraic solution of the translation to the geometric one: the
# first does nearly all of it (the two errors differ by the depth, nearly the same over a hand).
GEOMETRIC_STEPS = 2
GEOMETRIC_MIN_DEPTH = 0.01  # metres
# Depth (metres) the projection of a placement clamps to: rows behind the camera are not solved
# (`anchor_to_keypoints`), so it only keeps their errors finite.
PROJECTION_MIN_DEPTH = 1e-6
# Fewer confident keypoints do not pin the translation down (3 unknowns, 2 equations a point,
# and two points leave the roll to noise).
MIN_CONFIDENT_KEYPOINTS = 3
# Turns about the image's vertical axis of a rotation that shows the palm: which side of the
# hand faces the camera. The fitter restarts from them; the network can choose among them.
VIEWS: dict[str, float] = {
    "palm": 0.0,
    "back": math.pi,
    "thumb_side": math.pi / 2,
    "little_side": -math.pi / 2,
}


def enough_keypoints(confidence: Tensor) -> Tensor:
    """(...,) bool: whether the keypoint confidences (..., 21) have at least
    `MIN_CONFIDENT_KEYPOINTS` positive entries, enough to place a hand on them."""
    return (confidence > 0).sum(-1) >= MIN_CONFIDENT_KEYPOINTS


def about_axis(angle: Tensor, axis: int) -> Tensor:
    """Rotations (..., 3, 3) by `angle` (...) radians about camera axis 0, 1 or 2."""
    vector = torch.zeros(*angle.shape, 3, dtype=angle.dtype, device=angle.device)
    vector[..., axis] = angle
    return axis_angle_to_matrix(vector)


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


def _normalised(keypoints: Tensor, K: Tensor) -> Tensor:
    """(N, 21, 2) keypoints in pixels -> (x, y) with (x, y, 1) = K^-1 (u, v, 1)."""
    homogeneous = torch.cat([keypoints, torch.ones_like(keypoints[..., :1])], dim=-1)
    return (homogeneous @ torch.linalg.inv(K).transpose(-1, -2))[..., :2]


def _weighted_least_squares(A: Tensor, residual: Tensor, weights: Tensor) -> tuple[Tensor, Tensor]:
    """(N, 3) argmin_d sum w (A d - residual)^2 for A (N, R, 3), residual and weights (N, R),
    and (N,) whether each system could be solved."""
    normal = A.transpose(-1, -2) @ (weights[..., None] * A)
    normal = normal + SOLVE_DAMPING * torch.eye(3, dtype=A.dtype, device=A.device)
    rhs = A.transpose(-1, -2) @ (weights * residual)[..., None]
    solution, info = torch.linalg.solve_ex(normal, rhs)
    return solution[..., 0], info == 0


def solve_translation(points: Tensor, keypoints: Tensor, K: Tensor, weights: Tensor) -> Tensor:
    """t (N, 3) minimising the weighted reprojection error of `points + t`, in normalised image
    coordinates (pixels over the focal length).

    Closed form first: with (x, y, 1) = K^-1 (u, v, 1), the algebraic residuals
    (p_x + t_x) - x (p_z + t_z) and (p_y + t_y) - y (p_z + t_z) are linear in t. They are the
    reprojection errors times the depth, so minimising them favours a hand nearer the camera
    (the network's hands projected 16% too large); `GEOMETRIC_STEPS` Gauss-Newton steps on the
    errors themselves then remove that pull, for the rows whose points all lie at least
    `GEOMETRIC_MIN_DEPTH` in front of the camera (a step that fails is not taken).
    points (N, 21, 3) camera-frame offsets; keypoints (N, 21, 2) pixels; K (N, 3, 3);
    weights (N, 21).
    """
    x, y = _normalised(keypoints, K).unbind(-1)
    one, zero = torch.ones_like(x), torch.zeros_like(x)
    A = torch.cat([torch.stack([one, zero, -x], -1), torch.stack([zero, one, -y], -1)], -2)
    algebraic = torch.cat(
        [x * points[..., 2] - points[..., 0], y * points[..., 2] - points[..., 1]], -1
    )
    w = torch.cat([weights, weights], dim=-1)
    trans, _ = _weighted_least_squares(A, algebraic, w)
    for _ in range(GEOMETRIC_STEPS):
        placed = points + trans[:, None]
        ahead = (placed[..., 2] > GEOMETRIC_MIN_DEPTH).all(-1)
        depth = torch.where(ahead[:, None], placed[..., 2], torch.ones_like(placed[..., 2]))
        error = torch.cat([placed[..., 0] / depth - x, placed[..., 1] / depth - y], -1)
        jacobian = torch.cat(
            [
                torch.stack([1 / depth, zero, -placed[..., 0] / depth.square()], -1),
                torch.stack([zero, 1 / depth, -placed[..., 1] / depth.square()], -1),
            ],
            -2,
        )
        step, solved = _weighted_least_squares(jacobian, error, w)
        take = ahead & solved & torch.isfinite(step).all(-1)
        trans = torch.where(take[:, None], trans - step, trans)
    return trans


def anchor_to_keypoints(
    points: Tensor, rotation: Tensor, scale: Tensor, keypoints: Tensor, weights: Tensor, K: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    """The camera that places model-frame `points` (B, 21, 3), turned by `rotation` (B, 3, 3)
    and scaled by `scale` (B,), onto `keypoints` (B, 21, 2) with `weights` (B, 21) and K:
    the rotation rolled about the optical axis (`in_plane_roll`), then the translation solved
    (`solve_translation`). Returns rotation (B, 3, 3), trans (B, 3) and solved (B,) bool: False
    where fewer than `MIN_CONFIDENT_KEYPOINTS` weights are positive or the solution is not in
    front of the camera; those rows keep `rotation` and get a zero translation.
    """
    roll = in_plane_roll(points @ rotation.transpose(-1, -2), keypoints, weights)
    rolled = about_axis(roll, CAMERA_Z) @ rotation
    placed = scale[:, None, None] * points @ rolled.transpose(-1, -2)
    trans = solve_translation(placed, keypoints, K, weights)
    depth = trans[:, CAMERA_Z] + placed[..., CAMERA_Z].mean(-1)
    enough = enough_keypoints(weights)
    solved = enough & (depth > 0) & torch.isfinite(trans).all(-1) & torch.isfinite(roll)
    rotation = torch.where(solved[:, None, None], rolled, rotation)
    return rotation, torch.where(solved[:, None], trans, torch.zeros_like(trans)), solved


def mean_pixel_distance(projected: Tensor, keypoints: Tensor, weights: Tensor) -> Tensor:
    """(N,) the `weights` (N, 21)-weighted mean distance between `projected` and `keypoints`
    (N, 21, 2), pixels; 0 where every weight is 0."""
    distance = (projected - keypoints).norm(dim=-1)
    return (weights * distance).sum(-1) / weights.sum(-1).clamp_min(1e-12)


def reprojection_error(
    placed: Tensor, trans: Tensor, keypoints: Tensor, weights: Tensor, K: Tensor
) -> Tensor:
    """(N,) the `weights`-weighted mean pixel distance between the projections of
    `placed + trans` ((N, 21, 3) camera-frame offsets, (N, 3)) and `keypoints` (N, 21, 2)."""
    projected, _ = project(placed + trans[:, None], K, PROJECTION_MIN_DEPTH)
    return mean_pixel_distance(projected, keypoints, weights)


def choose_view(
    points: Tensor,
    rotation: Tensor,
    scale: Tensor,
    keypoints: Tensor,
    weights: Tensor,
    K: Tensor,
    yaws: Tensor,
) -> Tensor:
    """Of `rotation` (B, 3, 3) turned about the camera's vertical axis by each of `yaws` (H,)
    (the first 0: the rotation itself), the one whose anchored placement of `points`
    (`anchor_to_keypoints`) reprojects closest to the keypoints; (B, 3, 3).

    A winner-takes-all over which side of the hand faces the camera: the choice is made without
    gradient, the gradient flows through the chosen rotation. Rows that cannot be anchored keep
    `rotation`.
    """
    hypotheses, batch = yaws.shape[0], rotation.shape[0]
    turns = about_axis(yaws.to(rotation), CAMERA_Y)
    candidates = (turns[:, None] @ rotation[None]).reshape(hypotheses * batch, 3, 3)

    def repeat(tensor: Tensor) -> Tensor:
        return tensor.repeat(hypotheses, *([1] * (tensor.dim() - 1)))

    with torch.no_grad():
        many = [repeat(tensor) for tensor in (points, scale, keypoints, weights, K)]
        turned, trans, solved = anchor_to_keypoints(many[0], candidates, *many[1:])
        placed = many[1][:, None, None] * many[0] @ turned.transpose(-1, -2)
        error = reprojection_error(placed, trans, *many[2:])
        error = torch.where(solved, error, torch.inf).reshape(hypotheses, batch)
        choice = torch.where(error.isfinite().any(0), error.argmin(0), 0)
    return candidates.reshape(hypotheses, batch, 3, 3)[choice, torch.arange(batch)]
