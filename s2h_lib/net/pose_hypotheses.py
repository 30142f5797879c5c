"""The network's pose hypotheses (`ModelConfig.pose_hypotheses`): H articulations and rotations
per image, laid out hypothesis-major (H * B rows), and the choice among them.

Two hands can project onto the same 2D keypoints (a finger bent towards or away from the
camera), and a regressor that must give one answer learns to settle between them. With H
answers, each anchored on the keypoints, the one whose joints reproject closest is kept: a
winner-takes-all made without gradient, so only the chosen answer's heads learn from an image,
and the same choice is made at inference from the same keypoints (no 3D label is read).
"""

from __future__ import annotations

import torch
from torch import Tensor

from s2h_lib.net.prediction import HandPrediction, reprojection_px


def per_hypothesis(tensor: Tensor, count: int) -> Tensor:
    """`tensor` (B, ...) repeated for `count` hypotheses: (count * B, ...), hypothesis-major."""
    return tensor.repeat(count, *[1] * (tensor.dim() - 1)) if count > 1 else tensor


def best_hypothesis(
    prediction: HandPrediction, keypoints: Tensor, confidence: Tensor, count: int
) -> HandPrediction:
    """Of the `count` hypotheses of each of B images (`prediction` with count * B rows,
    hypothesis-major), the one that reprojects closest to its `keypoints` (count * B, 21, 2)
    with `confidence` (count * B, 21), laid out as the prediction (`per_hypothesis`); a
    prediction of B rows. Ties (no confident keypoint) keep the first."""
    batch = keypoints.shape[0] // count
    with torch.no_grad():
        errors = reprojection_px(prediction, keypoints, confidence)
        choice = errors.reshape(count, batch).argmin(0)
    rows = torch.arange(batch, device=choice.device)
    return prediction.map(lambda t: t.reshape(count, batch, *t.shape[1:])[choice, rows])
