"""Pictures of hands: shaded meshes and skeletons drawn with matplotlib, and the image grids,
silhouette overlays and GIFs the notebooks show.

These need no GPU, no renderer and no browser, so they work in tests, scripts and headless
notebook runs alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import plotly.graph_objects as go
import torch
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from PIL import Image

from s2h_lib.atomic import atomic_open
from s2h_lib.hand.hand_model import MM_PER_M
from s2h_lib.hand.skeleton import FINGER_COLOURS, FREIHAND_PARENTS

SKIN_RGB = np.array([0.87, 0.68, 0.58])
LIGHT_DIRECTION = np.array([0.3, 0.5, 1.0])  # towards the light, in the view frame
AMBIENT = 0.35
# FreiHAND-order parents of the 21 keypoints, used to draw bones.
FINGER_NAMES = ("thumb", "index", "middle", "ring", "pinky")
CONFIDENT_MARKER_SIZE = 16.0  # points^2 of a joint marker at confidence 1
# Silhouette overlays: target only, rendered only, both.
TARGET_RGB = np.array([0.2, 0.8, 0.3])
RENDERED_RGB = np.array([0.85, 0.25, 0.75])
OVERLAP_RGB = np.array([1.0, 1.0, 1.0])
# OpenCV camera frame (x right, y down, z forward) to the view frame (x right, y up, z to the
# viewer).
CAMERA_TO_VIEW = np.diag([1.0, -1.0, -1.0])


def view_rotation(azimuth_deg: float, elevation_deg: float) -> np.ndarray:
    """Rotation `(3, 3)` taking hand coordinates to a view frame (x right, y up, z to the viewer).

    Azimuth turns about the hand's long axis (x), elevation tilts about the view's x axis.
    """
    a, e = np.deg2rad(azimuth_deg), np.deg2rad(elevation_deg)
    # Start looking at the palm (-y) with the fingers (-x) up and the thumb (+z) to the right.
    base = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
    spin = np.array([[1.0, 0.0, 0.0], [0.0, np.cos(a), -np.sin(a)], [0.0, np.sin(a), np.cos(a)]])
    tilt = np.array([[1.0, 0.0, 0.0], [0.0, np.cos(e), -np.sin(e)], [0.0, np.sin(e), np.cos(e)]])
    return tilt @ base @ spin


def image_array(image: torch.Tensor) -> np.ndarray:
    """A (3, H, W) image tensor as the (H, W, 3) array in [0, 1] that `imshow` draws."""
    return image.detach().permute(1, 2, 0).clamp(0, 1).cpu().numpy()


def blank_axes(figure: Figure, count: int, columns: int) -> list[Axes]:
    """`count` axes on a grid of `columns` columns (as many rows as they need), every axis of
    the grid without ticks or frame (the unused ones stay blank)."""
    rows = -(-count // columns)
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    for ax in axes:
        ax.set_axis_off()
    return list(axes[:count])


def shade_faces(
    verts_view: np.ndarray, faces: np.ndarray, rgb: np.ndarray = SKIN_RGB
) -> np.ndarray:
    """Lambertian colours `(F, 3)` of faces under a fixed light, in the view frame."""
    tri = verts_view[faces]
    normals = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    normals /= np.linalg.norm(normals, axis=1, keepdims=True) + 1e-12
    light = LIGHT_DIRECTION / np.linalg.norm(LIGHT_DIRECTION)
    lambert = np.clip(normals @ light, 0.0, 1.0)
    return np.clip(rgb * (AMBIENT + (1 - AMBIENT) * lambert)[:, None], 0.0, 1.0)


def draw_mesh(
    ax: Axes,
    verts: np.ndarray,
    faces: np.ndarray,
    azimuth_deg: float = 0.0,
    elevation_deg: float = 0.0,
    keypoints: np.ndarray | None = None,
    title: str | None = None,
    extent: float | None = None,
) -> None:
    """Draw a shaded mesh `(V, 3)`/`(F, 3)` on a 2D axes, orthographic, centred on its mean.

    Faces facing away from the viewer are skipped and the rest painted back to front (a painter's
    algorithm: good for a hand, not exact where folds overlap). `keypoints` `(21, 3)` are drawn as
    a skeleton. `extent` (metres, half the panel's width) defaults to fitting this mesh; give one
    value to several panels to compare sizes.
    """
    rot = view_rotation(azimuth_deg, elevation_deg)
    centre = verts.mean(axis=0)
    v = (verts - centre) @ rot.T
    tri = v[faces]
    facing = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])[:, 2] > 0
    order = np.argsort(tri[:, :, 2].mean(axis=1))
    order = order[facing[order]]
    colours = shade_faces(v, faces)[order]
    polys = tri[order][:, :, :2]
    ax.add_collection(PolyCollection(polys, facecolors=colours, edgecolors=colours, linewidths=0.2))
    if keypoints is not None:
        draw_skeleton_2d(ax, (keypoints - centre) @ rot.T)
    if extent is None:
        extent = np.abs(v[:, :2]).max() * 1.05
    ax.set_xlim(-extent, extent)
    ax.set_ylim(-extent, extent)
    ax.set_aspect("equal")
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=8)


def draw_skeleton_2d(
    ax: Axes,
    keypoints: np.ndarray,
    parents: Sequence[int] = FREIHAND_PARENTS,
    confidence: np.ndarray | None = None,
) -> None:
    """Draw 21 FreiHAND-order keypoints `(21, >=2)` and their bones, one colour per finger.

    With `confidence` `(21,)` in [0, 1], a joint's marker is as large as its confidence (a ring
    marks the full-confidence size) and each bone as opaque as its less confident end.
    """
    for j, p in enumerate(parents):
        if p < 0:
            continue
        colour = FINGER_COLOURS[(j - 1) // 4]
        alpha = 1.0 if confidence is None else 0.25 + 0.75 * float(min(confidence[[p, j]]))
        xs, ys = keypoints[[p, j], 0], keypoints[[p, j], 1]
        ax.plot(xs, ys, color=colour, lw=1.2, alpha=alpha, zorder=5)
    if confidence is None:
        ax.scatter(keypoints[:, 0], keypoints[:, 1], s=4, c="k", zorder=6)
        return
    full = CONFIDENT_MARKER_SIZE
    ax.scatter(
        keypoints[:, 0],
        keypoints[:, 1],
        s=full,
        facecolors="none",
        edgecolors="w",
        linewidths=0.5,
        zorder=6,
    )
    ax.scatter(keypoints[:, 0], keypoints[:, 1], s=full * np.asarray(confidence), c="k", zorder=7)


VIEWS = {
    "palm": (0.0, 0.0),
    "back": (180.0, 0.0),
    "thumb side": (-90.0, 0.0),
    "oblique": (-35.0, 35.0),
}


def contact_sheet(
    rows: Sequence[tuple[str, np.ndarray, np.ndarray | None]],
    faces: np.ndarray,
    views: dict[str, tuple[float, float]] = VIEWS,
    panel_inches: float = 2.2,
) -> Figure:
    """One row per (label, vertices `(V, 3)`, keypoints `(21, 3)` or None), one column per view.

    All panels share one scale, so differences in size show.
    """
    extent = 1.02 * max(np.linalg.norm(v - v.mean(axis=0), axis=1).max() for _, v, _ in rows)
    fig, axes = plt.subplots(
        len(rows),
        len(views),
        squeeze=False,
        figsize=(panel_inches * len(views), panel_inches * len(rows)),
    )
    for r, (label, verts, keypoints) in enumerate(rows):
        for c, (view, (azimuth, elevation)) in enumerate(views.items()):
            draw_mesh(
                axes[r, c],
                verts,
                faces,
                azimuth,
                elevation,
                keypoints=keypoints,
                title=f"{label} / {view}",
                extent=extent,
            )
    fig.tight_layout()
    return fig


def mesh_grid(
    hands: Sequence[tuple[str, np.ndarray, np.ndarray | None]],
    faces: np.ndarray,
    ncols: int,
    view: tuple[float, float] = VIEWS["palm"],
    panel_inches: float = 1.8,
) -> Figure:
    """(label, vertices `(V, 3)`, keypoints `(21, 3)` or None) hands in a grid `ncols` wide, all
    seen from one `view` (azimuth, elevation) and drawn on one shared scale."""
    extent = 1.02 * max(np.linalg.norm(v - v.mean(axis=0), axis=1).max() for _, v, _ in hands)
    nrows = -(-len(hands) // ncols)
    fig, axes = plt.subplots(
        nrows, ncols, squeeze=False, figsize=(panel_inches * ncols, panel_inches * nrows)
    )
    for ax in axes.ravel():
        ax.axis("off")
    for ax, (label, verts, keypoints) in zip(axes.ravel(), hands, strict=False):
        draw_mesh(ax, verts, faces, *view, keypoints=keypoints, title=label, extent=extent)
    fig.tight_layout()
    return fig


def mesh_figure(
    verts: np.ndarray, faces: np.ndarray, keypoints: np.ndarray | None = None, title: str = ""
) -> go.Figure:
    """An interactive plotly figure: the mesh `(V, 3)` in millimetres, plus 21 keypoints."""
    mm = np.asarray(verts, dtype=np.float32) * MM_PER_M
    data = [
        go.Mesh3d(
            x=mm[:, 0],
            y=mm[:, 1],
            z=mm[:, 2],
            i=faces[:, 0],
            j=faces[:, 1],
            k=faces[:, 2],
            color="#e0ad94",
            flatshading=False,
            name="mesh",
            lighting={"ambient": 0.45, "diffuse": 0.7, "specular": 0.1},
        )
    ]
    if keypoints is not None:
        kp = np.asarray(keypoints, dtype=np.float32) * MM_PER_M
        for finger in range(5):
            chain = [0, *range(1 + 4 * finger, 5 + 4 * finger)]
            data.append(
                go.Scatter3d(
                    x=kp[chain, 0],
                    y=kp[chain, 1],
                    z=kp[chain, 2],
                    mode="lines+markers",
                    name=FINGER_NAMES[finger],
                    line={"color": FINGER_COLOURS[finger], "width": 5},
                    marker={"size": 3},
                )
            )
    fig = go.Figure(data)
    fig.update_layout(title=title, scene={"aspectmode": "data"}, margin={"l": 0, "r": 0, "b": 0})
    return fig


def image_grid(
    images: Sequence[np.ndarray],
    titles: Sequence[str],
    ncols: int,
    panel_inches: float = 2.0,
    **imshow: object,
) -> Figure:
    """Images `(H, W)` or `(H, W, 3)` in a grid, `ncols` wide, one title each; `imshow`
    keywords (cmap, vmin, vmax, ...) apply to every panel."""
    nrows = -(-len(images) // ncols)
    fig, axes = plt.subplots(
        nrows, ncols, squeeze=False, figsize=(panel_inches * ncols, panel_inches * nrows)
    )
    for ax in axes.ravel():
        ax.axis("off")
    for ax, image, title in zip(axes.ravel(), images, titles, strict=False):
        ax.imshow(image, interpolation="nearest", **imshow)
        ax.set_title(title, fontsize=8)
    fig.tight_layout()
    return fig


def side_by_side(*frame_sets: np.ndarray, gap: int = 2) -> list[np.ndarray]:
    """Frames (T, H, W, 3) of several sequences joined left to right frame by frame, with a
    white `gap` pixels wide between them: T frames (H, W_1 + gap + W_2 + ..., 3), for
    `save_gif`. Every sequence needs the same T and H."""
    shapes = {frames.shape[:2] for frames in frame_sets}
    if len(shapes) != 1:
        raise ValueError(f"the sequences need the same frame count and height, got {shapes}")
    count, height = shapes.pop()
    white = np.ones((height, gap, 3))
    joined = []
    for t in range(count):
        parts = [part for frames in frame_sets for part in (frames[t], white)][:-1]
        joined.append(np.concatenate(parts, axis=1))
    return joined


def silhouette_overlay(rendered: np.ndarray, target: np.ndarray) -> np.ndarray:
    """RGB `(H, W, 3)` of two masks `(H, W)` (thresholded at 0.5): target only green, rendered
    only magenta, both white."""
    a, b = rendered > 0.5, target > 0.5
    out = np.zeros((*a.shape, 3))
    out[b & ~a], out[a & ~b], out[a & b] = TARGET_RGB, RENDERED_RGB, OVERLAP_RGB
    return out


def _figure_pixels(fig: Figure) -> np.ndarray:
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def save_gif(
    frames: Sequence[np.ndarray],
    titles: Sequence[str],
    path: str | Path,
    fps: float = 8.0,
    panel_inches: float = 2.5,
) -> Path:
    """An animated GIF of images `(H, W, 3)` in [0, 1], each drawn with its title; written
    atomically, looping forever."""
    if not frames or len(frames) != len(titles):
        raise ValueError(
            f"need one title per frame, got {len(frames)} frames, {len(titles)} titles"
        )
    pictures = []
    for frame, title in zip(frames, titles, strict=True):
        fig = Figure(figsize=(panel_inches, panel_inches), dpi=80)
        ax = fig.add_subplot()
        ax.imshow(np.clip(frame, 0.0, 1.0), interpolation="nearest")
        ax.set_title(title, fontsize=8)
        ax.axis("off")
        fig.tight_layout()
        pictures.append(Image.fromarray(_figure_pixels(fig)))
    path = Path(path)
    with atomic_open(path) as file:
        pictures[0].save(
            file,
            format="GIF",
            save_all=True,
            append_images=pictures[1:],
            duration=int(1000 / fps),
            loop=0,
        )
    return path
