"""The articulations of S2H-Synth's hands: named poses and everyday grasps with jitter, samples
of the hand model's PCA pose space, and blends of the two, clipped to the joint limits
(`hand_poses.py`)."""

from __future__ import annotations

import numpy as np

from s2h_lib.hand import hand_poses

POSE_SOURCES = ("named", "pca", "blend")
POSE_SOURCE_WEIGHTS = (0.3, 0.35, 0.35)
PCA_SCALE_RANGE = (0.4, 1.0)  # standard deviations of the PCA coefficients
JITTER_DEG = np.array([2.0, 3.0, 6.0])  # twist, splay, bend


def _grasp(bends: dict[str, tuple[float, float, float]], opposition: float) -> np.ndarray:
    """A `(15, 3)` pose from per-finger bends and the thumb's opposition, in degrees."""
    pose = np.zeros((hand_poses.NUM_ARTICULATED_JOINTS, 3))
    for name, angles in bends.items():
        for joint, angle in zip(hand_poses.FINGER_JOINTS[name], angles, strict=True):
            pose[joint, hand_poses.BEND] = angle
    thumb_cmc = hand_poses.FINGER_JOINTS["thumb"][0]
    pose[thumb_cmc, hand_poses.TWIST] = opposition
    return np.deg2rad(pose)


_LONG_FINGERS = ("index", "middle", "ring", "pinky")
# Everyday grasps (Feix et al.'s taxonomy, roughly), beside the named poses of hand_poses.py.
GRASP_POSES = {
    "cylinder": _grasp(
        {f: (50.0, 60.0, 35.0) for f in _LONG_FINGERS} | {"thumb": (-10, 20, 30)}, 60
    ),
    "tripod": _grasp(
        {"index": (45.0, 50.0, 30.0), "middle": (50.0, 55.0, 30.0)}
        | {"ring": (65.0, 75.0, 45.0), "pinky": (70.0, 80.0, 45.0), "thumb": (-10, 20, 35)},
        70,
    ),
    "ok": _grasp(
        {"index": (40.0, 60.0, 45.0), "middle": (10.0, 10.0, 5.0)}
        | {"ring": (15.0, 15.0, 5.0), "pinky": (20.0, 15.0, 5.0), "thumb": (-10, 20, 40)},
        60,
    ),
    "thumbs_up": _grasp({f: (85.0, 95.0, 60.0) for f in _LONG_FINGERS} | {"thumb": (0, 0, 0)}, 0),
    "claw": _grasp({f: (0.0, 90.0, 70.0) for f in _LONG_FINGERS} | {"thumb": (-10, 20, 40)}, 40),
}
KEY_POSES = {**hand_poses.NAMED_POSES, **GRASP_POSES}


def _jitter(rng: np.random.Generator, pose: np.ndarray) -> np.ndarray:
    return pose + np.deg2rad(rng.normal(size=pose.shape) * JITTER_DEG)


class PoseSampler:
    """Articulations `(15, 3)` (radians, MANO joint order, hand mean included) from a mixture of
    key poses with jitter, PCA samples and blends of both, clipped to the joint limits."""

    def __init__(self, hands_mean: np.ndarray, hands_components: np.ndarray) -> None:
        self.mean = np.asarray(hands_mean, dtype=np.float64)
        self.components = np.asarray(hands_components, dtype=np.float64)
        self.key_names = tuple(KEY_POSES)

    def key_pose(self, rng: np.random.Generator) -> np.ndarray:
        return _jitter(rng, KEY_POSES[self.key_names[rng.integers(len(self.key_names))]])

    def pca_pose(self, rng: np.random.Generator) -> np.ndarray:
        scale = rng.uniform(*PCA_SCALE_RANGE)
        coeffs = rng.normal(size=len(self.components)) * scale
        return (self.mean + coeffs @ self.components).reshape(-1, 3)

    def __call__(self, rng: np.random.Generator) -> np.ndarray:
        source = POSE_SOURCES[rng.choice(len(POSE_SOURCES), p=POSE_SOURCE_WEIGHTS)]
        if source == "named":
            pose = self.key_pose(rng)
        elif source == "pca":
            pose = self.pca_pose(rng)
        else:
            t = rng.uniform()
            pose = (1 - t) * self.key_pose(rng) + t * self.pca_pose(rng)
        return hand_poses.clip_to_limits(pose)
