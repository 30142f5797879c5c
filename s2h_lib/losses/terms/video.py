"""Video terms on clips (B, T, ...): motion smoothness, 2D motion, and the consistency of shape,
bone lengths and texture within a clip."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from s2h_lib.hand.skeleton import FREIHAND_BONES, NUM_KEYPOINTS
from s2h_lib.losses.terms.reduce import check_trailing, mean_or_zero, weighted_mean
from s2h_lib.losses.terms.skeleton import HUBER_DELTA_PX, huber_distance

# --------------------------------------------------------------------------------------------
# Video terms on clips (B, T, ...). Placeholders: S2HAND(V) names motion, shape and texture
# consistency but its formulas, weights and frame pairing were not found (method notes,
# section 9); these follow the notes' suggestions.


def joint_acceleration_loss(joints: Tensor, confidence: Tensor | None = None) -> Tensor:
    """Motion smoothness: the accelerations a_tj = J_t+1,j - 2 J_tj + J_t-1,j (metres),

        L = sum w_tj ||a_tj|| / sum w_tj,   w_tj = c_t-1,j c_tj c_t+1,j

    joints: (B, T, 21, 3); confidence: (B, T, 21) the detector's, None for all ones (a plain
    mean over the B x (T - 2) x 21 accelerations). Smooth velocities are small accelerations: a
    clip moving at constant velocity costs 0, and fast but steady motion is not penalised (no
    velocity term, which would favour a still hand). A joint the detector missed in a frame
    takes no part in that frame's accelerations: without keypoints the network answers with a
    placeholder (the mean hand at its initial camera), and smoothing the jump to and from it
    pulls the frames around it towards that placeholder (2 mm PA-MPJPE in 40 video steps).
    Clips shorter than 3 frames cost 0.
    """
    check_trailing("joints", joints, (NUM_KEYPOINTS, 3))
    acceleration = joints[:, 2:] - 2.0 * joints[:, 1:-1] + joints[:, :-2]
    size = torch.linalg.vector_norm(acceleration, dim=-1)
    if confidence is None:
        return mean_or_zero(size)
    weights = confidence[:, 2:] * confidence[:, 1:-1] * confidence[:, :-2]
    return weighted_mean(size, weights)


def keypoint_motion_loss(
    projected: Tensor, keypoints: Tensor, confidence: Tensor, delta: float = HUBER_DELTA_PX
) -> Tensor:
    """2D motion consistency: the projected joints move between frames as the detections do.

        L = sum w rho(||(p_t+1 - p_t) - (o_t+1 - o_t)||) / sum w,   w = c_t c_t+1

    projected, keypoints: (B, T, 21, 2); confidence: (B, T, 21). Compared to the per-frame
    reprojection term it ignores a detector bias that is constant over the clip.
    """
    check_trailing("projected", projected, (NUM_KEYPOINTS, 2))
    motion_error = projected.diff(dim=1) - keypoints.diff(dim=1)
    weights = confidence[:, 1:] * confidence[:, :-1]
    return weighted_mean(huber_distance(motion_error, delta), weights)


def shape_consistency_loss(betas: Tensor) -> Tensor:
    """Shape consistency: mean over (B, T, 10) of (beta_t - mean_t beta)^2. betas: (B, T, 10).

    Vacuous with the mean shape (betas forced to 0, as the released code did)."""
    return (betas - betas.mean(1, keepdim=True)).square().mean()


def bone_lengths(joints: Tensor, bones: Sequence[tuple[int, int]] = FREIHAND_BONES) -> Tensor:
    """Lengths of the 20 bones: (..., 21, 3) -> (..., 20)."""
    parents = [p for p, _ in bones]
    children = [c for _, c in bones]
    return torch.linalg.vector_norm(joints[..., children, :] - joints[..., parents, :], dim=-1)


def bone_length_consistency_loss(joints: Tensor) -> Tensor:
    """Bone-length consistency: mean over (B, T, 20) of |l_t - mean_t l| in metres.

    joints: (B, T, 21, 3) camera frame, so the lengths include the camera scale |s| and the
    term holds the hand's metric size fixed over a clip even when betas are forced to 0.
    """
    check_trailing("joints", joints, (NUM_KEYPOINTS, 3))
    lengths = bone_lengths(joints)
    return (lengths - lengths.mean(1, keepdim=True)).abs().mean()


def texture_consistency_loss(texture: Tensor, sample_weights: Tensor) -> Tensor:
    """Texture consistency: consecutive frames' colours agree (albedo, before lighting).

        L = sum_bt w_bt w_b,t+1 mean_{n,c} |t_b,t+1 - t_b,t| / sum_bt w_bt w_b,t+1

    texture: (B, T, N, 3) per-vertex or per-face colours in [0, 1]; sample_weights: (B, T) the
    per-frame photometric weights, so a frame with unreliable detections counts less.
    """
    change = texture.diff(dim=1).abs().mean((-1, -2))
    weights = sample_weights[:, 1:] * sample_weights[:, :-1]
    return weighted_mean(change, weights)
