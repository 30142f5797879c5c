"""Aligning a prediction to its truth before it is scored: Procrustes and the wrist root.

`procrustes_align` is the official FreiHAND `align_w_scale` (reference notes mano_render_eval.md
section 5): scale, orthogonal matrix and translation, done separately for joints and vertices.
Like the official code it has no determinant constraint: the best orthogonal matrix may be a
reflection, so a mirrored prediction aligns perfectly. Root-relative joints (the wrist, joint 0,
subtracted) are not official but common.
"""

from __future__ import annotations

import numpy as np

from s2h_lib.evaluation.metric_inputs import checked

ROOT_JOINT = 0  # the wrist in FreiHAND order
# Added to both Frobenius norms, as the official script does; it shrinks an aligned prediction by
# about 1e-8 relative, so a perfect one keeps residues of ~1e-9 m (1e-6 mm).
PROCRUSTES_EPS = 1e-8


def procrustes(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Batched official FreiHAND `align_w_scale` on checked (..., N, 3) float64 arrays."""
    gt_mean = gt.mean(axis=-2, keepdims=True)
    gt_centred = gt - gt_mean
    pred_centred = pred - pred.mean(axis=-2, keepdims=True)
    gt_norm = np.linalg.norm(gt_centred, axis=(-2, -1), keepdims=True) + PROCRUSTES_EPS
    pred_norm = np.linalg.norm(pred_centred, axis=(-2, -1), keepdims=True) + PROCRUSTES_EPS
    a, b = gt_centred / gt_norm, pred_centred / pred_norm
    # scipy's orthogonal_procrustes(a, b): SVD of a^T b = U S V^T, R = U V^T (a R ~ b), s = sum S.
    # U V^T may be a reflection; the official script keeps it.
    u, singular_values, vt = np.linalg.svd(np.swapaxes(a, -1, -2) @ b)
    rotation = u @ vt
    scale = singular_values.sum(axis=-1)[..., None, None]
    return (b @ np.swapaxes(rotation, -1, -2)) * scale * gt_norm + gt_mean


def procrustes_align(pred: object, gt: object) -> np.ndarray:
    """`pred` (N, 3) moved onto `gt` (N, 3) by the best similarity transform (official FreiHAND
    alignment: scale, orthogonal matrix (reflection allowed), translation). Returns (N, 3)."""
    sizes: dict[str, int] = {}
    return procrustes(checked("pred", pred, ("N", 3), sizes), checked("gt", gt, ("N", 3), sizes))


def procrustes_align_batch(pred: object, gt: object) -> np.ndarray:
    """`procrustes_align` for each of B samples: (B, N, 3), (B, N, 3) -> (B, N, 3)."""
    sizes: dict[str, int] = {}
    return procrustes(
        checked("pred", pred, ("B", "N", 3), sizes), checked("gt", gt, ("B", "N", 3), sizes)
    )


def root_relative(joints: np.ndarray) -> np.ndarray:
    """(..., 21, 3) joints with the wrist (joint 0) subtracted from every joint."""
    return joints - joints[..., ROOT_JOINT : ROOT_JOINT + 1, :]
