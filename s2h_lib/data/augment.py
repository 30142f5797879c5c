"""Training augmentation of a `HandSample`: in-plane rotation and zoom, and colour jitter.

Geometry. One pixel affine `A` (rotation by a random angle and zoom by a random factor, both
about the crop centre) moves the image, the 2D keypoints (as floats: S2HAND truncated them to
whole pixels) and the mask. The camera must move with it so that 3D points still project onto
the moved 2D points. Two ways keep that exact:

- `rotate_scene=True` (default): turn the 3D truth by R, the rotation about the optical axis
  with A's angle, and set K' = A K R^T. Then K' (R X) = A (K X) for every point X and any A,
  by construction. Because A's rotation part equals R's, K' is again a pinhole matrix: in
  blocks, K = [[f I, p], [0, 1]] becomes K' = [[s f I, p'], [0, 1]] (s the zoom), where the
  principal point p' is p turned and zoomed about the crop centre (fx != fy leaves a small
  skew). So the rotated image shows what a camera would see if the hand itself had turned,
  which is what a network that never reads K can learn from. (Rotating the 3D points and
  keeping K would only be exact when A turns about the principal point itself, with fx = fy
  and no zoom, and a crop centre rarely is the principal point.)
- `rotate_scene=False`: S2HAND's choice, K' = A K with the 3D truth unchanged. Also exact for
  any A (K' X = A K X), but K' then carries the rotation, and the 3D labels keep the
  orientation the un-rotated image showed.

Colour jitter (brightness, contrast, saturation, hue) changes the image only. A clip (leading
time axis, `(T, 3, H, W)`) gets one draw for all its frames, so its motion stays consistent;
the same holds for any leading axes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import torch
import torchvision.transforms.v2.functional as TF
from torch import Tensor

from s2h_lib.data.crop import apply_affine, rotation_about, warp_image
from s2h_lib.data.sample import HandSample, HandTruth
from s2h_lib.hand.rotations import axis_angle_to_matrix, matrix_to_axis_angle

MASK_THRESHOLD = 0.5
NUM_DRAWS = 6  # angle, scale, brightness, contrast, saturation, hue: always all drawn
MAX_HUE_SHIFT = 0.5  # in turns of the colour wheel


@dataclass(frozen=True)
class AugmentConfig:
    """What `augment` may do; every range is drawn uniformly.

    rotation: (low, high) in-plane angle in radians, counter-clockwise on screen. S2HAND's
        FreiHAND setting, (-pi, pi), is the default; (0, 0) turns it off.
    scale: (low, high) zoom about the crop centre (> 1 enlarges the hand); (1, 1) is off.
    brightness, contrast, saturation: strength j; the factor is drawn from U(1 - j, 1 + j).
    hue: shift drawn from U(-hue, hue), in turns of the colour wheel (at most 0.5).
    fill: value of pixels that come from outside the original image.
    rotate_scene: True turns the 3D truth with the image and keeps a pinhole K; False is
        S2HAND's K' = A K (module docstring).
    seed: base seed of `generator_for`.
    """

    rotation: tuple[float, float] = (-math.pi, math.pi)
    scale: tuple[float, float] = (1.0, 1.0)
    brightness: float = 0.0
    contrast: float = 0.0
    saturation: float = 0.0
    hue: float = 0.0
    fill: float = 0.0
    rotate_scene: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("rotation", "scale"):
            low, high = getattr(self, name)
            if not low <= high:
                raise ValueError(f"{name} range must be (low, high) with low <= high")
        if not self.scale[0] > 0:
            raise ValueError(f"scale factors must be positive, got {self.scale}")
        for name in ("brightness", "contrast", "saturation"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        if not 0 <= self.hue <= MAX_HUE_SHIFT:
            raise ValueError(f"hue must be in [0, {MAX_HUE_SHIFT}], got {self.hue}")


def generator_for(config: AugmentConfig, index: int, epoch: int = 0) -> torch.Generator:
    """A CPU generator for sample `index` in `epoch`: the same draws on every run and in any
    DataLoader worker, different ones per sample and epoch."""
    state = np.random.SeedSequence([config.seed, epoch, index]).generate_state(2, np.uint32)
    return torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))


@dataclass(frozen=True)
class _Draw:
    angle: float
    scale: float
    brightness: float
    contrast: float
    saturation: float
    hue: float


def _uniform(u: float, low: float, high: float) -> float:
    return low + (high - low) * u


def _draw(config: AugmentConfig, generator: torch.Generator) -> _Draw:
    u = torch.rand(NUM_DRAWS, generator=generator, dtype=torch.float64).tolist()
    return _Draw(
        angle=_uniform(u[0], *config.rotation),
        scale=_uniform(u[1], *config.scale),
        brightness=_uniform(u[2], 1 - config.brightness, 1 + config.brightness),
        contrast=_uniform(u[3], 1 - config.contrast, 1 + config.contrast),
        saturation=_uniform(u[4], 1 - config.saturation, 1 + config.saturation),
        hue=_uniform(u[5], -config.hue, config.hue),
    )


def similarity_about(centre: tuple[float, float], angle: float, scale: float) -> Tensor:
    """(3, 3) float64 pixel affine: turn by `angle` (counter-clockwise on screen) and zoom by
    `scale`, both about `centre`."""
    cx, cy = centre
    zoom = torch.tensor(
        [[scale, 0.0, (1 - scale) * cx], [0.0, scale, (1 - scale) * cy], [0.0, 0.0, 1.0]],
        dtype=torch.float64,
    )
    return zoom @ rotation_about(centre, angle)


def optical_axis_rotation(A: Tensor) -> Tensor:
    """(3, 3) rotation about the camera's z axis with the angle of the similarity `A`."""
    R = torch.eye(3, dtype=torch.float64)
    block = A[:2, :2]
    R[:2, :2] = block / torch.linalg.det(block).sqrt()
    return R


def _warp(images: Tensor, A: Tensor, fill: float) -> Tensor:
    """Warp (..., C, H, W) with one affine, keeping the size."""
    flat = images.reshape(-1, *images.shape[-3:])
    # warp_image builds its sampling grid on the CPU and moves it to the images' device
    return warp_image(flat, A.cpu(), tuple(images.shape[-2:]), fill=fill).reshape(images.shape)


def _turn_root(pose: Tensor, R: Tensor, has_mesh: Tensor) -> Tensor:
    """Pose (..., 48) with its root rotation turned by R; samples without a mesh keep their
    zeros (`HandTruth` promises zeros there)."""
    root = matrix_to_axis_angle(R.to(pose) @ axis_angle_to_matrix(pose[..., :3]))
    turned = torch.cat([root, pose[..., 3:]], dim=-1)
    return torch.where(has_mesh[..., None], turned, pose)


def _move_truth(truth: HandTruth, A: Tensor, R: Tensor | None) -> HandTruth:
    mask = _warp(truth.mask[..., None, :, :], A, fill=0.0)[..., 0, :, :]
    changes = {
        "keypoints2d": apply_affine(A, truth.keypoints2d),
        "mask": (mask >= MASK_THRESHOLD).to(truth.mask.dtype),
    }
    if R is not None:
        rotate = R.to(truth.joints3d).T
        changes.update(
            joints3d=truth.joints3d @ rotate,
            verts=truth.verts @ rotate.to(truth.verts),
            pose=_turn_root(truth.pose, R, truth.has_mesh.bool()),
        )
    return replace(truth, **changes)


def _jitter_colours(image: Tensor, draw: _Draw, config: AugmentConfig) -> Tensor:
    if config.brightness > 0:
        image = TF.adjust_brightness(image, draw.brightness)
    if config.contrast > 0:
        image = TF.adjust_contrast(image, draw.contrast)
    if config.saturation > 0:
        image = TF.adjust_saturation(image, draw.saturation)
    if config.hue > 0:
        image = TF.adjust_hue(image, draw.hue)
    return image


def augment(sample: HandSample, config: AugmentConfig, generator: torch.Generator) -> HandSample:
    """`sample` (one image, a clip, or any leading axes) turned, zoomed and colour-jittered with
    one draw from `generator`; K, keypoints and the truth (if any) move with the image."""
    draw = _draw(config, generator)
    height, width = sample.image.shape[-2:]
    centre = ((width - 1) / 2, (height - 1) / 2)
    A = similarity_about(centre, draw.angle, draw.scale)
    image = sample.image
    changes = {}
    if not torch.equal(A, torch.eye(3, dtype=torch.float64)):
        R = optical_axis_rotation(A).to(sample.K.device) if config.rotate_scene else None
        A = A.to(sample.K.device)
        K = A @ sample.K.double() if R is None else A @ sample.K.double() @ R.T
        image = _warp(image, A, config.fill)
        changes.update(K=K.to(sample.K.dtype), keypoints=apply_affine(A, sample.keypoints))
        if sample.truth is not None:
            changes["truth"] = _move_truth(sample.truth, A, R)
    return replace(sample, image=_jitter_colours(image, draw, config), **changes)
