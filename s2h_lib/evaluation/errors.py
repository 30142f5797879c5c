"""Per-sample errors: 3D point distances, PA-MPJPE, the temporal errors of clips, 2D keypoints.

Inputs are in metres (2D in pixels), checked by `metric_inputs`; 3D errors are reported in
millimetres, 2D errors in pixels.
"""

from __future__ import annotations

import numpy as np

from s2h_lib.evaluation.alignment import procrustes, root_relative
from s2h_lib.evaluation.metric_inputs import checked
from s2h_lib.hand.hand_model import MM_PER_M
from s2h_lib.hand.skeleton import NUM_KEYPOINTS


def distances(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """(..., P) Euclidean distance of each corresponding point of (..., P, D) arrays."""
    return np.linalg.norm(pred - gt, axis=-1)


def pa_mpjpe_mm(pred: object, gt: object) -> np.ndarray:
    """(B,) PA-MPJPE of each sample, mm: joints (B, 21, 3) metres, each prediction moved onto
    its truth by `alignment.procrustes_align_batch` before the mean joint distance is taken."""
    sizes: dict[str, int] = {}
    pred = checked("pred", pred, ("B", NUM_KEYPOINTS, 3), sizes)
    gt = checked("gt", gt, ("B", NUM_KEYPOINTS, 3), sizes)
    return distances(procrustes(pred, gt), gt).mean(axis=1) * MM_PER_M


# ---------------------------------------------------------------- temporal


def acceleration_error(pred_clips: object, gt_clips: object) -> np.ndarray:
    """(B,) acceleration error of clips (B, T, 21, 3), mm/frame^2, on root-relative joints.

    The second finite difference of the predicted joints minus that of the ground truth, its
    norm averaged over joints and the T - 2 frames where it exists: the "Accel Error" of
    Kanazawa et al., Learning 3D Human Dynamics from Video (CVPR 2019), used by VIBE and TCMR.
    """
    sizes: dict[str, int] = {}
    pred = checked("pred_clips", pred_clips, ("B", "T", NUM_KEYPOINTS, 3), sizes)
    gt = checked("gt_clips", gt_clips, ("B", "T", NUM_KEYPOINTS, 3), sizes)
    _require_frames(pred, 3, "acceleration error")
    accel_pred = np.diff(root_relative(pred), n=2, axis=1)
    accel_gt = np.diff(root_relative(gt), n=2, axis=1)
    return distances(accel_pred, accel_gt).mean(axis=(1, 2)) * MM_PER_M


def jitter(clips: object) -> np.ndarray:
    """(B,) jitter of clips (B, T, 21, 3), mm/frame^3, on root-relative joints.

    The norm of the third finite difference (jerk) averaged over joints and the T - 3 frames where
    it exists, as in GLAMR (Yuan et al., CVPR 2022) and WHAM (Shin et al., CVPR 2024), which
    report it per second^3: multiply by fps^3 (and divide by 1e4 for their 10 m/s^3 unit).
    """
    values = checked("clips", clips, ("B", "T", NUM_KEYPOINTS, 3), {})
    _require_frames(values, 4, "jitter")
    jerk = np.diff(root_relative(values), n=3, axis=1)
    return np.linalg.norm(jerk, axis=-1).mean(axis=(1, 2)) * MM_PER_M


def _require_frames(clips: np.ndarray, needed: int, metric: str) -> None:
    if clips.shape[1] < needed:
        raise ValueError(f"{metric} needs clips of at least {needed} frames, got {clips.shape[1]}")


# ---------------------------------------------------------------- 2D


def keypoint_errors_2d(pred: object, gt: object) -> np.ndarray:
    """(N, K) pixel distance between predicted and GT 2D keypoints, both (N, K, 2)."""
    sizes: dict[str, int] = {}
    return distances(
        checked("pred_keypoints2d", pred, ("N", "K", 2), sizes),
        checked("gt_keypoints2d", gt, ("N", "K", 2), sizes),
    )


def box_side(points: np.ndarray) -> np.ndarray:
    """(N,) longer side of the bounding box of each sample's points (N, K, 2)."""
    return (points.max(axis=1) - points.min(axis=1)).max(axis=1)


def hand_box_size(gt: object) -> np.ndarray:
    """(N,) longer side of the bounding box of each sample's GT keypoints (N, K, 2), pixels."""
    points = checked("gt_keypoints2d", gt, ("N", "K", 2), {})
    size = box_side(points)
    if (size <= 0).any():
        raise ValueError(
            f"GT 2D keypoints of samples {np.flatnonzero(size <= 0)[:5].tolist()} all coincide; "
            "the box-normalised PCK needs a hand box of positive size"
        )
    return size


def projected_size_ratio(pred: object, gt: object) -> np.ndarray:
    """(N,) the predicted 2D keypoints' box side over the GT's, both (N, K, 2): about 1 for a
    hand projected at the right size, near 0 for a model whose projections collapse to a point
    (the hand placed far away: S2HAND's end-to-end failure, `s2hand_method.md` section 11)."""
    sizes: dict[str, int] = {}
    pred_points = checked("pred_keypoints2d", pred, ("N", "K", 2), sizes)
    return box_side(pred_points) / hand_box_size(
        checked("gt_keypoints2d", gt, ("N", "K", 2), sizes)
    )
