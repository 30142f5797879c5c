"""One photo and its hands as the notebooks draw them: the detections with their crop boxes
(00, 03, 09), and the crop with one overlay per answer of the network or the fit (00, 09)."""

from __future__ import annotations

import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from s2h_lib.data.photos.detector import detection_box
from s2h_lib.fit.fit_photos import FoundHand
from s2h_lib.net.prediction import HandPrediction
from s2h_lib.predict import (
    PhotoHands,
    crop_reprojection_px,
    faces_for,
)
from s2h_lib.viz.figures import blank_axes, draw_skeleton_2d, image_array
from s2h_lib.viz.overlays import PANEL_INCHES, draw_overlay, mesh_alpha

PHOTO_INCHES = 6.0
BOX_COLOUR = "yellow"


def draw_detections(ax, photo: PhotoHands, title: str = "") -> None:
    """On `ax`: the whole photo, each detected hand's keypoints (markers sized by confidence)
    and the square box its crop is taken from."""
    height, width = photo.image.shape[:2]
    ax.imshow(photo.image)
    for rank, detection in enumerate(photo.detections):
        draw_skeleton_2d(ax, detection.keypoints, confidence=detection.confidence)
        box = detection_box(detection)
        corner = (box.cx - box.side / 2, box.cy - box.side / 2)
        ax.add_patch(
            Rectangle(corner, box.side, box.side, fill=False, color=BOX_COLOUR, linewidth=1.2)
        )
        label = f"{rank}: {detection.handedness} {detection.score:.2f}"
        ax.annotate(label, corner, color=BOX_COLOUR, fontsize=7, va="bottom")
    ax.set_xlim(-0.5, width - 0.5)
    ax.set_ylim(height - 0.5, -0.5)
    ax.set_axis_off()
    ax.set_title(title or photo.path.name, fontsize=7)


def detections_figure(photo: PhotoHands, title: str = "") -> Figure:
    """One photo drawn by `draw_detections`."""
    height, width = photo.image.shape[:2]
    figure = Figure(figsize=(PHOTO_INCHES, PHOTO_INCHES * height / width))
    FigureCanvasAgg(figure)
    draw_detections(figure.add_subplot(), photo, title)
    figure.tight_layout(pad=0.3)
    return figure


def photos_figure(photos: list[PhotoHands], columns: int = 5, panel_inches: float = 2.2) -> Figure:
    """Several photos drawn by `draw_detections`, titled by whether a hand was found."""
    columns = min(columns, len(photos))
    rows = -(-len(photos) // columns)
    figure = Figure(figsize=(panel_inches * columns, 0.8 * panel_inches * rows))
    FigureCanvasAgg(figure)
    for ax, photo in zip(blank_axes(figure, len(photos), columns), photos, strict=True):
        found = f"{len(photo.detections)} hand(s)" if photo.found else "NO HAND"
        draw_detections(ax, photo, f"{photo.path.stem[:12]}: {found}")
    figure.tight_layout(pad=0.3)
    return figure


def predictions_figure(
    hand: FoundHand, predictions: dict[str, HandPrediction], faces: torch.Tensor
) -> Figure:
    """The crop with the detector's keypoints, then one `overlays.draw_overlay` panel per
    prediction (batch of 1, in the crop): mesh silhouette, skeleton, the detector's keypoints
    as white crosses, and the reprojection distance in the title. `faces`: the right hand
    model's triangles."""
    crop = hand.crop
    image = image_array(crop.image)
    detected = crop.keypoints.numpy()
    size = tuple(crop.image.shape[-2:])
    figure = Figure(figsize=(PANEL_INCHES * (1 + len(predictions)), PANEL_INCHES))
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, 1 + len(predictions), squeeze=False)[0]
    axes[0].imshow(image)
    draw_skeleton_2d(axes[0], detected, confidence=crop.confidence.numpy())
    axes[0].set_axis_off()
    axes[0].set_title(f"crop, detector ({hand.side} hand)", fontsize=7)
    for ax, (label, pred) in zip(axes[1:], predictions.items(), strict=True):
        alpha = mesh_alpha(pred, faces_for(hand, faces), size, crop.K[None])[0].numpy()
        px = crop_reprojection_px(pred, hand)
        title = f"{label}: {px:.1f} px"
        draw_overlay(ax, image, alpha, pred.keypoints2d[0].numpy(), detected, title)
    figure.tight_layout(pad=0.3)
    return figure
