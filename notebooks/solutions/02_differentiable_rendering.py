"""Solutions to notebook 02's exercises."""

import torch

from s2h_lib.render import silhouette
from s2h_lib.fit.silhouette_fit import HandScene


def largest_matching_sigma(scene: HandScene, verts: torch.Tensor, start: float = 8.0) -> float:
    """Exercise 02.1: halve sigma from `start` until the soft silhouette (thresholded at 0.5)
    differs from the hard one on fewer than 1% of the pixels; the one before did not."""
    hard = silhouette(verts, scene.faces, scene.K, scene.settings("hard")) > 0.5
    sigma = start
    while True:
        soft = silhouette(verts, scene.faces, scene.K, scene.settings("soft", sigma=sigma)) > 0.5
        if (soft != hard).float().mean() < 0.01:
            return sigma
        sigma /= 2


def soft_iou_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Exercise 02.2: 1 - sum(p t) / sum(p + t - p t) per image (B, 1, H, W), batch mean."""
    inter = (pred * target).flatten(1).sum(1)
    union = (pred + target - pred * target).flatten(1).sum(1)
    return (1.0 - inter / union).mean()
