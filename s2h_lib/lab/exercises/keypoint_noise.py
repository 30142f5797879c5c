"""Exercise on the detector noise model (03): doubling the joints' jitter."""

from __future__ import annotations

import numpy as np

from s2h_lib.data.synth.noise import NoiseModel, NoiseParams
from s2h_lib.lab.exercises.verdict import (
    CHECK_SEED,
    MEASURE_TOLERANCE,
    Verdict,
    exercise_check,
    given,
)


def doubled_noise(params: NoiseParams) -> NoiseParams:
    """`params` with every joint's jitter (`joint_sigma`) doubled, the rest unchanged."""
    return NoiseParams.from_dict(
        {**params.to_dict(), "joint_sigma": [2 * s for s in params.joint_sigma]}
    )


def median_found_error(
    params: NoiseParams, truth: np.ndarray, visible: np.ndarray, seed: int = CHECK_SEED
) -> float:
    """Median error (pixels) of the joints the noise model reports (confidence > 0), over one
    draw per hand of `truth` (N, 21, 2) with `visible` (N, 21)."""
    model, rng = NoiseModel(params), np.random.default_rng(seed)
    errors = []
    for keypoints, seen in zip(truth, visible, strict=True):
        reported, confidence = model.apply(keypoints, rng, seen)
        errors.append(np.linalg.norm(reported - keypoints, axis=1)[confidence > 0])
    return float(np.median(np.concatenate(errors)))


@exercise_check
def check_doubled_noise(
    params: NoiseParams | None, median_px: float | None, truth: np.ndarray, visible: np.ndarray
) -> Verdict:
    """Exercise 03.1: `params`, the package's noise model with `joint_sigma` doubled, and the
    median error (px) of the found joints it gives on `truth` (N, 21, 2), `visible` (N, 21)."""
    params = given(params, "NoiseParams with twice the calibrated joint_sigma")
    median_px = float(given(median_px, "the median error in pixels of the found joints"))
    expected_params = doubled_noise(NoiseParams.load())
    if params != expected_params:
        changed = [k for k, v in params.to_dict().items() if v != expected_params.to_dict()[k]]
        return Verdict(
            False,
            f"these noise parameters are not the calibrated ones with "
            f"joint_sigma doubled: {', '.join(changed)}",
        )
    expected = median_found_error(params, truth, visible)
    calibrated = median_found_error(NoiseParams.load(), truth, visible)
    if abs(median_px - expected) > MEASURE_TOLERANCE * expected:
        return Verdict(
            False,
            f"a draw of the check gives a median of {expected:.2f} px, you "
            f"give {median_px:.2f} px (errors of joints with confidence > 0)",
        )
    return Verdict(
        True,
        f"{median_px:.2f} px against {calibrated:.2f} px with the calibrated "
        f"noise: {median_px / calibrated:.2f} times (outliers and misses do "
        "not double)",
    )
