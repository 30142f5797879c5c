"""Pictures of predictions over their input images: mesh outline, skeleton, reference points.

Used by the trainer (every `overlay_every` steps), by evaluation (best / median / worst samples)
and by the per-image fitter. Matplotlib with the Agg canvas only: safe on headless machines.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from torch import Tensor

from s2h_lib.atomic import atomic_open
from s2h_lib.net.prediction import HandPrediction
from s2h_lib.render import RenderSettings, render_mesh
from s2h_lib.viz.figures import draw_skeleton_2d

PANEL_INCHES = 2.4
MESH_TINT = np.array([0.35, 0.75, 1.0])  # light blue: the predicted mesh, blended over the photo
MESH_OPACITY = 0.45


def verts_alpha(verts: Tensor, faces: Tensor, image_size: tuple[int, int], K: Tensor) -> Tensor:
    """Hard silhouettes (N, H, W) of meshes `verts` (N, V, 3) (camera frame, metres) with
    triangles `faces` (F, 3), seen with K (N, 3, 3), for drawing (no gradients)."""
    settings = RenderSettings(image_size=image_size, mode="hard")
    with torch.no_grad():
        out = render_mesh(verts.float(), faces, K.float(), settings)
    return out.alpha[:, 0]


def mesh_alpha(
    pred: HandPrediction, faces: Tensor, image_size: tuple[int, int], K: Tensor
) -> Tensor:
    """Hard silhouettes (N, H, W) of the predicted meshes, for drawing (no gradients)."""
    return verts_alpha(pred.verts, faces, image_size, K)


def tinted_images(images: Tensor, pred: HandPrediction, faces: Tensor, K: Tensor) -> np.ndarray:
    """Images (N, 3, H, W) in [0, 1] with the predicted meshes' silhouettes tinted over them
    (`MESH_TINT` at `MESH_OPACITY`), as (N, H, W, 3) numpy in [0, 1]; K (N, 3, 3)."""
    alpha = mesh_alpha(pred, faces, tuple(images.shape[-2:]), K).cpu().numpy()
    weight = MESH_OPACITY * alpha[..., None]
    pictures = images.detach().float().permute(0, 2, 3, 1).cpu().numpy()
    return np.clip(pictures * (1 - weight) + MESH_TINT * weight, 0.0, 1.0)


def draw_overlay(
    ax: Axes,
    image: np.ndarray,
    alpha: np.ndarray | None = None,
    keypoints: np.ndarray | None = None,
    reference: np.ndarray | None = None,
    title: str = "",
) -> None:
    """One panel: `image` (H, W, 3) in [0, 1], the mesh silhouette `alpha` (H, W) tinted over
    it, predicted `keypoints` (21, 2) as a skeleton, and `reference` (21, 2) points (detector or
    ground truth) as white crosses."""
    shown = image.copy()
    if alpha is not None:
        weight = MESH_OPACITY * alpha[..., None]
        shown = shown * (1 - weight) + MESH_TINT * weight
    ax.imshow(np.clip(shown, 0, 1), interpolation="nearest")
    if reference is not None:
        ax.scatter(reference[:, 0], reference[:, 1], marker="x", s=10, c="white", linewidths=0.8)
    if keypoints is not None:
        draw_skeleton_2d(ax, keypoints)
    height, width = image.shape[:2]
    ax.set_xlim(-0.5, width - 0.5)
    ax.set_ylim(height - 0.5, -0.5)
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=7)


def overlay_figure(
    images: Tensor,
    pred: HandPrediction,
    faces: Tensor,
    K: Tensor,
    reference: Tensor | None = None,
    titles: Sequence[str] | None = None,
    columns: int = 4,
) -> Figure:
    """A grid of `draw_overlay` panels for N images (N, 3, H, W) and their prediction."""
    count = images.shape[0]
    alpha = mesh_alpha(pred, faces, tuple(images.shape[-2:]), K).cpu().numpy()
    rows = -(-count // columns)
    cols = min(columns, count)
    figure = Figure(figsize=(PANEL_INCHES * cols, PANEL_INCHES * rows))
    FigureCanvasAgg(figure)
    pictures = images.detach().float().permute(0, 2, 3, 1).cpu().numpy()
    keypoints = pred.keypoints2d.detach().float().cpu().numpy()
    refs = None if reference is None else reference.detach().float().cpu().numpy()
    for i in range(count):
        ax = figure.add_subplot(rows, cols, i + 1)
        draw_overlay(
            ax,
            pictures[i],
            alpha[i],
            keypoints[i],
            None if refs is None else refs[i],
            "" if titles is None else titles[i],
        )
    figure.tight_layout(pad=0.3)
    return figure


def save_figure(figure: Figure, path: str | Path, dpi: int = 110) -> Path:
    """Write a figure as PNG atomically."""
    path = Path(path)
    with atomic_open(path) as file:
        figure.savefig(file, format="png", dpi=dpi)
    return path


def save_training_overlay(
    path: str | Path,
    images: Tensor,
    pred: HandPrediction,
    reference: Tensor,
    faces: Tensor,
    K: Tensor,
) -> Path:
    """The trainer's periodic picture: predictions on the first images of a batch."""
    return save_figure(overlay_figure(images, pred, faces, K, reference), path)
