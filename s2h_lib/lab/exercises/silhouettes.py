"""Exercises on differentiable rendering (02): the soft silhouette against the hard one, and
soft IoU."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from s2h_lib.fit.silhouette_fit import make_scene, soft_iou_loss
from s2h_lib.lab.exercises.verdict import (
    CHECK_SEED,
    TOLERANCE,
    Verdict,
    call_answer,
    exercise_check,
    given,
)
from s2h_lib.render import silhouette

MAX_DISAGREEMENT = 0.01  # soft vs hard silhouette, fraction of pixels


def silhouette_disagreement(sigma: float, image_size: int) -> float:
    """Fraction of pixels where the soft silhouette (at `sigma`, thresholded at 0.5) and the
    hard one of notebook 02's scene differ."""
    scene = make_scene(image_size, pose="relaxed")
    zero = torch.zeros(1, 3)
    verts = scene.place(zero, zero)
    hard = silhouette(verts, scene.faces, scene.K, scene.settings("hard"))
    soft = silhouette(verts, scene.faces, scene.K, scene.settings("soft", sigma=sigma))
    return float(((soft > 0.5) != (hard > 0.5)).float().mean())


@exercise_check
def check_soft_matches_hard(sigma: float | None, image_size: int = 96) -> Verdict:
    """Exercise 02.1: the largest sigma (to within a factor 2) whose soft silhouette differs
    from the hard one on fewer than 1% of the pixels."""
    sigma = float(given(sigma, "a sigma in squared pixels"))
    if not sigma > 0:
        return Verdict(False, "sigma must be positive")
    at_sigma = silhouette_disagreement(sigma, image_size)
    if at_sigma >= MAX_DISAGREEMENT:
        return Verdict(
            False,
            f"at sigma {sigma:g} they differ on {at_sigma:.2%} of the pixels: make it smaller",
        )
    at_double = silhouette_disagreement(2 * sigma, image_size)
    if at_double < MAX_DISAGREEMENT:
        return Verdict(
            False,
            f"sigma {sigma:g} matches ({at_sigma:.2%}), but so does "
            f"{2 * sigma:g} ({at_double:.2%}): a larger sigma keeps gradients "
            "reaching further, look for the largest",
        )
    return Verdict(
        True,
        f"sigma {sigma:g}: {at_sigma:.2%} of the pixels differ, at "
        f"{2 * sigma:g} already {at_double:.2%}",
    )


@exercise_check
def check_soft_iou(loss_fn: Callable | None) -> Verdict:
    """Exercise 02.2: `loss_fn(pred, target)` = 1 - soft IoU of (B, 1, H, W) silhouettes,
    averaged over the batch, as `silhouette_fit.soft_iou_loss`."""
    generator = torch.Generator().manual_seed(CHECK_SEED)
    pred, target = torch.rand(2, 3, 1, 16, 16, generator=generator)
    # images of different coverage, so a mean over the batch differs from a pooled ratio
    pred[1], target[1] = 0.2 * pred[1], (target[1] > 0.8).float()
    expected = float(soft_iou_loss(pred, target))
    answer = float(call_answer(loss_fn, pred, target))
    if math.isclose(answer, expected, rel_tol=TOLERANCE):
        return Verdict(True, f"{answer:.5f}, as the library's")
    return Verdict(
        False,
        f"you give {answer:.5f}, the library {expected:.5f} "
        "(sum over pixels per image, then average over the batch)",
    )
