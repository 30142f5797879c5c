"""Glue the teaching notebooks (00 tour, 03 data, 04 losses, 05 train, 09 your photo) share.

Each function is one step a notebook shows: draw the hands found in a photo, rebuild a fitted
hand's mesh from `fits.json`, and so on (the photo pipeline itself, detect, crop and predict,
is `predict.py`, which `s2h predict` runs). The notebooks stay a sequence of calls and
pictures; what can be wrong lives here, with its tests (`tests/test_teaching.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from s2h_lib.data.image_io import list_images
from s2h_lib.data.photos.detector import detection_box
from s2h_lib.data.sample import HandSample
from s2h_lib.data.synth.config import SynthConfig
from s2h_lib.data.synth.layout import MANIFEST_NAME
from s2h_lib.data.synth.noise import NoiseModel, NoiseParams, measure, simulate
from s2h_lib.data.synth.store import build_synth
from s2h_lib.evaluation.eval_model import load_trained_model
from s2h_lib.evaluation.metrics import pa_mpjpe_mm
from s2h_lib.fit.fit_photos import FoundHand
from s2h_lib.fit.fitter import FitConfig, default_hand_model, predict_from_camera
from s2h_lib.fit.silhouette_fit import image_motion
from s2h_lib.hand.rotations import axis_angle_to_matrix
from s2h_lib.losses.loss_config import GROUPS, STAGES, SUPERVISED_TERMS, TERMS, LossConfig
from s2h_lib.losses.objective import compute_losses, render_prediction
from s2h_lib.losses.terms import composite_over_image
from s2h_lib.net.model import CameraPose, HandNet
from s2h_lib.net.prediction import HandPrediction
from s2h_lib.predict import (
    HandMesh,
    PhotoHands,
    crop_reprojection_px,
    faces_for,
    photo_crop,
    predict_hand,
    seen_in_crop,
)
from s2h_lib.train.train_config import PRESETS
from s2h_lib.viz.figures import draw_mesh, draw_skeleton_2d, view_rotation
from s2h_lib.viz.overlays import PANEL_INCHES, draw_overlay, mesh_alpha, verts_alpha

PHOTO_INCHES = 6.0
BOX_COLOUR = "yellow"


# ---- one photo: its hands drawn, and what the fit found -----------------------------------


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
    for ax, photo in zip(_blank_axes(figure, len(photos), columns), photos, strict=True):
        found = f"{len(photo.detections)} hand(s)" if photo.found else "NO HAND"
        draw_detections(ax, photo, f"{photo.path.stem[:12]}: {found}")
    figure.tight_layout(pad=0.3)
    return figure


def fitted_prediction(record: dict, config: FitConfig | None = None) -> HandPrediction:
    """The fit of one `fits.json` hand record (`fit_photos.fit_photos`) as a prediction (batch
    of 1) in the crop it was fitted in: verts (1, V, 3), joints (1, 21, 3), keypoints2d
    (1, 21, 2) in that crop's pixels.

    The record holds the parameters, not the mesh. A left hand was fitted as the right hand in
    the mirrored crop and mirrored back; its parameters are those of the left hand model, so it
    is rebuilt with `side="left"` (exact for the open hand model, whose left hand is the mirrored
    right one). `config` gives the hand model (ncomps, mano_root) the fit used.
    """
    config = replace(config or FitConfig(), side=record["side"])
    global_rot = torch.tensor([record["global_rot"]], dtype=torch.float32)
    camera = CameraPose(
        pose_coeffs=torch.tensor([record["pose_coeffs"]], dtype=torch.float32),
        betas=torch.tensor([record["betas"]], dtype=torch.float32),
        rotation=axis_angle_to_matrix(global_rot),
        global_rot=global_rot,
        scale=torch.tensor([record["scale"]], dtype=torch.float32),
        trans=torch.tensor([record["trans"]], dtype=torch.float32),
    )
    K = torch.tensor([record["K"]], dtype=torch.float32)
    with torch.no_grad():
        return predict_from_camera(camera, default_hand_model(config), K)


def hand_mesh(record: dict, config: FitConfig | None = None) -> HandMesh:
    """The mesh of one `fits.json` hand record (`fitted_prediction`), with the triangles of the
    record's side of the hand model."""
    pred = fitted_prediction(record, config)
    hand_model = default_hand_model(replace(config or FitConfig(), side=record["side"]))
    return HandMesh(
        verts=pred.verts[0].numpy(),
        joints=pred.joints[0].numpy(),
        faces=hand_model.faces.cpu().numpy(),
    )


NETWORK, REFINED, FITTED = "network", "network + refinement", "per-image fit"


def network_refined_and_fit(
    net: HandNet,
    image_size: int,
    photo: PhotoHands,
    hand: FoundHand,
    record: dict,
    config: FitConfig | None = None,
) -> dict[str, HandPrediction]:
    """The three answers for one hand of `photo`, each a prediction (batch of 1) seen in
    `hand`'s crop (the fit's): the trained network `net` on the `image_size` crop it was
    trained at (`predict.predict_hand`), the same refined per image, and the per-image fit of
    `record` (its `fits.json` entry, fitted with `config`). Keys: `NETWORK`, `REFINED`,
    `FITTED`. The detector is not run again: the network's crop is cut from `photo`'s
    detection of the same hand."""
    own_crop = photo_crop(photo, image_size, hand.hand.rank)
    answers = {
        NETWORK: predict_hand(net, own_crop),
        REFINED: predict_hand(net, own_crop, refine=True),
    }
    seen = {label: seen_in_crop(pred, hand) for label, pred in answers.items()}
    return {**seen, FITTED: fitted_prediction(record, config)}


# Turns (about the vertical, then about the horizontal axis, degrees) of the views of a hand in
# the camera frame, starting from what the camera sees.
CAMERA_VIEWS = {"camera": (0.0, 0.0), "turned 90°": (90.0, 0.0), "tilted 90°": (0.0, 90.0)}
# Camera frame (x right, y down, z forward) -> view frame (x right, y up, z to the viewer).
CAMERA_TO_VIEW = np.diag([1.0, -1.0, -1.0])


def camera_view_rotation(turn_deg: float, tilt_deg: float) -> np.ndarray:
    """(3, 3) rotation from the camera frame to a view frame: what the camera sees, turned
    about the vertical axis by `turn_deg`, then tilted about the horizontal one by `tilt_deg`."""
    a, e = np.deg2rad(turn_deg), np.deg2rad(tilt_deg)
    turn = np.array([[np.cos(a), 0.0, np.sin(a)], [0.0, 1.0, 0.0], [-np.sin(a), 0.0, np.cos(a)]])
    tilt = np.array([[1.0, 0.0, 0.0], [0.0, np.cos(e), -np.sin(e)], [0.0, np.sin(e), np.cos(e)]])
    return tilt @ turn @ CAMERA_TO_VIEW


def camera_views_figure(
    meshes: list[HandMesh],
    labels: list[str],
    views: dict[str, tuple[float, float]] = CAMERA_VIEWS,
    panel_inches: float = 2.2,
) -> Figure:
    """Hands in a camera frame, one row each, one column per view (`camera_view_rotation`),
    all on one scale. `viz.draw_mesh` looks along its own hand-frame views, so each mesh is
    first rotated so that its view (0, 0) is the wanted one."""
    hand_view = view_rotation(0.0, 0.0)
    extent = 1.02 * max(np.linalg.norm(m.verts - m.verts.mean(0), axis=1).max() for m in meshes)
    figure = Figure(figsize=(panel_inches * len(views), panel_inches * len(meshes)))
    FigureCanvasAgg(figure)
    axes = figure.subplots(len(meshes), len(views), squeeze=False)
    for row, (mesh, label) in enumerate(zip(meshes, labels, strict=True)):
        for ax, (view, angles) in zip(axes[row], views.items(), strict=True):
            into = hand_view.T @ camera_view_rotation(*angles)
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


# ---- S2H-Synth and its keypoints ---------------------------------------------------------

# A benchmark small enough to build in seconds, for notebooks run where none was built.
SMALL_SYNTH = SynthConfig(
    image_size=64, train=16, val=8, test=32, clips=2, clip_length=4, shard_size=32, supersample=1
)
TRUTH_COLOUR = "white"
ERROR_COLOUR = "red"


def synth_root(
    data_dir: str | Path, fallback: str | Path, config: SynthConfig = SMALL_SYNTH
) -> Path:
    """`data_dir` when it holds a built S2H-Synth (its manifest), else a benchmark built with
    `config` in `fallback` (kept there, so a second run reuses it)."""
    data_dir = Path(data_dir).expanduser()
    if (data_dir / MANIFEST_NAME).is_file():
        return data_dir
    build_synth(fallback, config, workers=1, contact_sheet=False)
    return Path(fallback).expanduser()


def _image(sample: HandSample) -> np.ndarray:
    return sample.image.permute(1, 2, 0).clamp(0, 1).cpu().numpy()


def _blank_axes(figure: Figure, count: int, columns: int) -> list:
    rows = -(-count // columns)
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    for ax in axes:
        ax.set_axis_off()
    return list(axes[:count])


def samples_figure(
    samples: list[HandSample], columns: int = 6, panel_inches: float = 1.6, truth: bool = False
) -> Figure:
    """Samples (one image each) with their detector-like keypoints, markers sized by
    confidence; with `truth` (samples need it), the true keypoints as white crosses and a red
    line from each true keypoint to where it was reported."""
    columns = min(columns, len(samples))
    rows = -(-len(samples) // columns)
    figure = Figure(figsize=(panel_inches * columns, panel_inches * rows))
    FigureCanvasAgg(figure)
    for ax, sample in zip(_blank_axes(figure, len(samples), columns), samples, strict=True):
        ax.imshow(_image(sample))
        found = sample.confidence.numpy() > 0
        keypoints = sample.keypoints.numpy()
        if truth:
            true = sample.truth.keypoints2d.numpy()
            for t, k in zip(true[found], keypoints[found], strict=True):
                ax.plot([t[0], k[0]], [t[1], k[1]], color=ERROR_COLOUR, lw=0.8, zorder=6)
            ax.scatter(true[:, 0], true[:, 1], marker="x", s=8, c=TRUTH_COLOUR, zorder=7)
        if found.any():
            draw_skeleton_2d(ax, keypoints, confidence=sample.confidence.numpy())
        size = sample.image.shape[-1]
        ax.set_xlim(-0.5, size - 0.5)
        ax.set_ylim(size - 0.5, -0.5)
        ax.set_title(f"{sample.name}" + ("" if found.any() else " (missed)"), fontsize=6)
    figure.tight_layout(pad=0.3)
    return figure


def clip_frames(clip: HandSample) -> list[HandSample]:
    """The T frames of one clip (fields (T, ...)) as single-image samples, named by frame."""
    return [
        HandSample(
            image=clip.image[t],
            K=clip.K[t],
            keypoints=clip.keypoints[t],
            confidence=clip.confidence[t],
            name=f"{clip.name} t={t}",
        )
        for t in range(clip.image.shape[0])
    ]


@dataclass(frozen=True)
class NoiseCheck:
    """The noise model's parameters next to what a sample of its own output measures.

    table: rows (name, calibrated value, measured value); joint_sigma: (21,) calibrated and
    (21,) measured per-joint error scales (hand sizes); hands: how many hands were drawn.
    """

    table: list[tuple[str, float, float]]
    joint_sigma: np.ndarray
    measured_sigma: np.ndarray
    hands: int


def noise_check(
    params: NoiseParams, truth: np.ndarray, visible: np.ndarray, hands: int, seed: int
) -> NoiseCheck:
    """Draw `hands` detections from `NoiseModel(params)` on true keypoints (N, 21, 2) with
    visibility (N, 21) (cycled through when hands > N) and measure them as a real detector is
    measured for calibration (`noise.measure`)."""
    if hands < 1 or len(truth) == 0:
        raise ValueError(f"need at least one hand and one truth, got {hands} and {len(truth)}")
    index = np.arange(hands) % len(truth)
    rng = np.random.default_rng(seed)
    stats = measure(simulate(NoiseModel(params), truth[index], visible[index], rng))
    table = [
        ("hand_miss_rate", params.hand_miss_rate, stats.hand_miss_rate),
        ("joint_miss_rate", params.joint_miss_rate, stats.joint_miss_rate),
        ("flip_rate", params.flip_rate, stats.flip_rate),
        ("finger_swap_rate", params.finger_swap_rate, stats.finger_swap_rate),
        ("outlier_rate", params.outlier_rate, stats.outlier_rate()),
        ("hidden_scale", params.hidden_scale, stats.hidden_scale()),
        ("mean joint_sigma", float(np.mean(params.joint_sigma)), float(stats.joint_sigma().mean())),
    ]
    return NoiseCheck(table, np.asarray(params.joint_sigma), stats.joint_sigma(), hands)


def noise_figure(check: NoiseCheck) -> Figure:
    """Per-joint error scale: the calibrated table against the sample's measurement."""
    figure = Figure(figsize=(9.0, 2.8))
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    joints = np.arange(len(check.joint_sigma))
    ax.bar(joints - 0.2, check.joint_sigma, width=0.4, label="calibrated (detector_noise.json)")
    ax.bar(joints + 0.2, check.measured_sigma, width=0.4, label=f"measured on {check.hands} draws")
    ax.set_xticks(joints)
    ax.set_xlabel("keypoint (FreiHAND order: 0 wrist, 1-4 thumb, ..., 17-20 pinky)")
    ax.set_ylabel("error scale / hand size")
    ax.legend(fontsize=8)
    figure.tight_layout()
    return figure


# ---- the losses, term by term -------------------------------------------------------------

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
    detached = HandPrediction(
        **{k: None if v is None else v.detach() for k, v in vars(pred).items()}
    )
    return detached, inspections


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
    image = batch.image[index].permute(1, 2, 0).clamp(0, 1).cpu().numpy()
    size = image.shape[0]
    detected = batch.keypoints[index].numpy()
    for ax, term in zip(_blank_axes(figure, len(shown), columns), shown, strict=True):
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


def vanished_terms(config: LossConfig, group: str, stage: str) -> list[str]:
    """The terms of `stage` that `config.without(group)` turns off in a self-supervised run
    (the 3D-label terms are never computed there, so they cannot vanish)."""
    removed = config.active_terms(stage) - config.without(group).active_terms(stage)
    return sorted(removed - SUPERVISED_TERMS)


def ablation_table(config: LossConfig, stage: str) -> dict[str, list[str]]:
    """Every ablation group -> the terms of `stage` it turns off (empty: none in this stage)."""
    return {group: vanished_terms(config, group, stage) for group in GROUPS}


def stage_table(config: LossConfig) -> dict[str, dict[str, float]]:
    """term -> stage -> the weight the term has in that stage (0 when the stage leaves it out),
    for every term some stage uses."""
    return {
        term: {
            stage: config.weight(term) if term in terms else 0.0 for stage, terms in STAGES.items()
        }
        for term in TERMS
        if any(term in terms for terms in STAGES.values())
    }


# ---- the photometric terms: what the texture and lighting heads produce ---------------------

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


# ---- the tour: one photo, the network and the fit -------------------------------------------

# The network the tour falls back to when no trained one is there: the one `make demo` trains.
TOUR_PRESET = "synth-cpu-demo"


def first_photo(path: str | Path) -> Path:
    """`path` itself when it is a file; the first photo (by name) when it is a folder."""
    path = Path(path).expanduser()
    if path.is_file():
        return path
    if not path.is_dir():
        raise FileNotFoundError(
            f"{path} (resolved: {path.resolve()}) is neither a photo nor a folder of photos"
        )
    photos = list_images(path)
    if not photos:
        raise FileNotFoundError(f"no photo (.jpg, .png) directly in the folder {path}")
    return photos[0]


@dataclass(frozen=True)
class TourModel:
    """The network the tour runs, the crop size it expects, and whether it learned anything."""

    net: HandNet
    image_size: int
    trained: bool
    description: str


def tour_model(model_path: str | Path) -> TourModel:
    """The trained network in `model_path` (a `model.pt` of `s2h train`) with its training crop
    size; when there is no such file, the untrained `TOUR_PRESET` network (ImageNet encoder,
    heads at their start: its guess is close to the mean hand), said so in `description`."""
    path = Path(model_path).expanduser()
    if path.is_file():
        net, config = load_trained_model(path)
        stages = ", ".join(f"{s.name} {s.steps}" for s in config.stages)
        return TourModel(
            net, config.data.image_size, True, f"trained network {path} (steps: {stages})"
        )
    preset = PRESETS[TOUR_PRESET]
    description = (
        f"UNTRAINED network (untrained heads, preset {TOUR_PRESET}): no model at {path}. Its "
        "prediction shows what the network starts from; run `make demo` for a trained one."
    )
    return TourModel(HandNet(preset.model).eval(), preset.data.image_size, False, description)


def predictions_figure(
    hand: FoundHand, predictions: dict[str, HandPrediction], faces: torch.Tensor
) -> Figure:
    """The crop with the detector's keypoints, then one `overlays.draw_overlay` panel per
    prediction (batch of 1, in the crop): mesh silhouette, skeleton, the detector's keypoints
    as white crosses, and the reprojection distance in the title. `faces`: the right hand
    model's triangles."""
    crop = hand.crop
    image = crop.image.permute(1, 2, 0).clamp(0, 1).numpy()
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


# ---- a trained network against the truth (notebook 05) ---------------------------------------

SIDE_VIEW = CAMERA_VIEWS["turned 90°"]


def _side_view(verts: np.ndarray, joints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Camera-frame verts (V, 3) and joints (21, 3) turned so that `viz.draw_mesh`'s palm view
    shows them from the side (`SIDE_VIEW`): the depth the image does not show."""
    into = view_rotation(0.0, 0.0).T @ camera_view_rotation(*SIDE_VIEW)
    return verts @ into.T, joints @ into.T


def truth_comparison_figure(batch: HandSample, pred: HandPrediction, faces: torch.Tensor) -> Figure:
    """One row per image of `batch` (N images (N, 3, H, W) with `truth`), five panels: the
    image; the network's mesh (tint) and skeleton over it with the true 2D keypoints as white
    crosses, titled with its PA-MPJPE (mm); the true mesh and skeleton over it; then the
    network's and the true mesh turned 90° (`SIDE_VIEW`), on one scale (a sample without a
    true mesh, `truth.has_mesh` False, shows only the true skeleton). `pred`: the network's
    prediction of the N images (verts (N, V, 3), joints (N, 21, 3), keypoints2d (N, 21, 2));
    `faces` (F, 3)."""
    if batch.truth is None:
        raise ValueError("the comparison needs samples with truth (a dataset with_truth=True)")
    truth = batch.truth
    faces, K = faces.cpu(), batch.K.cpu()
    size = tuple(batch.image.shape[-2:])
    images = batch.image.permute(0, 2, 3, 1).clamp(0, 1).cpu().numpy()
    alphas = {
        "network": verts_alpha(pred.verts.cpu(), faces, size, K).numpy(),
        "truth": verts_alpha(truth.verts, faces, size, K).numpy(),
    }
    joints = {"network": pred.joints.detach().cpu().double(), "truth": truth.joints3d.double()}
    verts = {"network": pred.verts.detach().cpu().double(), "truth": truth.verts.double()}
    errors = pa_mpjpe_mm(joints["network"], joints["truth"])
    has_mesh = truth.has_mesh.bool().tolist()
    extent = 1.02 * max(
        float((v - v.mean(0)).norm(dim=1).max()) for values in verts.values() for v in values
    )
    figure = Figure(figsize=(PANEL_INCHES * 5, PANEL_INCHES * len(images)))
    FigureCanvasAgg(figure)
    mesh_faces = faces.numpy()
    for row, ax in enumerate(figure.subplots(len(images), 5, squeeze=False)):
        truth_2d = truth.keypoints2d[row].numpy()
        network_2d = pred.keypoints2d[row].detach().cpu().numpy()
        draw_overlay(ax[0], images[row], title=f"image {row}")
        title = f"network: {errors[row]:.1f} mm"
        draw_overlay(ax[1], images[row], alphas["network"][row], network_2d, truth_2d, title)
        true_alpha = alphas["truth"][row] if has_mesh[row] else None
        draw_overlay(ax[2], images[row], true_alpha, truth_2d, title="truth")
        for panel, label in zip(ax[3:], ("network", "truth"), strict=True):
            panel.set_axis_off()
            if label == "truth" and not has_mesh[row]:
                continue
            side_verts, side_joints = _side_view(
                verts[label][row].numpy(), joints[label][row].numpy()
            )
            title = f"{label}, side"
            draw_mesh(
                panel, side_verts, mesh_faces, keypoints=side_joints, title=title, extent=extent
            )
    figure.tight_layout(pad=0.3)
    return figure
