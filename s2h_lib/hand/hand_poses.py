"""Joint-angle limits and named hand poses in MANO's rest frame.

MANO expresses every articulation as an axis-angle in the (shared) rest frame of the hand:
x runs along the four fingers (from the fingertips towards the wrist), y is the palm normal, z runs
across the palm towards the thumb. For the four fingers the three components therefore read as
(twist, splay, bend): a positive bend about z curls a finger into the palm, a positive splay about
y swings it towards the thumb. The open hand model shipped with this package is built in the same
frame, so every table here applies to it and to the official MANO files alike.

Poses are `(15, 3)` arrays of axis-angles in radians, in MANO joint order (without the root):
index 1-3, middle 4-6, pinky 7-9, ring 10-12, thumb 13-15, each from the palm to the tip.
"""

from __future__ import annotations

import numpy as np

NUM_ARTICULATED_JOINTS = 15
# The rest frame's directions: the four fingers point along -x for the right hand (+x for its
# mirror image, the left), the palm faces -y.
FINGER_DIRECTION = {"right": (-1.0, 0.0, 0.0), "left": (1.0, 0.0, 0.0)}
PALM_NORMAL = (0.0, -1.0, 0.0)
FINGER_JOINTS = {
    "index": (0, 1, 2),
    "middle": (3, 4, 5),
    "pinky": (6, 7, 8),
    "ring": (9, 10, 11),
    "thumb": (12, 13, 14),
}
TWIST, SPLAY, BEND = 0, 1, 2


def _limits_deg() -> tuple[np.ndarray, np.ndarray]:
    """S2HAND's joint-angle ranges (s2hand_method.md, section 3.6), in degrees, `(15, 3)` each."""
    low = np.zeros((NUM_ARTICULATED_JOINTS, 3))
    high = np.zeros((NUM_ARTICULATED_JOINTS, 3))
    for name in ("index", "middle", "ring", "pinky"):
        mcp, pip, dip = FINGER_JOINTS[name]
        low[mcp], high[mcp] = (-5, -10, -10), (5, 10, 100)
        for j in (pip, dip):
            low[j], high[j] = (-5, -5, -10), (5, 5, 100)
    pinky_mcp = FINGER_JOINTS["pinky"][0]
    low[pinky_mcp], high[pinky_mcp] = (-20, -10, -10), (5, 20, 100)
    cmc, mcp, ip = FINGER_JOINTS["thumb"]
    low[cmc], high[cmc] = (0, -22.5, -22.5), (90, 33.75, 22.5)
    low[mcp], high[mcp] = (-5, -5, -22.5), (5, 5, 22.5)
    low[ip], high[ip] = (-5, -5, -20), (5, 5, 100)
    return low, high


JOINT_LIMITS_LOW_DEG, JOINT_LIMITS_HIGH_DEG = _limits_deg()
JOINT_LIMITS_LOW = np.deg2rad(JOINT_LIMITS_LOW_DEG)
JOINT_LIMITS_HIGH = np.deg2rad(JOINT_LIMITS_HIGH_DEG)


def _pose(
    bends: dict[str, tuple[float, float, float]], **extra: tuple[int, int, float]
) -> np.ndarray:
    """Build a `(15, 3)` pose from per-finger bends in degrees and (joint, axis, degrees) extras."""
    pose = np.zeros((NUM_ARTICULATED_JOINTS, 3))
    for name, angles in bends.items():
        for joint, angle in zip(FINGER_JOINTS[name], angles, strict=True):
            pose[joint, BEND] = angle
    for joint, axis, angle in extra.values():
        pose[joint, axis] = angle
    return np.deg2rad(pose)


_FIST_FINGER = (80.0, 95.0, 60.0)
# Thumb entries give the bends of CMC, MCP and IP; its opposition is the CMC twist.
_THUMB_CMC, _THUMB_MCP, _THUMB_IP = FINGER_JOINTS["thumb"]
_INDEX_MCP = FINGER_JOINTS["index"][0]
_RING_MCP = FINGER_JOINTS["ring"][0]
_PINKY_MCP = FINGER_JOINTS["pinky"][0]

NAMED_POSES: dict[str, np.ndarray] = {
    "flat": np.zeros((NUM_ARTICULATED_JOINTS, 3)),
    "relaxed": _pose(
        {f: (15.0, 20.0, 10.0) for f in ("index", "middle", "ring", "pinky")}
        | {"thumb": (0.0, 8.0, 15.0)},
        opp=(_THUMB_CMC, TWIST, 20.0),
    ),
    "fist": _pose(
        {f: _FIST_FINGER for f in ("index", "middle", "ring", "pinky")}
        | {"thumb": (-20.0, 22.0, 80.0)},
        opp=(_THUMB_CMC, TWIST, 80.0),
    ),
    "point": _pose(
        {"index": (0.0, 0.0, 0.0)}
        | {f: _FIST_FINGER for f in ("middle", "ring", "pinky")}
        | {"thumb": (-20.0, 20.0, 70.0)},
        opp=(_THUMB_CMC, TWIST, 75.0),
    ),
    "spread": _pose(
        {f: (0.0, 0.0, 0.0) for f in ("index", "middle", "ring", "pinky", "thumb")},
        index=(_INDEX_MCP, SPLAY, 10.0),
        ring=(_RING_MCP, SPLAY, -10.0),
        pinky=(_PINKY_MCP, SPLAY, -10.0),
        thumb=(_THUMB_CMC, SPLAY, -20.0),
    ),
    "pinch": _pose(
        {"index": (40.0, 45.0, 25.0), "middle": (20.0, 25.0, 15.0)}
        | {"ring": (25.0, 30.0, 20.0), "pinky": (30.0, 35.0, 20.0)}
        | {"thumb": (-10.0, 15.0, 25.0)},
        opp=(_THUMB_CMC, TWIST, 55.0),
    ),
}


def clip_to_limits(pose: np.ndarray) -> np.ndarray:
    """Clip a `(..., 15, 3)` articulation (radians) into the joint-angle ranges."""
    return np.clip(pose, JOINT_LIMITS_LOW, JOINT_LIMITS_HIGH)
