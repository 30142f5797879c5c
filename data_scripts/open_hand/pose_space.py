"""Pose space of the open hand: a PCA of sampled plausible articulations.

Poses are drawn from a few finger synergies (how much the hand closes, how far each finger departs
from that, how spread the fingers are, how far the thumb opposes), kept inside the joint-angle
limits, with a little independent noise on every angle so that all 45 directions carry variance.
Their principal components become `hands_components` in MANO's convention: rows are mutually
orthogonal and scaled by the standard deviation of their coefficient, so the coefficients of the
sampled poses (`hands_coeffs`) have unit variance, and `hands_mean` is their mean: a relaxed,
slightly flexed hand.
"""

from __future__ import annotations

import numpy as np

from s2h_lib.hand.hand_poses import (
    BEND,
    FINGER_JOINTS,
    NUM_ARTICULATED_JOINTS,
    SPLAY,
    TWIST,
    clip_to_limits,
)

NUM_POSE_SAMPLES = 1500
LONG_FINGERS = ("index", "middle", "ring", "pinky")
# Full closure of each long finger's MCP, PIP and DIP, degrees.
CLOSED_BENDS_DEG = np.array([85.0, 100.0, 70.0])
# Splay of each long finger's MCP for a fully spread hand, degrees (towards the thumb is +).
SPREAD_SPLAY_DEG = {"index": 9.0, "middle": 1.0, "ring": -8.0, "pinky": -14.0}
ANGLE_NOISE_DEG = 3.0


def sample_pose(rng: np.random.Generator) -> np.ndarray:
    """One plausible articulation `(15, 3)` in radians."""
    pose = np.zeros((NUM_ARTICULATED_JOINTS, 3))
    grasp = rng.beta(1.1, 2.8)
    spread = rng.normal(0.3, 0.6) * (1.0 - grasp)
    for name in LONG_FINGERS:
        closure = grasp + rng.normal(0.0, 0.18)
        if rng.random() < 0.15:
            closure = rng.uniform(-0.05, 0.25) if grasp > 0.5 else rng.uniform(0.6, 1.0)
        closure = np.clip(closure, -0.1, 1.0)
        mcp, pip, dip = FINGER_JOINTS[name]
        bends = closure * CLOSED_BENDS_DEG * rng.uniform(0.85, 1.15, 3)
        pose[[mcp, pip, dip], BEND] = bends
        pose[mcp, SPLAY] = spread * SPREAD_SPLAY_DEG[name]
    pose[FINGER_JOINTS["pinky"][0], TWIST] = -8.0 * grasp
    cmc, mcp, ip = FINGER_JOINTS["thumb"]
    opposition = np.clip(0.4 * grasp + rng.uniform(0.0, 0.7), 0.0, 1.0)
    thumb_flex = np.clip(grasp + rng.normal(0.0, 0.25), -0.1, 1.0)
    pose[cmc] = (80.0 * opposition, rng.normal(0.0, 8.0), -20.0 * thumb_flex + rng.normal(0.0, 5.0))
    pose[mcp, BEND] = 20.0 * thumb_flex
    pose[ip, BEND] = 75.0 * thumb_flex
    pose += rng.normal(0.0, ANGLE_NOISE_DEG, pose.shape)
    return clip_to_limits(np.deg2rad(pose))


def pose_components(poses: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(hands_components `(45, 45)`, hands_mean `(45,)`, hands_coeffs `(N, 45)`) of poses `(N, 45)`.

    Each component's sign is fixed so that its largest entry is positive, which keeps the result
    deterministic across linear-algebra back ends.
    """
    mean = poses.mean(axis=0)
    centred = poses - mean
    _, singular, vt = np.linalg.svd(centred, full_matrices=False)
    vt *= np.where(vt[np.arange(len(vt)), np.abs(vt).argmax(axis=1)] < 0, -1.0, 1.0)[:, None]
    std = singular / np.sqrt(len(poses) - 1)
    components = vt * std[:, None]
    coeffs = centred @ vt.T / std
    return components, mean, coeffs


def sample_pose_space(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sample `NUM_POSE_SAMPLES` poses and return their components, mean and coefficients."""
    poses = np.stack([sample_pose(rng).reshape(-1) for _ in range(NUM_POSE_SAMPLES)])
    return pose_components(poses)
