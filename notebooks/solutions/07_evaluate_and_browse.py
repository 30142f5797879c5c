"""Solutions to notebook 07's exercises."""

import numpy as np


def auc(pck: np.ndarray, thresholds: np.ndarray) -> float:
    """Exercise 07.1: trapezoid area under the PCK curve over the threshold range."""
    area = np.sum((pck[1:] + pck[:-1]) / 2 * np.diff(thresholds))
    return float(area / (thresholds[-1] - thresholds[0]))


def procrustes_align(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Exercise 07.2: pred (N, 3) moved onto gt (N, 3) by the best scale s, orthogonal R and
    translation: centre both, R from the SVD of their cross-covariance, s from its singular
    values (FreiHAND keeps a reflection if the SVD gives one)."""
    pred_centred, gt_centred = pred - pred.mean(0), gt - gt.mean(0)
    u, singular_values, vt = np.linalg.svd(pred_centred.T @ gt_centred)
    rotation = u @ vt  # pred_centred @ rotation ~ gt_centred / s
    scale = singular_values.sum() / np.square(pred_centred).sum()
    return scale * pred_centred @ rotation + gt.mean(0)
