"""`compute_losses`: every active loss term of one batch, weighted and summed.

The same objective serves the network trainer and the per-image fitter. What a term may read
depends on the supervision:
- "self": the image, K, the detector's keypoints and confidences. `batch.truth` is never read.
- "weak": the keypoint terms read the true 2D keypoints with confidence 1 instead of the
  detector's (the paper's weakly supervised comparison); nothing else changes.
- "full": as "weak", plus the 3D joint and vertex terms, root-relative (the labelled upper
  bound).

A clip batch has (B, T) leading axes while the prediction holds its B*T frames flattened,
frame-major within each clip; single-frame terms see the flattened frames, the video terms see
(B, T, ...) views.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

import torch
from torch import Tensor

from s2h_lib.data.sample import HandSample
from s2h_lib.losses import terms as losses
from s2h_lib.losses.loss_config import (
    IMAGE_TERMS,
    SUPERVISED_TERMS,
    TERMS,
    VIDEO_TERMS,
    LossConfig,
)
from s2h_lib.net.camera_solve import enough_keypoints
from s2h_lib.net.prediction import HandPrediction
from s2h_lib.render import Lights, RenderOutput, RenderSettings, render_mesh

Supervision = Literal["self", "weak", "full"]
SUPERVISIONS = ("self", "weak", "full")


@dataclass
class LossResult:
    """What `compute_losses` returns.

    total: () the sum of the finite weighted terms (no graph when no term is active).
    terms: name -> () weighted value, with its graph, for every finite computed term.
    unweighted: name -> () the term before weighting, detached, for logging.
    skipped: names of the terms that came out NaN or inf and were left out of the total.
    """

    total: Tensor
    terms: dict[str, Tensor]
    unweighted: dict[str, Tensor]
    skipped: tuple[str, ...]

    @property
    def num_skipped(self) -> int:
        return len(self.skipped)


@dataclass
class _Targets:
    """The batch's inputs, frames flattened to N = prod(leading axes), plus the clip shape."""

    image: Tensor  # (N, 3, H, W)
    K: Tensor  # (N, 3, 3)
    keypoints: Tensor  # (N, 21, 2) detector's, or the true ones under weak/full supervision
    confidence: Tensor  # (N, 21)
    clip: tuple[int, int] | None  # (B, T) for clips, None for single images


def _flatten_frames(tensor: Tensor, leading: int) -> Tensor:
    return tensor.reshape(-1, *tensor.shape[leading:])


def _targets(batch: HandSample, supervision: Supervision) -> _Targets:
    """Read what the supervision allows; `batch.truth` only under weak/full."""
    leading = batch.image.dim() - 3
    if leading not in (1, 2):
        raise ValueError(
            f"batch.image must be (B, 3, H, W) or a clip (B, T, 3, H, W), "
            f"got {tuple(batch.image.shape)}"
        )
    keypoints, confidence = batch.keypoints, batch.confidence
    if supervision != "self":
        if batch.truth is None:
            raise ValueError(
                f"supervision={supervision!r} needs batch.truth (build the dataset with "
                "with_truth=True); self-supervised runs use supervision='self'"
            )
        keypoints = batch.truth.keypoints2d
        confidence = torch.ones_like(keypoints[..., 0])
    clip = tuple(batch.image.shape[:2]) if leading == 2 else None
    return _Targets(
        image=_flatten_frames(batch.image, leading),
        K=_flatten_frames(batch.K, leading),
        keypoints=_flatten_frames(keypoints, leading),
        confidence=_flatten_frames(confidence, leading),
        clip=clip,
    )


def _require(value: Tensor | None, field: str, term: str, group: str) -> Tensor:
    if value is None:
        raise ValueError(
            f"loss term {term!r} needs prediction.{field}, which is None; build the model with "
            f"it or turn the term off with config.without({group!r})"
        )
    return value


def render_prediction(
    pred: HandPrediction,
    faces: Tensor,
    K: Tensor,
    image: Tensor,
    settings: RenderSettings | None = None,
) -> RenderOutput:
    """Render the predicted textured, lit mesh over the input images, at their size.

    pred: N frames; faces (F, 3); K (N, 3, 3); image (N, 3, H, W), also the background.
    `settings` defaults to a soft render; its image size is replaced by (H, W). Without
    predicted lights the mesh is rendered unlit (texture colours as they are).
    """
    texture = _require(pred.texture, "texture", "photometric", "texture")
    settings = replace(settings or RenderSettings(mode="soft"), image_size=tuple(image.shape[-2:]))
    colours = {"face_colors" if pred.texture_per_face else "vertex_colors": texture}
    lights = None if pred.lights is None else Lights.from_vector(pred.lights)
    faces = faces.to(device=pred.verts.device, dtype=torch.long)
    return render_mesh(pred.verts, faces, K, settings, lights=lights, background=image, **colours)


def _term_functions(
    pred: HandPrediction,
    batch: HandSample,
    faces: Tensor,
    config: LossConfig,
    targets: _Targets,
    render: Callable[[], RenderOutput],
) -> dict[str, Callable[[], Tensor]]:
    """Name -> a function computing that unweighted term (only the active ones are called)."""
    delta = config.huber_delta_px
    joint_weights = losses.keypoint_joint_weights(
        pred.keypoints2d, config.wrist_weight, config.tip_weight
    )
    image = targets.image

    def sample_weights() -> Tensor:
        return losses.photometric_sample_weights(
            targets.confidence, config.min_photometric_confidence
        )

    def heatmaps(term: str) -> Tensor:
        return _require(pred.heatmap_keypoints, "heatmap_keypoints", term, "branch2d")

    def clip_view(tensor: Tensor) -> Tensor:
        return tensor.reshape(*targets.clip, *tensor.shape[1:])

    def supervised(name: str) -> Tensor:
        # root-relative (the wrist): the camera's depth is the keypoints' business, and an
        # absolute 3D term lets a depth error swamp the articulation the bound is meant to show
        truth = batch.truth
        true_joints = _flatten_frames(truth.joints3d, -2)
        pred_root, true_root = pred.joints[:, :1], true_joints[:, :1]
        if name == "joints_3d":
            return losses.joints3d_loss(pred.joints - pred_root, true_joints - true_root)
        return losses.verts3d_loss(
            pred.verts - pred_root,
            _flatten_frames(truth.verts, -2) - true_root,
            truth.has_mesh.reshape(-1),
        )

    def appearance(fn: Callable[..., Tensor]) -> Callable[[], Tensor]:
        def term() -> Tensor:
            out = render()
            return fn(out.rgb, out.alpha, image, sample_weights())

        return term

    return {
        "keypoints_2d": lambda: losses.keypoint_reprojection_loss(
            pred.keypoints2d, targets.keypoints, targets.confidence, joint_weights, delta
        ),
        "bone_direction": lambda: losses.bone_direction_loss(
            pred.keypoints2d,
            targets.keypoints,
            targets.confidence,
            length_weighted=config.bone_weighting == "length",
        ),
        "heatmap_2d": lambda: losses.heatmap_keypoint_loss(
            heatmaps("heatmap_2d"), targets.keypoints, targets.confidence
        ),
        "consistency_2d3d": lambda: losses.keypoint_consistency_loss(
            heatmaps("consistency_2d3d")[:, -1], pred.keypoints2d, delta
        ),
        "scale_prior": lambda: losses.scale_prior_loss(pred.joints, config.reference_bone_m),
        "joint_limits": lambda: losses.joint_limit_loss(pred.joint_angles),
        "laplacian": lambda: losses.laplacian_loss(pred.verts, faces),
        "shape_prior": lambda: losses.shape_prior_loss(pred.betas),
        "photometric": appearance(losses.photometric_l1_loss),
        "photometric_ssim": appearance(losses.photometric_ssim_loss),
        "mean_colour": appearance(losses.mean_colour_loss),
        "texture_outliers": lambda: losses.texture_outlier_loss(
            _require(pred.texture_raw, "texture_raw", "texture_outliers", "texture"),
            sample_weights(),
            config.outlier_sigmas,
        ),
        "image_pose": lambda: losses.image_pose_loss(
            pred.image_articulation,
            losses.hand_frame_joints(pred.joints, pred.scale, pred.global_rot),
            enough_keypoints(targets.confidence),
        ),
        "joints_3d": lambda: supervised("joints_3d"),
        "verts_3d": lambda: supervised("verts_3d"),
        "motion_smooth": lambda: losses.joint_acceleration_loss(
            clip_view(pred.joints), clip_view(targets.confidence)
        ),
        "motion_2d": lambda: losses.keypoint_motion_loss(
            clip_view(pred.keypoints2d),
            clip_view(targets.keypoints),
            clip_view(targets.confidence),
            delta,
        ),
        "shape_consistency": lambda: losses.shape_consistency_loss(clip_view(pred.betas)),
        "bone_consistency": lambda: losses.bone_length_consistency_loss(clip_view(pred.joints)),
        "texture_consistency": lambda: losses.texture_consistency_loss(
            clip_view(_require(pred.texture, "texture", "texture_consistency", "texture")),
            clip_view(sample_weights()),
        ),
    }


def _active_terms(
    config: LossConfig,
    stage: str,
    supervision: Supervision,
    targets: _Targets,
    pred: HandPrediction,
) -> list[str]:
    active = config.active_terms(stage)
    if supervision != "full":
        active -= SUPERVISED_TERMS
    if pred.image_articulation is None:
        # only a network with the image pose head has something for it to teach
        active -= IMAGE_TERMS
    if targets.clip is None and active & VIDEO_TERMS:
        raise ValueError(
            f"stage {stage!r} uses the video terms {sorted(active & VIDEO_TERMS)}, which need a "
            "clip batch with (B, T) leading axes; use a clip dataset or config.without('motion')"
        )
    return [term for term in TERMS if term in active]


def _check_frames(pred: HandPrediction, targets: _Targets) -> None:
    frames = targets.image.shape[0]
    if pred.joints.shape[0] != frames:
        raise ValueError(
            f"the prediction has {pred.joints.shape[0]} frames but the batch has {frames} "
            "(a clip batch (B, T) needs a prediction for the B*T frames flattened)"
        )


def loss_terms(
    pred: HandPrediction,
    batch: HandSample,
    faces: Tensor,
    config: LossConfig,
    *,
    stage: str,
    render_settings: RenderSettings | None = None,
    supervision: Supervision = "self",
) -> dict[str, Tensor]:
    """Name -> () unweighted value of every term of `stage` with a positive weight, for one
    batch (arguments as `compute_losses`). No finiteness check, so no device sync: the fitter
    runs it under `torch.func.vmap`, one problem per slice."""
    if supervision not in SUPERVISIONS:
        raise ValueError(f"supervision must be one of {SUPERVISIONS}, got {supervision!r}")
    targets = _targets(batch, supervision)
    _check_frames(pred, targets)
    active = _active_terms(config, stage, supervision, targets, pred)

    rendered: list[RenderOutput] = []

    def render() -> RenderOutput:
        if not rendered:
            rendered.append(
                render_prediction(pred, faces, targets.K, targets.image, render_settings)
            )
        return rendered[0]

    functions = _term_functions(pred, batch, faces, config, targets, render)
    return {term: functions[term]() for term in active}


def compute_losses(
    pred: HandPrediction,
    batch: HandSample,
    faces: Tensor,
    config: LossConfig,
    *,
    stage: str,
    render_settings: RenderSettings | None = None,
    supervision: Supervision = "self",
) -> LossResult:
    """All terms of `stage` with a positive weight, for one batch.

    pred: prediction for the N frames of the batch (N = B, or B*T for a clip batch);
    faces: (F, 3) the hand model's triangles; stage: a key of `loss_config.STAGES`.
    The render (soft by default, at the batch's image size, over the input image) is done once,
    and only when a photometric/mean-colour term is active. Terms that come out NaN or inf are
    left out of the total and listed in `skipped`.
    """
    values = loss_terms(
        pred,
        batch,
        faces,
        config,
        stage=stage,
        render_settings=render_settings,
        supervision=supervision,
    )
    # one device sync for all the checks
    finite = torch.isfinite(torch.stack(list(values.values()))).tolist() if values else []
    total = pred.joints.new_zeros(())
    terms, unweighted, skipped = {}, {}, []
    for (term, value), ok in zip(values.items(), finite, strict=True):
        if not ok:
            skipped.append(term)
            continue
        terms[term] = config.weights[term] * value
        unweighted[term] = value.detach()
        total = total + terms[term]
    return LossResult(total, terms, unweighted, tuple(skipped))
