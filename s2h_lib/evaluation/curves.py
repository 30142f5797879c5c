"""Scores over thresholds: PCK curves and their area (AUC), the F-score of two point clouds,
and 2D PCK.

The FreiHAND protocol (reference notes mano_render_eval.md section 5): PCK over thresholds
`linspace(0, 50 mm, 100)` (distance <= threshold), AUC = trapezoid area normalised by the
threshold range, averaged over keypoints (or vertices); F-score of the vertex point clouds at 5
and 15 mm: nearest neighbours in both directions, strict `<`, F = 2PR / (P + R), or 0 when
P + R = 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.spatial import cKDTree
from tqdm import tqdm

from s2h_lib.evaluation.metric_inputs import checked, to_numpy


def pck_curve(distances_m: object, thresholds_m: object) -> np.ndarray:
    """(T,) PCK of distances (N, P) at each threshold: the mean over the P points of each point's
    fraction of samples with distance <= threshold (official per-keypoint curve, averaged).

    Every point is scored in every sample, so this equals the fraction over all (sample, point)
    pairs, which one sort gives without an (N, P, T) comparison.
    """
    sorted_distances = np.sort(to_numpy(distances_m).ravel())
    hits = np.searchsorted(sorted_distances, to_numpy(thresholds_m), side="right")
    return hits / sorted_distances.size


def area_under_curve(curve: object, thresholds: object) -> float:
    """Trapezoid area under `curve` (T,) over `thresholds` (T,), divided by the threshold range
    (so a curve that is 1 everywhere has AUC 1)."""
    y, x = to_numpy(curve), to_numpy(thresholds)
    return float(np.sum((y[1:] + y[:-1]) * np.diff(x)) / 2.0 / (x[-1] - x[0]))


def f_scores(pred_points: object, gt_points: object, thresholds_m: Sequence[float]) -> np.ndarray:
    """(len(thresholds),) F-score of two point clouds (M, 3) and (G, 3), no correspondence needed.

    Precision: fraction of predicted points whose nearest GT point is closer than the threshold;
    recall: the converse (the official code swaps the two names; F is symmetric).
    """
    pred = checked("pred_points", pred_points, ("M", 3), {})
    gt = checked("gt_points", gt_points, ("G", 3), {})
    pred_to_gt, _ = cKDTree(gt).query(pred)
    gt_to_pred, _ = cKDTree(pred).query(gt)
    limits = np.asarray(thresholds_m, dtype=np.float64)[:, None]
    precision = (pred_to_gt[None, :] < limits).mean(axis=1)
    recall = (gt_to_pred[None, :] < limits).mean(axis=1)
    total = precision + recall
    return np.divide(2 * precision * recall, total, out=np.zeros_like(total), where=total > 0)


def f_scores_batch(pred: np.ndarray, gt: np.ndarray, thresholds_m: Sequence[float]) -> np.ndarray:
    """(B, len(thresholds)) F-scores of B pairs of (V, 3) clouds."""
    rows = tqdm(range(len(pred)), desc="F-scores", leave=False, disable=None)
    return np.array([f_scores(pred[i], gt[i], thresholds_m) for i in rows]).reshape(
        len(pred), len(thresholds_m)
    )


def pck_2d(errors_px: np.ndarray, thresholds: Sequence[float], scale: np.ndarray) -> np.ndarray:
    """(len(thresholds),) fraction of keypoints whose error (N, K) is <= threshold * scale (N,):
    `scale` = 1 for thresholds in pixels, the hand box size for box fractions."""
    limits = np.asarray(thresholds, dtype=np.float64)[:, None, None] * scale[None, :, None]
    return (errors_px[None] <= limits).mean(axis=(1, 2))
