"""Solutions to notebook 03's exercises."""

from dataclasses import replace

import numpy as np

from s2h_lib.data.synth.noise import NoiseModel, NoiseParams


def doubled_noise_median(
    truth: np.ndarray, visible: np.ndarray, seed: int = 1
) -> tuple[NoiseParams, float]:
    """Exercise 03.1: the calibrated noise with twice the jitter, and the median error (px) of
    the joints it reports on true keypoints (N, 21, 2) (missed joints have confidence 0)."""
    calibrated = NoiseParams.load()
    doubled = replace(calibrated, joint_sigma=tuple(2 * s for s in calibrated.joint_sigma))
    model, rng = NoiseModel(doubled), np.random.default_rng(seed)
    errors = []
    for keypoints, seen in zip(truth, visible):
        reported, confidence = model.apply(keypoints, rng, seen)
        errors.append(np.linalg.norm(reported - keypoints, axis=1)[confidence > 0])
    return doubled, float(np.median(np.concatenate(errors)))
