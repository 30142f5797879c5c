"""Where a hand starts, for the network's heads and the fitter alike: turned to show the palm to
the camera, fingers up, its mesh centroid on the optical axis at the original's depth and scale.
"""

from __future__ import annotations

import torch
from torch import Tensor

from s2h_lib.hand.hand_poses import FINGER_DIRECTION, PALM_NORMAL

INITIAL_DEPTH = 0.65  # metres, the original's t_z bias
INITIAL_SCALE = 0.95  # the original's s bias
IMAGE_UP = (0.0, -1.0, 0.0)  # camera frame: y points down
TOWARDS_CAMERA = (0.0, 0.0, -1.0)


def initial_rotation(side: str) -> Tensor:
    """The rotation (3, 3) that turns the rest hand to face the camera: fingers up in the image,
    palm towards the camera (so the thumb is on the image's right for a right hand).

    R maps the orthonormal frame (fingers, palm normal, their cross product) onto
    (image up, towards camera, their cross product): R = B Aᵀ.
    """
    fingers, palm = torch.tensor(FINGER_DIRECTION[side]), torch.tensor(PALM_NORMAL)
    up, towards = torch.tensor(IMAGE_UP), torch.tensor(TOWARDS_CAMERA)
    source = torch.stack([fingers, palm, torch.linalg.cross(fingers, palm)], dim=-1)
    target = torch.stack([up, towards, torch.linalg.cross(up, towards)], dim=-1)
    return target @ source.T


def on_axis_translation(rotation: Tensor, centroid: Tensor, scale: Tensor) -> Tensor:
    """t (..., 3) that puts a model-frame `centroid` (..., 3), turned by `rotation` (..., 3, 3)
    and scaled by `scale` (...), on the optical axis at `INITIAL_DEPTH`: t = (0, 0, d) - s R c."""
    on_axis = centroid.new_tensor([0.0, 0.0, INITIAL_DEPTH])
    return on_axis - scale[..., None] * (rotation @ centroid[..., None])[..., 0]
