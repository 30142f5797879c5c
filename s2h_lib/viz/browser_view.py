"""Browse a model's results one sample at a time: image, overlay and 3D mesh side by side.

`sample_figure` draws one sample (the input image; the predicted mesh and keypoints over it with
the true keypoints as crosses; the predicted and the true mesh seen from the camera) with
matplotlib, so it works headless; `save_sample_view` writes it as PNG plus an interactive plotly
HTML of the predicted mesh. `sample_browser` wraps the same drawing in an ipywidgets selector for
a live notebook.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from torch.utils.data import Dataset

from s2h_lib.atomic import atomic_write_bytes
from s2h_lib.data.sample import HandSample, collate_samples
from s2h_lib.net.prediction import HandPrediction, Predictor
from s2h_lib.viz.figures import CAMERA_TO_VIEW, draw_mesh, mesh_figure, view_rotation
from s2h_lib.viz.overlays import draw_overlay, mesh_alpha, save_figure

PANEL_INCHES = 2.6


def camera_view_verts(points: np.ndarray) -> np.ndarray:
    """Camera-frame points `(N, 3)` rotated so that `viz.draw_mesh` at azimuth 0, elevation 0
    shows them as the camera sees them (draw_mesh applies `view_rotation(0, 0)`)."""
    return np.asarray(points, dtype=np.float64) @ CAMERA_TO_VIEW @ view_rotation(0.0, 0.0)


def predict_sample(
    predictor: Predictor, dataset: Dataset, index: int
) -> tuple[HandSample, HandPrediction]:
    """Sample `index` of `dataset` as a batch of one, and the predictor's output for it."""
    if not 0 <= index < len(dataset):
        raise IndexError(f"sample index {index} is outside the dataset's 0..{len(dataset) - 1}")
    batch = collate_samples([dataset[index]])
    return batch, predictor(batch)


def sample_figure(
    batch: HandSample, pred: HandPrediction, faces: torch.Tensor, title: str = ""
) -> Figure:
    """Four panels of the first sample of `batch`: image, overlay, predicted mesh and (when the
    sample carries truth) the true mesh, both as the camera sees them at one scale."""
    device = pred.verts.device
    faces = faces.to(device)
    alpha = mesh_alpha(pred, faces, tuple(batch.image.shape[-2:]), batch.K.to(device))
    image = batch.image[0].permute(1, 2, 0).float().cpu().numpy()
    verts = pred.verts[0].detach().float().cpu().numpy()
    faces_np = faces.cpu().numpy()
    truth = batch.truth
    reference = batch.keypoints if truth is None else truth.keypoints2d
    meshes = [("predicted mesh", verts, pred.joints[0].detach().float().cpu().numpy())]
    if truth is not None and bool(truth.has_mesh[0]):
        meshes.append(("true mesh", truth.verts[0].numpy(), truth.joints3d[0].numpy()))
    extent = max(np.abs(camera_view_verts(v - v.mean(0))[:, :2]).max() for _, v, _ in meshes)

    figure = Figure(figsize=(PANEL_INCHES * (2 + len(meshes)), PANEL_INCHES + 0.3))
    FigureCanvasAgg(figure)
    axes = [figure.add_subplot(1, 2 + len(meshes), i + 1) for i in range(2 + len(meshes))]
    draw_overlay(axes[0], image, title="input")
    draw_overlay(
        axes[1],
        image,
        alpha[0].cpu().numpy(),
        pred.keypoints2d[0].detach().float().cpu().numpy(),
        reference[0].float().cpu().numpy(),
        title="prediction (x: reference 2D)",
    )
    for ax, (label, mesh, joints) in zip(axes[2:], meshes, strict=True):
        draw_mesh(
            ax,
            camera_view_verts(mesh),
            faces_np,
            keypoints=camera_view_verts(joints),
            title=label,
            extent=extent * 1.05,
        )
    if title:
        figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    return figure


def sample_mesh_figure(pred: HandPrediction, faces: torch.Tensor, title: str = "") -> go.Figure:
    """The predicted mesh of the first sample as an interactive plotly figure (mm, wrist at 0)."""
    verts = pred.verts[0].detach().float().cpu().numpy()
    joints = pred.joints[0].detach().float().cpu().numpy()
    wrist = joints[:1]
    return mesh_figure(verts - wrist, faces.cpu().numpy(), joints - wrist, title=title)


def save_sample_view(
    out_dir: str | Path,
    batch: HandSample,
    pred: HandPrediction,
    faces: torch.Tensor,
    title: str = "",
    dpi: int = 90,
) -> list[Path]:
    """Write `sample.png` (the four panels) and `sample_mesh.html` (plotly, opens offline: the
    plotly.js library is embedded) into `out_dir`; return both paths."""
    out_dir = Path(out_dir)
    png = save_figure(sample_figure(batch, pred, faces, title), out_dir / "sample.png", dpi=dpi)
    html = sample_mesh_figure(pred, faces, title).to_html(include_plotlyjs=True)
    atomic_write_bytes(out_dir / "sample_mesh.html", html.encode())
    return [png, out_dir / "sample_mesh.html"]


def sample_labels(names: Sequence[str], errors_mm: Sequence[float]) -> list[tuple[str, int]]:
    """Dropdown options `(label, index)`, label = name and PA-MPJPE, in dataset order."""
    return [
        (f"{i}: {name} ({error:.1f} mm)", i)
        for i, (name, error) in enumerate(zip(names, errors_mm, strict=True))
    ]


def sample_browser(
    predictor: Predictor,
    dataset: Dataset,
    faces: torch.Tensor,
    options: Sequence[tuple[str, int]],
    start: int = 0,
):
    """An ipywidgets panel: a sample selector over `options` (see `sample_labels`), the four
    panels of the chosen sample and its predicted mesh in 3D (plotly), redrawn on change."""
    import ipywidgets as widgets
    from IPython.display import display

    selector = widgets.Dropdown(options=list(options), value=start, description="sample")
    output = widgets.Output()

    def show(index: int) -> None:
        batch, pred = predict_sample(predictor, dataset, index)
        output.clear_output(wait=True)
        with output:
            display(sample_figure(batch, pred, faces, title=batch.name[0]))
            sample_mesh_figure(pred, faces, title=batch.name[0]).show()

    selector.observe(lambda change: show(change["new"]), names="value")
    show(start)
    return widgets.VBox([selector, output])
