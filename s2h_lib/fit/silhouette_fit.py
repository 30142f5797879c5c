"""Fit a hand's global pose to a target silhouette through the differentiable renderer.

The smallest version of what S2HAND's training does with its rendered masks: a scene (the hand
model in front of a pinhole camera), a loss between a rendered soft silhouette and a target, its
gradient with respect to pixels and vertices, and gradient descent on the global rotation
(axis-angle) and translation. Notebook 02 draws every piece.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

from s2h_lib.hand.hand_model import ManoLayer
from s2h_lib.hand.hand_poses import NAMED_POSES
from s2h_lib.hand.rotations import axis_angle_to_matrix
from s2h_lib.render import RenderSettings, silhouette
from s2h_lib.render.rasterize import project

# Model frame (fingers -x, palm -y, thumb +z) to camera frame (x right, y down, z forward):
# fingers point up in the image and the palm faces the camera, thumb on the right.
HAND_TO_CAMERA = ((0.0, 0.0, 1.0), (1.0, 0.0, 0.0), (0.0, 1.0, 0.0))
DISTANCE_M = 0.5  # from the camera to the hand's centre
FILL = 0.7  # the hand's larger side spans this fraction of the image
IOU_THRESHOLD = 0.5  # a soft silhouette pixel counts as hand above this
EPS = 1e-8


@dataclass(frozen=True)
class HandScene:
    """A posed hand centred in front of a camera.

    rest_verts: (V, 3) in the camera's axes, centred on the origin (metres); faces: (F, 3);
    K: (1, 3, 3) intrinsics of an `image_size` x `image_size` image; distance: metres from the
    camera to the hand's centre.
    """

    rest_verts: Tensor
    faces: Tensor
    K: Tensor
    image_size: int
    distance: float = DISTANCE_M

    def place(self, rotation: Tensor, translation: Tensor) -> Tensor:
        """Vertices `(B, V, 3)` in the camera frame: rotated by axis-angles `(B, 3)` about the
        hand's centre, then moved by `translation` `(B, 3)` (metres) from its home position."""
        R = axis_angle_to_matrix(rotation)
        home = translation.new_tensor([0.0, 0.0, self.distance])
        return self.rest_verts @ R.transpose(1, 2) + (home + translation)[:, None]

    def settings(
        self, mode: str = "soft", sigma: float = 1.0, gamma: float = 1e-3
    ) -> RenderSettings:
        """Render settings at this scene's image size."""
        size = (self.image_size, self.image_size)
        return RenderSettings(image_size=size, mode=mode, sigma=sigma, gamma=gamma)


def make_scene(
    image_size: int,
    pose: str = "relaxed",
    layer: ManoLayer | None = None,
    device: torch.device | str | None = None,
) -> HandScene:
    """The hand in one of `hand_poses.NAMED_POSES`, seen palm-on, filling `FILL` of the image.

    layer: a `ManoLayer(use_pca=False)` (default: the open hand model, flat mean).
    """
    if pose not in NAMED_POSES:
        raise ValueError(f"unknown pose {pose!r}; named poses: {', '.join(NAMED_POSES)}")
    if image_size < 8:
        raise ValueError(f"image_size must be at least 8 pixels, got {image_size}")
    layer = layer if layer is not None else ManoLayer(use_pca=False)
    articulation = torch.as_tensor(NAMED_POSES[pose], dtype=torch.float32).reshape(1, -1)
    with torch.no_grad():
        verts, _ = layer(torch.cat([torch.zeros(1, 3), articulation], dim=1).to(layer.th_comps))
    verts = verts[0].float() @ torch.tensor(HAND_TO_CAMERA).T
    verts = verts - (verts.amax(0) + verts.amin(0)) / 2
    extent = float((verts.amax(0) - verts.amin(0))[:2].max())
    focal = FILL * image_size * DISTANCE_M / extent
    centre = (image_size - 1) / 2
    K = torch.tensor([[[focal, 0.0, centre], [0.0, focal, centre], [0.0, 0.0, 1.0]]])
    return HandScene(verts.to(device), layer.faces.to(device), K.to(device), image_size)


def silhouette_iou(pred: Tensor, target: Tensor, threshold: float = IOU_THRESHOLD) -> Tensor:
    """Intersection over union `(B,)` of silhouettes `(B, 1, H, W)` thresholded at `threshold`;
    1 when both are empty."""
    a, b = pred > threshold, target > threshold
    inter = (a & b).flatten(1).sum(1).to(pred.dtype)
    union = (a | b).flatten(1).sum(1).to(pred.dtype)
    return torch.where(union > 0, inter / union.clamp_min(1), torch.ones_like(union))


def soft_iou_loss(pred: Tensor, target: Tensor) -> Tensor:
    """1 - soft IoU of silhouettes `(B, 1, H, W)` in [0, 1], averaged over the batch.

    Soft IoU = sum(p t) / sum(p + t - p t): differentiable, and independent of the image size.
    """
    inter = (pred * target).flatten(1).sum(1)
    union = (pred + target - pred * target).flatten(1).sum(1)
    return (1.0 - inter / (union + EPS)).mean()


@dataclass
class SilhouetteGradients:
    """One loss evaluation, taken apart: the rendered soft silhouette (B, 1, H, W), the loss,
    d loss / d pixel (B, 1, H, W) and d loss / d vertex (B, V, 3)."""

    alpha: Tensor
    loss: Tensor
    pixel_grad: Tensor
    vertex_grad: Tensor


def silhouette_gradients(
    scene: HandScene, verts: Tensor, target: Tensor, settings: RenderSettings
) -> SilhouetteGradients:
    """The soft-IoU loss of `verts` `(B, V, 3)` against `target` `(B, 1, H, W)`, and its
    gradients with respect to every pixel of the rendered silhouette and every vertex."""
    verts = verts.detach().requires_grad_(True)
    alpha = silhouette(verts, scene.faces, scene.K.expand(len(verts), 3, 3), settings)
    if not alpha.requires_grad:
        raise ValueError(
            f"a {settings.mode} silhouette has no gradient: use mode='soft' to differentiate it"
        )
    loss = soft_iou_loss(alpha, target)
    pixel_grad, vertex_grad = torch.autograd.grad(loss, (alpha, verts))
    return SilhouetteGradients(alpha.detach(), loss.detach(), pixel_grad, vertex_grad)


def pixel_contributions(
    scene: HandScene,
    rotation: Tensor,
    translation: Tensor,
    target: Tensor,
    settings: RenderSettings,
    d_rotation: Tensor,
    d_translation: Tensor,
) -> Tensor:
    """Each pixel's share `(B, 1, H, W)` of the derivative of the soft-IoU loss along a change
    (`d_rotation`, `d_translation`, both `(B, 3)`) of the pose (`rotation`, `translation`).

    It is dL/d alpha times the change of alpha along that direction (forward-mode autograd), so
    it is zero wherever the silhouette cannot move, and its sum over the pixels is the
    directional derivative of the loss.
    """

    def render(rotation: Tensor, translation: Tensor) -> Tensor:
        verts = scene.place(rotation, translation)
        return silhouette(verts, scene.faces, scene.K.expand(len(verts), 3, 3), settings)

    alpha, d_alpha = torch.func.jvp(render, (rotation, translation), (d_rotation, d_translation))
    alpha = alpha.detach().requires_grad_(True)
    (d_loss_d_alpha,) = torch.autograd.grad(soft_iou_loss(alpha, target), alpha)
    return d_loss_d_alpha * d_alpha


def image_motion(verts: Tensor, displacement: Tensor, K: Tensor) -> tuple[Tensor, Tensor]:
    """Where vertices `(B, V, 3)` project `(B, V, 2)`, and how far (pixels) their projections
    move `(B, V, 2)` when each vertex moves by `displacement` `(B, V, 3)`."""
    uv, _ = project(verts, K, znear=1e-6)
    moved, _ = project(verts + displacement, K, znear=1e-6)
    return uv, moved - uv


@dataclass(frozen=True)
class FitConfig:
    """Gradient descent on the global pose: Adam, one step size per kind of parameter, both
    decayed to zero along a cosine so the last steps settle instead of oscillating.

    steps: optimiser steps; sigma: soft-silhouette blur (squared pixels) of the loss;
    rotation_lr: radians, translation_lr: metres (Adam moves each parameter by about this much
    per step, whatever the gradient's scale).
    """

    steps: int = 40
    sigma: float = 1.0
    rotation_lr: float = 0.04
    translation_lr: float = 0.004

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ValueError(f"steps must be >= 1, got {self.steps}")
        if min(self.sigma, self.rotation_lr, self.translation_lr) <= 0:
            raise ValueError("sigma and the learning rates must be positive")


@dataclass
class FitHistory:
    """Every step of a fit (steps + 1 entries, the start first; `losses` has `steps`).

    ious: IoU of the hard silhouette with the reference mask; losses: the soft-IoU loss that
    was minimised; frames: (steps + 1, H, W) hard silhouettes; rotations, translations:
    (steps + 1, 3).
    """

    ious: np.ndarray
    losses: np.ndarray
    frames: np.ndarray
    rotations: np.ndarray
    translations: np.ndarray


def random_start(
    seed: int, rotation_deg: float = 25.0, shift_m: float = 0.02
) -> tuple[Tensor, Tensor]:
    """A seeded perturbation of the home pose: an axis-angle `(1, 3)` of `rotation_deg` about a
    random axis, and a translation `(1, 3)` of `shift_m` in the image plane plus a quarter of
    that, at most, in depth."""
    generator = torch.Generator().manual_seed(seed)
    axis = torch.randn(1, 3, generator=generator)
    rotation = axis / axis.norm() * np.deg2rad(rotation_deg)
    sideways, depth = torch.randn(1, 2, generator=generator), torch.randn(1, 1, generator=generator)
    translation = torch.cat([sideways / sideways.norm(), depth.clamp(-1.0, 1.0) / 4], dim=1)
    return rotation, translation * shift_m


def fit_global_pose(
    scene: HandScene,
    target: Tensor,
    rotation: Tensor,
    translation: Tensor,
    config: FitConfig | None = None,
    reference: Tensor | None = None,
    progress: bool = True,
) -> FitHistory:
    """Fit rotation `(1, 3)` and translation `(1, 3)`, starting from the given values, so the
    hand's soft silhouette matches `target` `(1, 1, H, W)`; return every step.

    reference: the mask `(1, 1, H, W)` the IoU is measured against (default: `target`). A
    soft target rendered with the fit's own sigma has its true pose as an exact minimum; a
    binary one does not, since blur fattens the rendered hand and the fit shrinks it back by
    pushing it away.
    """
    config = config or FitConfig()
    reference = target if reference is None else reference
    device = scene.rest_verts.device
    rotation = rotation.detach().clone().to(device).requires_grad_(True)
    translation = translation.detach().clone().to(device).requires_grad_(True)
    optimiser = torch.optim.Adam(
        [
            {"params": [rotation], "lr": config.rotation_lr},
            {"params": [translation], "lr": config.translation_lr},
        ]
    )
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, config.steps)
    soft = scene.settings("soft", sigma=config.sigma)
    hard = scene.settings("hard")
    K = scene.K.expand(len(rotation), 3, 3)
    ious, losses, frames, rotations, translations = [], [], [], [], []

    def record() -> None:
        with torch.no_grad():
            mask = silhouette(scene.place(rotation, translation), scene.faces, K, hard)
        ious.append(float(silhouette_iou(mask, reference)[0]))
        frames.append(mask[0, 0].cpu().numpy())
        rotations.append(rotation.detach()[0].cpu().numpy().copy())
        translations.append(translation.detach()[0].cpu().numpy().copy())

    record()
    for _ in tqdm(range(config.steps), desc="fitting", disable=not progress):
        optimiser.zero_grad()
        alpha = silhouette(scene.place(rotation, translation), scene.faces, K, soft)
        loss = soft_iou_loss(alpha, target)
        loss.backward()
        optimiser.step()
        schedule.step()
        losses.append(float(loss.detach()))
        record()
    return FitHistory(
        np.array(ious),
        np.array(losses),
        np.stack(frames),
        np.stack(rotations),
        np.stack(translations),
    )
