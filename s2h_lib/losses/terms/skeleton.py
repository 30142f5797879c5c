"""Skeleton terms: keypoint reprojection, bone directions, the 2D branch, the 2D-3D consistency,
the scale prior and the joint-angle limits, all on the 21 joints (FreiHAND order, crop pixels
for 2D, metres for 3D; `confidence` is the detector's per-joint c_bj)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from s2h_lib.hand.hand_poses import JOINT_LIMITS_HIGH, JOINT_LIMITS_LOW
from s2h_lib.hand.skeleton import (
    FREIHAND_BONES,
    FREIHAND_TIPS,
    MIDDLE_PROXIMAL_LENGTH_M,
    NUM_KEYPOINTS,
    middle_proximal_length,
)
from s2h_lib.losses.terms.reduce import WEIGHT_SUM_EPS, check_trailing, weighted_mean

HUBER_DELTA_PX = 5.0
WRIST_WEIGHT = 2.0
TIP_WEIGHT = 1.5
# Added to a 2D bone's length before dividing, as the original (pixels).
BONE_LENGTH_EPS_PX = 1e-4
# Joint-angle components twist, splay, bend: bend violations count double.
LIMIT_COMPONENT_WEIGHTS = (1.0, 1.0, 2.0)


def huber_distance(difference: Tensor, delta: float = HUBER_DELTA_PX) -> Tensor:
    """rho(||difference||) over the last axis: d^2 / (2 delta) below delta, d - delta / 2 above.

    With delta = 5 px this is the original's d^2/10 | d - 2.5. The square root is only taken
    where d >= delta, so the gradient is finite (0) at d = 0.
    """
    squared = difference.square().sum(-1)
    quadratic = squared / (2.0 * delta)
    linear = squared.clamp_min(delta**2).sqrt() - delta / 2.0
    return torch.where(squared < delta**2, quadratic, linear)


def keypoint_joint_weights(
    like: Tensor, wrist: float = WRIST_WEIGHT, tip: float = TIP_WEIGHT
) -> Tensor:
    """Fixed per-joint weights omega (21,): `wrist` for joint 0, `tip` for the 5 tips, else 1."""
    weights = like.new_ones(NUM_KEYPOINTS)
    weights[0] = wrist
    weights[list(FREIHAND_TIPS)] = tip
    return weights


# --------------------------------------------------------------------------------------------
# Keypoint (skeleton) terms


def keypoint_reprojection_loss(
    projected: Tensor,
    keypoints: Tensor,
    confidence: Tensor,
    joint_weights: Tensor | None = None,
    delta: float = HUBER_DELTA_PX,
) -> Tensor:
    """Projected 3D joints vs detected keypoints (`open_2dj`).

        L = sum_bj (omega_j c_bj)^2 rho(||p_bj - o_bj||) / sum_bj (omega_j c_bj)^2

    projected, keypoints: (B, 21, 2) pixels; confidence: (B, 21); joint_weights: (21,), default
    2 for the wrist, 1.5 for the tips, 1 otherwise. Same as the original.
    """
    check_trailing("projected", projected, (NUM_KEYPOINTS, 2))
    if joint_weights is None:
        joint_weights = keypoint_joint_weights(projected)
    weights = (joint_weights * confidence).square()
    return weighted_mean(huber_distance(projected - keypoints, delta), weights)


def bone_direction_loss(
    projected: Tensor,
    keypoints: Tensor,
    confidence: Tensor,
    bones: Sequence[tuple[int, int]] = FREIHAND_BONES,
    eps: float = BONE_LENGTH_EPS_PX,
    length_weighted: bool = False,
) -> Tensor:
    """2D bone directions vs the detector's (`open_bone_direc`).

        u = (x_child - x_parent) / (||x_child - x_parent|| + eps)
        L = mean_{b, bones} w_b c_parent c_child ||u_pred - u_det||^2

    projected, keypoints: (B, 21, 2); confidence: (B, 21). With w_b = 1 this is the original (a
    mean over all B x 20 bones, not normalised by the confidences). `length_weighted` sets w_b
    to the detected bone's squared length over its sample's mean squared bone length: a
    keypoint's noise of sigma pixels turns a bone of length l by about sigma / l, so this is
    the inverse of each direction's noise variance, and a short fingertip bone no longer counts
    as much as a long one.
    """
    check_trailing("projected", projected, (NUM_KEYPOINTS, 2))
    parents = [p for p, _ in bones]
    children = [c for _, c in bones]

    def bone_vectors(points: Tensor) -> Tensor:
        return points[..., children, :] - points[..., parents, :]

    def directions(vectors: Tensor) -> Tensor:
        return vectors / (torch.linalg.vector_norm(vectors, dim=-1, keepdim=True) + eps)

    detected = bone_vectors(keypoints)
    weights = confidence[..., parents] * confidence[..., children]
    if length_weighted:
        weights = weights * detected_bone_length_weights(detected)
    errors = (directions(bone_vectors(projected)) - directions(detected)).square().sum(-1)
    return (weights * errors).mean()


def detected_bone_length_weights(bone_vectors: Tensor) -> Tensor:
    """Squared bone lengths over their sample's mean: (..., bones, 2) -> (..., bones)."""
    squared = bone_vectors.square().sum(-1)
    return squared / squared.mean(-1, keepdim=True).clamp_min(WEIGHT_SUM_EPS)


def heatmap_keypoint_loss(
    heatmap_keypoints: Tensor, keypoints: Tensor, confidence: Tensor
) -> Tensor:
    """The 2D branch's keypoints of every stack vs the detector (`hm_integral`).

        L = sum_k [ sum_bj c_bj^2 ||h^(k)_bj - o_bj|| / sum_bj c_bj^2 ]

    heatmap_keypoints: (B, S, 21, 2); keypoints: (B, 21, 2); confidence: (B, 21). A plain
    (not squared) Euclidean distance, summed (not averaged) over the S stacks, as the original.
    """
    check_trailing("heatmap_keypoints", heatmap_keypoints, (NUM_KEYPOINTS, 2))
    distance = torch.linalg.vector_norm(heatmap_keypoints - keypoints.unsqueeze(1), dim=-1)
    weights = confidence.square().unsqueeze(1)
    per_stack = (weights * distance).sum((0, 2)) / weights.sum().clamp_min(WEIGHT_SUM_EPS)
    return per_stack.sum()


def keypoint_consistency_loss(
    heatmap_last: Tensor, projected: Tensor, delta: float = HUBER_DELTA_PX
) -> Tensor:
    """2D-3D consistency between the 2D branch's last stack and the projected joints (`kp_cons`).

        L = mean_bj rho(||h^(S)_bj - p_bj||)

    heatmap_last, projected: (B, 21, 2). No confidences and no detach: both branches receive
    gradients and pull towards each other, as in the original.
    """
    return huber_distance(heatmap_last - projected, delta).mean()


def scale_prior_loss(joints: Tensor, reference_length: float = MIDDLE_PROXIMAL_LENGTH_M) -> Tensor:
    """Absolute-size prior (`mscale`): L = mean_b | ||J_b,10 - J_b,9|| - reference_length |.

    joints: (B, 21, 3) metres, camera frame (so the length includes the camera scale |s|).
    Joints 9 and 10 are the middle MCP and PIP in FreiHAND order. The reference is the
    dataset-average 0.0282 m by default; for data rendered from the open hand model at scale 1
    pass its own rest length (0.0285 m), or the prior biases |s| by 1 %. Same as the original.
    """
    check_trailing("joints", joints, (NUM_KEYPOINTS, 3))
    return (middle_proximal_length(joints) - reference_length).abs().mean()


def joint_limit_loss(
    joint_angles: Tensor,
    low: Tensor | None = None,
    high: Tensor | None = None,
    component_weights: Sequence[float] = LIMIT_COMPONENT_WEIGHTS,
) -> Tensor:
    """Biomechanical joint-angle limits (`tsa_poses`): a hinge outside per-joint ranges.

        e_jc = max(0, a_jc - high_jc) + max(0, low_jc - a_jc)
        L = mean_{b, j = 1..15, c} w_c e_jc,   w = (1, 1, 2) for (twist, splay, bend)

    joint_angles: (B, 16, 3) axis-angle per joint in the model's rest frame, root row first;
    low, high: (15, 3) radians, default `hand_poses.JOINT_LIMITS_LOW/HIGH`. The root row is
    excluded: it is the global rotation here, while the original fixed it to (pi, 0, 0), gave it
    a range it never left and so averaged over 16 rows (values 15/16 of the original's).
    """
    check_trailing("joint_angles", joint_angles, (16, 3))
    if low is None:
        low = torch.as_tensor(JOINT_LIMITS_LOW)
    if high is None:
        high = torch.as_tensor(JOINT_LIMITS_HIGH)
    low, high = (limit.to(joint_angles) for limit in (low, high))
    angles = joint_angles[..., 1:, :]
    excess = F.relu(angles - high) + F.relu(low - angles)
    return (excess * joint_angles.new_tensor(component_weights)).mean()
