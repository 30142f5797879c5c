"""The loss terms taken apart on one batch (notebook 04): each term's value, the gradient it
alone sends into the joints and into each network output, drawn as arrows and bars."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from s2h_lib.data.sample import HandSample
from s2h_lib.fit.silhouette_fit import image_motion
from s2h_lib.losses.loss_config import TERMS, LossConfig
from s2h_lib.losses.objective import compute_losses
from s2h_lib.net.model import HandNet
from s2h_lib.net.prediction import HandPrediction
from s2h_lib.viz.figures import blank_axes, draw_skeleton_2d, image_array

# Joint gradients are drawn as the image motion of a step that moves the most pushed joint
# this far (metres): small enough to be linear, large enough to be seen.
ARROW_STEP_M = 0.005
# The network outputs whose gradient each term is measured by (HandPrediction fields).
PULLED_OUTPUTS = (
    "pose_coeffs",
    "betas",
    "scale",
    "trans",
    "texture_raw",
    "lights",
    "heatmap_keypoints",
    "image_articulation",
)


@dataclass(frozen=True)
class TermInspection:
    """One loss term on one batch.

    value: the term before weighting; weighted: weight x value (what the total adds);
    output_grad: norm of d(weighted)/d(output) per network output of `PULLED_OUTPUTS` that the
    prediction has (0 where the term does not read that output); joint_grad: (B, 21, 3)
    d(weighted)/d(joints), or None when the term does not read the 3D joints (appearance, 2D
    branch, shape prior).
    """

    name: str
    weight: float
    value: float
    weighted: float
    output_grad: dict[str, float]
    joint_grad: np.ndarray | None


def inspect_terms(
    model: HandNet, batch: HandSample, config: LossConfig, stage: str
) -> tuple[HandPrediction, list[TermInspection]]:
    """Run `model` on `batch` and take every active term of `stage` apart: its value and the
    gradient it alone sends into the joints and into each network output. (Into the outputs,
    not the weights: the backward pass then stops at the heads, one per term stays cheap, and
    the chain rule through the network is the same for every term.) Self-supervised:
    `batch.truth` is not read. Returns the (detached) prediction and one inspection per term,
    in `loss_config.TERMS` order."""
    pred = model.predict(batch)
    result = compute_losses(pred, batch, model.hand_model.faces, config, stage=stage)
    outputs = {name: getattr(pred, name) for name in PULLED_OUTPUTS}
    outputs = {name: value for name, value in outputs.items() if value is not None}
    inspections = []
    for name in (term for term in TERMS if term in result.terms):
        weighted = result.terms[name]
        grads = torch.autograd.grad(
            weighted, [pred.joints, *outputs.values()], retain_graph=True, allow_unused=True
        )
        joint_grad = grads[0]
        output_grad = {
            output: 0.0 if grad is None else float(grad.norm())
            for output, grad in zip(outputs, grads[1:], strict=True)
        }
        inspections.append(
            TermInspection(
                name=name,
                weight=config.weight(name),
                value=float(result.unweighted[name]),
                weighted=float(weighted.detach()),
                output_grad=output_grad,
                joint_grad=None if joint_grad is None else joint_grad.detach().cpu().numpy(),
            )
        )
    return pred.map(torch.Tensor.detach), inspections


def joint_arrows(pred: HandPrediction, K: torch.Tensor, joint_grad: np.ndarray, index: int):
    """Where the joints of sample `index` project (21, 2) and where a small gradient-descent
    step on them would move their projections (21, 2), pixels (scaled: the most pushed joint
    moves `ARROW_STEP_M`)."""
    step = -torch.from_numpy(joint_grad[index : index + 1]).float()
    step = step / step.norm(dim=-1).max().clamp_min(1e-30) * ARROW_STEP_M
    uv, motion = image_motion(pred.joints[index : index + 1].float(), step, K[index : index + 1])
    return uv[0].numpy(), motion[0].numpy()


def term_arrows_figure(
    batch: HandSample,
    pred: HandPrediction,
    inspections: list[TermInspection],
    index: int = 0,
    panel_inches: float = 2.2,
) -> Figure:
    """One panel per term that reaches the joints: sample `index`'s image, the predicted
    skeleton, the detector's keypoints (white crosses) and, per joint, where that term alone
    pushes the joint's projection (yellow arrows, scaled per panel)."""
    shown = [t for t in inspections if t.joint_grad is not None]
    columns = min(4, len(shown))
    figure = Figure(figsize=(panel_inches * columns, panel_inches * -(-len(shown) // columns)))
    FigureCanvasAgg(figure)
    image = image_array(batch.image[index])
    size = image.shape[0]
    detected = batch.keypoints[index].numpy()
    for ax, term in zip(blank_axes(figure, len(shown), columns), shown, strict=True):
        uv, motion = joint_arrows(pred, batch.K, term.joint_grad, index)
        ax.imshow(image)
        ax.scatter(detected[:, 0], detected[:, 1], marker="x", s=8, c="white", zorder=7)
        draw_skeleton_2d(ax, pred.keypoints2d[index].numpy())
        length = np.linalg.norm(motion, axis=1).max()
        arrows = motion / max(length, 1e-12) * 0.2 * size
        ax.quiver(
            uv[:, 0],
            uv[:, 1],
            arrows[:, 0],
            arrows[:, 1],
            color="yellow",
            angles="xy",
            scale_units="xy",
            scale=1.0,
            width=0.012,
            zorder=8,
        )
        ax.set_xlim(-0.5, size - 0.5)
        ax.set_ylim(size - 0.5, -0.5)
        ax.set_title(f"{term.name}\n{term.weighted:.2e}", fontsize=7)
    figure.tight_layout(pad=0.3)
    return figure


def gradient_bars_figure(inspections: list[TermInspection]) -> Figure:
    """Per term, the norm of its weighted gradient into each network output (log scale): what
    each term pulls on, and how hard."""
    groups = list(inspections[0].output_grad) if inspections else []
    figure = Figure(figsize=(9.0, 3.2))
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    x = np.arange(len(inspections))
    width = 0.8 / max(len(groups), 1)
    for k, group in enumerate(groups):
        heights = [max(t.output_grad[group], 1e-12) for t in inspections]
        ax.bar(x + (k - (len(groups) - 1) / 2) * width, heights, width, label=group)
    ax.set_yscale("log")
    ax.set_ylim(bottom=1e-9)
    ax.set_xticks(x, [t.name for t in inspections], rotation=40, ha="right", fontsize=8)
    ax.set_ylabel("|d weighted term / d output|")
    ax.legend(fontsize=7, ncol=len(groups))
    figure.tight_layout()
    return figure
