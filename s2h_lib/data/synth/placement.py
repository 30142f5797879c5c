"""Where S2H-Synth puts the hand before the camera.

- global rotation: uniform over SO(3), except near end-on views where the fingers point at
  the camera (they are redrawn), so palm, back and side views all occur;
- camera: OpenCV K with focal length 1.2-2.0 x the image side and the principal point at the
  centre; the hand's depth is solved so that its projected box spans 40-80% of the image,
  centred with a jitter that keeps it inside.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

from s2h_lib.data.synth.forearm import ARM_TOWARD_CAMERA
from s2h_lib.hand.hand_poses import FINGER_DIRECTION, PALM_NORMAL

FOCAL_RANGE = (1.2, 2.0)  # x image side
BOX_FRACTION_RANGE = (0.4, 0.8)  # longer side of the hand's projected box / image side
CENTRE_JITTER = 0.7  # fraction of the free margin the hand's centre may move by
PLACEMENT_ITERATIONS = 8
END_ON_LIMIT = 0.85  # |cos| between the fingers' direction and the viewing axis
END_ON_TRIES = 20
VIEW_NAMES = ("palm", "back", "side")
VIEW_COS = 0.5  # |cos| between the palm normal and the viewing axis beyond which it faces it


def project(points: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Pinhole projection `u = K X / Z` of `(..., 3)` camera-frame points to `(..., 2)` pixels."""
    uvw = points @ K.T
    return uvw[..., :2] / uvw[..., 2:]


def intrinsics(focal: float, image_size: int) -> np.ndarray:
    """`(3, 3)` K: square pixels, principal point at the image centre (pixel centres at ints)."""
    centre = (image_size - 1) / 2
    return np.array([[focal, 0.0, centre], [0.0, focal, centre], [0.0, 0.0, 1.0]])


def sample_global_rotation(rng: np.random.Generator) -> np.ndarray:
    """Axis-angle `(3,)`: uniform over rotations, redrawn while the fingers point at the camera
    or the forearm (opposite the fingers) comes towards it and would hide the hand."""
    for _ in range(END_ON_TRIES):
        rotation = Rotation.random(random_state=rng)
        towards = rotation.apply(FINGER_DIRECTION["right"])[2]  # S2H-Synth renders right hands
        if abs(towards) < END_ON_LIMIT and -towards > ARM_TOWARD_CAMERA:
            break
    return rotation.as_rotvec()


def view_of(global_rot: np.ndarray) -> int:
    """Index into VIEW_NAMES: which side of the hand faces the camera."""
    facing = Rotation.from_rotvec(global_rot).apply(PALM_NORMAL)[2]
    if facing < -VIEW_COS:
        return VIEW_NAMES.index("palm")
    if facing > VIEW_COS:
        return VIEW_NAMES.index("back")
    return VIEW_NAMES.index("side")


@dataclass(frozen=True)
class Placement:
    """Where the hand sits in the image: focal length (pixels), the projected box's longer side
    as a fraction of the image side, and its centre's offset from the image centre (pixels)."""

    focal: float
    box_fraction: float
    offset: np.ndarray


def sample_placement(rng: np.random.Generator, image_size: int) -> Placement:
    box = rng.uniform(*BOX_FRACTION_RANGE)
    room = CENTRE_JITTER * (1 - box) / 2 * image_size
    return Placement(
        focal=rng.uniform(*FOCAL_RANGE) * image_size,
        box_fraction=box,
        offset=rng.uniform(-room, room, size=2),
    )


def place_hand(
    verts: np.ndarray, K: np.ndarray, image_size: int, placement: Placement
) -> np.ndarray:
    """Translation `(3,)` that puts `verts` `(V, 3)` (model frame) where `placement` says.

    Fixed-point iteration: the box side scales about as 1 / depth, and a sideways shift of d
    pixels at depth z is d z / f metres.
    """
    focal = K[0, 0]
    target_side = placement.box_fraction * image_size
    target_centre = (image_size - 1) / 2 + placement.offset
    centre3d = (verts.max(axis=0) + verts.min(axis=0)) / 2
    extent = float(np.ptp(verts, axis=0).max())
    trans = -centre3d + np.array([0.0, 0.0, focal * extent / target_side])
    for _ in range(PLACEMENT_ITERATIONS):
        uv = project(verts + trans, K)
        low, high = uv.min(axis=0), uv.max(axis=0)
        depth = centre3d[2] + trans[2]
        trans[2] = depth * float((high - low).max()) / target_side - centre3d[2]
        depth = centre3d[2] + trans[2]
        trans[:2] += (target_centre - (low + high) / 2) * depth / focal
    return trans


def verts_box_fraction(verts: np.ndarray, K: np.ndarray, image_size: int) -> float:
    """Longer side of the projected vertices' box as a fraction of the image side."""
    uv = project(verts, K)
    return float(np.ptp(uv, axis=0).max()) / image_size
