"""The photometric terms seen as pictures (notebook 04): the texture head alone, under the
lighting head's lights, laid over the input, and the difference the term averages."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from s2h_lib.data.sample import HandSample
from s2h_lib.losses.objective import render_prediction
from s2h_lib.losses.terms import composite_over_image
from s2h_lib.net.prediction import HandPrediction
from s2h_lib.viz.overlays import PANEL_INCHES

NEUTRAL_GREY = 0.5  # background of the renders that show the appearance heads alone


@dataclass(frozen=True)
class AppearanceRenders:
    """The predicted hands of N images rendered as the photometric terms see them.

    unlit: (N, H, W, 3) the texture head's colours alone, on grey; lit: (N, H, W, 3) the same
    under the lighting head's lights, on grey; composite: (N, H, W, 3) the lit render laid over
    the input with its soft silhouette (`losses.composite_over_image`), what `photometric`
    compares with the input; difference: (N, H, W) |composite - input| averaged over the
    colour channels; photometric: (N,) its mean per image, the `photometric` term (unweighted)
    of each image on its own.
    """

    unlit: np.ndarray
    lit: np.ndarray
    composite: np.ndarray
    difference: np.ndarray
    photometric: np.ndarray


def appearance_renders(
    pred: HandPrediction, batch: HandSample, faces: torch.Tensor
) -> AppearanceRenders:
    """Render `pred` (N images; texture and lights from the network's appearance heads) over
    `batch`'s images (N, 3, H, W) with the soft renderer the photometric terms use, and on a
    neutral grey without and with its lights (`AppearanceRenders`). Raises ValueError when the
    prediction has no texture (a model without appearance heads)."""
    if pred.texture is None:
        raise ValueError("the prediction has no texture: the model has no appearance heads")
    image = batch.image.float()
    grey = torch.full_like(image, NEUTRAL_GREY)
    with torch.no_grad():
        seen = render_prediction(pred, faces, batch.K, image)
        lit = render_prediction(pred, faces, batch.K, grey)
        unlit = render_prediction(replace(pred, lights=None), faces, batch.K, grey)
        composite = composite_over_image(seen.rgb, seen.alpha, image)
    difference = (composite - image).abs().mean(1)

    def pictures(rgb: torch.Tensor) -> np.ndarray:
        return rgb.clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy()

    return AppearanceRenders(
        unlit=pictures(unlit.rgb),
        lit=pictures(lit.rgb),
        composite=pictures(composite),
        difference=difference.cpu().numpy(),
        photometric=difference.mean((1, 2)).cpu().numpy(),
    )


def appearance_figure(renders: AppearanceRenders, batch: HandSample) -> Figure:
    """One row per image: the input crop, the texture alone, texture and lighting, the render
    over the crop and |render - crop| (one colour scale for every row, titled with the image's
    photometric value). `renders` from `appearance_renders` on the same `batch`."""
    images = batch.image.clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy()
    columns = ("crop", "texture (unlit)", "texture x lighting", "render over crop")
    top = max(float(renders.difference.max()), 1e-6)
    figure = Figure(figsize=(PANEL_INCHES * 5, PANEL_INCHES * len(images)))
    FigureCanvasAgg(figure)
    for row, ax in enumerate(figure.subplots(len(images), 5, squeeze=False)):
        panels = (images[row], renders.unlit[row], renders.lit[row], renders.composite[row])
        for panel, picture, title in zip(ax, panels, columns, strict=False):
            panel.imshow(picture, interpolation="nearest")
            panel.set_title(title, fontsize=7)
        shown = ax[4].imshow(renders.difference[row], cmap="magma", vmin=0.0, vmax=top)
        ax[4].set_title(f"|render - crop|: {renders.photometric[row]:.4f}", fontsize=7)
        figure.colorbar(shown, ax=ax[4], fraction=0.046, pad=0.02)
        for panel in ax:
            panel.set_axis_off()
    figure.tight_layout(pad=0.3)
    return figure
