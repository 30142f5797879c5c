"""Hands in a camera frame seen from the camera and turned or tilted by 90 degrees: the depth a
single image does not show (00, 05, 09)."""

from __future__ import annotations

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from s2h_lib.predict import HandMesh
from s2h_lib.viz.figures import CAMERA_TO_VIEW, draw_mesh, view_rotation

# Turns (about the vertical, then about the horizontal axis, degrees) of the views of a hand in
# the camera frame, starting from what the camera sees.
CAMERA_VIEWS = {"camera": (0.0, 0.0), "turned 90°": (90.0, 0.0), "tilted 90°": (0.0, 90.0)}
SIDE_VIEW = CAMERA_VIEWS["turned 90°"]


def camera_view_rotation(turn_deg: float, tilt_deg: float) -> np.ndarray:
    """(3, 3) rotation from the camera frame to a view frame: what the camera sees, turned
    about the vertical axis by `turn_deg`, then tilted about the horizontal one by `tilt_deg`."""
    a, e = np.deg2rad(turn_deg), np.deg2rad(tilt_deg)
    turn = np.array([[np.cos(a), 0.0, np.sin(a)], [0.0, 1.0, 0.0], [-np.sin(a), 0.0, np.cos(a)]])
    tilt = np.array([[1.0, 0.0, 0.0], [0.0, np.cos(e), -np.sin(e)], [0.0, np.sin(e), np.cos(e)]])
    return tilt @ turn @ CAMERA_TO_VIEW


def turned_for_drawing(turn_deg: float, tilt_deg: float) -> np.ndarray:
    """(3, 3) rotation of camera-frame points such that `viz.draw_mesh`'s own view (0, 0), the
    palm view of the hand frame, shows them as `camera_view_rotation(turn_deg, tilt_deg)`."""
    return view_rotation(0.0, 0.0).T @ camera_view_rotation(turn_deg, tilt_deg)


def side_view(verts: np.ndarray, joints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Camera-frame verts (V, 3) and joints (21, 3) turned so that `viz.draw_mesh`'s palm view
    shows them from the side (`SIDE_VIEW`): the depth the image does not show."""
    into = turned_for_drawing(*SIDE_VIEW)
    return verts @ into.T, joints @ into.T


def camera_views_figure(
    meshes: list[HandMesh],
    labels: list[str],
    views: dict[str, tuple[float, float]] = CAMERA_VIEWS,
    panel_inches: float = 2.2,
) -> Figure:
    """Hands in a camera frame, one row each, one column per view (`camera_view_rotation`),
    all on one scale."""
    extent = 1.02 * max(np.linalg.norm(m.verts - m.verts.mean(0), axis=1).max() for m in meshes)
    figure = Figure(figsize=(panel_inches * len(views), panel_inches * len(meshes)))
    FigureCanvasAgg(figure)
    axes = figure.subplots(len(meshes), len(views), squeeze=False)
    for row, (mesh, label) in enumerate(zip(meshes, labels, strict=True)):
        for ax, (view, angles) in zip(axes[row], views.items(), strict=True):
            into = turned_for_drawing(*angles)
            draw_mesh(
                ax,
                mesh.verts @ into.T,
                mesh.faces,
                keypoints=mesh.joints @ into.T,
                title=f"{label} / {view}",
                extent=extent,
            )
    figure.tight_layout()
    return figure
