"""The rest skeleton of the open hand: 16 MANO joints, 5 fingertips and the flesh radii around them.

Frame (MANO's rest frame): metres, wrist joint at the origin, the four fingers point along -x,
the palm faces -y, the thumb lies towards +z (a right hand). Lengths follow MANO's proportions:
the middle proximal phalanx (FreiHAND joints 9-10) is 28.5 mm, wrist to middle tip about 0.18 m.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NUM_JOINTS = 16
ROOT_PARENT = 4294967295  # MANO stores the root's parent as uint32(-1)
PARENTS = np.array([-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 0, 10, 11, 0, 13, 14])
# MANO joint order: wrist; index, middle, pinky, ring, thumb (3 joints each, palm to tip).
FINGER_ORDER = ("index", "middle", "pinky", "ring", "thumb")
TIP_ORDER = ("thumb", "index", "middle", "ring", "pinky")  # FreiHAND order of the 5 tips


@dataclass(frozen=True)
class FingerSpec:
    """One digit: where its first joint sits, which way it points, its bone lengths and radii."""

    base: tuple[float, float, float]  # first joint (MCP, or CMC for the thumb), metres
    directions: tuple[tuple[float, float, float], ...]  # 3 bone directions, palm to tip
    lengths: tuple[float, float, float]  # bone lengths, the last one to the tip of the flesh
    radii: tuple[float, float, float, float]  # flesh radius at each joint and at the tip


FINGERS: dict[str, FingerSpec] = {
    "index": FingerSpec(
        base=(-0.094, 0.0, 0.027),
        directions=((-1.0, 0.0, 0.07),) * 3,
        lengths=(0.031, 0.023, 0.026),
        radii=(0.0106, 0.0095, 0.0086, 0.0078),
    ),
    "middle": FingerSpec(
        base=(-0.097, 0.0, 0.006),
        directions=((-1.0, 0.0, 0.0),) * 3,
        lengths=(0.0285, 0.027, 0.029),
        radii=(0.0108, 0.0098, 0.0088, 0.0080),
    ),
    "ring": FingerSpec(
        base=(-0.092, 0.0, -0.014),
        directions=((-1.0, 0.0, -0.07),) * 3,
        lengths=(0.028, 0.026, 0.027),
        radii=(0.0102, 0.0093, 0.0084, 0.0076),
    ),
    "pinky": FingerSpec(
        base=(-0.083, 0.0, -0.032),
        directions=((-1.0, 0.0, -0.17),) * 3,
        lengths=(0.023, 0.018, 0.023),
        radii=(0.0092, 0.0082, 0.0075, 0.0069),
    ),
    "thumb": FingerSpec(
        base=(-0.026, -0.008, 0.022),
        directions=((-0.74, -0.32, 0.59), (-0.86, -0.24, 0.45), (-0.92, -0.18, 0.35)),
        lengths=(0.040, 0.031, 0.030),
        radii=(0.0150, 0.0115, 0.0102, 0.0090),
    ),
}


@dataclass(frozen=True)
class Skeleton:
    """Rest joints `(16, 3)`, fingertip points `(5, 3)` (FreiHAND tip order) and flesh radii."""

    joints: np.ndarray
    tips: np.ndarray
    joint_radii: np.ndarray  # (16,) flesh radius around each joint (the wrist: 0)
    tip_radii: np.ndarray  # (5,)

    def chain(self, finger: str) -> np.ndarray:
        """The finger's polyline wrist -> 3 joints -> tip, `(5, 3)`."""
        first = 1 + 3 * FINGER_ORDER.index(finger)
        ids = [0, first, first + 1, first + 2]
        return np.vstack([self.joints[ids], self.tips[TIP_ORDER.index(finger)]])

    def chain_joint_ids(self, finger: str) -> tuple[int, int, int, int]:
        """MANO joint whose bone starts at each of the chain's 4 segments (wrist first)."""
        first = 1 + 3 * FINGER_ORDER.index(finger)
        return (0, first, first + 1, first + 2)


def _unit(v: tuple[float, float, float]) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    return v / np.linalg.norm(v)


def rest_skeleton() -> Skeleton:
    """Lay out the joints and tips from `FINGERS`."""
    joints = np.zeros((NUM_JOINTS, 3))
    joint_radii = np.zeros(NUM_JOINTS)
    tips = np.zeros((len(TIP_ORDER), 3))
    tip_radii = np.zeros(len(TIP_ORDER))
    for f, name in enumerate(FINGER_ORDER):
        spec = FINGERS[name]
        point = np.asarray(spec.base, dtype=np.float64)
        for k in range(3):
            joints[1 + 3 * f + k] = point
            joint_radii[1 + 3 * f + k] = spec.radii[k]
            point = point + spec.lengths[k] * _unit(spec.directions[k])
        tips[TIP_ORDER.index(name)] = point
        tip_radii[TIP_ORDER.index(name)] = spec.radii[3]
    return Skeleton(joints=joints, tips=tips, joint_radii=joint_radii, tip_radii=tip_radii)
