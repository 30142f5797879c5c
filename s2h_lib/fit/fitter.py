"""Fitting baseline: the hand model optimised to each image's (or clip's) 2D keypoints.

No network. Per sample, Adam with a cosine-decayed learning rate moves the PCA pose
coefficients, the global rotation, the betas, the camera scale and translation (with
`photometric`, also a per-vertex texture and the 11 lighting numbers). The objective is the
trainer's own, `objective.compute_losses(..., supervision="self")`, so `batch.truth` is never
read; the fitting weights (`fit_loss_config`) keep keypoint reprojection, bone directions,
joint-angle limits and the scale and shape priors; clips (`fit_clips`) add the video terms.
Camera model, rotation parameterisations and projection are the network's (`model.py`), so a fit
and a network output are the same kind of `HandPrediction`.

Each sample (each clip) is its own problem: the optimised sum is sum_b compute_losses(sample b),
so a fit does not depend on its batch-mates.

The start is closed-form (`fit_start.py`). Fitting 2D keypoints is ambiguous in depth and mirror
(palm or back towards the camera), so every start view in `FitConfig.views` is a restart, all
run together in one batch, and each problem keeps the restart with the lowest final loss.

Fallback: a frame with fewer than `MIN_CONFIDENT_KEYPOINTS` confident keypoints starts from the
network's initial camera (the mean hand on the optical axis at `INITIAL_DEPTH`), is marked
`fitted=False` and named in a warning. With no keypoint at all only the priors act on it, so its
translation stays where it started.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, replace
from functools import partial
from typing import Literal

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from s2h_lib.data.sample import HandSample
from s2h_lib.fit.fit_start import (
    Start,
    closed_form_start,
    restart_rotations,
)
from s2h_lib.hand.hand_model import ManoLayer
from s2h_lib.hand.mano_data import NUM_BETAS
from s2h_lib.hand.rotations import (
    axis_angle_to_matrix,
    matrix_to_axis_angle,
    matrix_to_rotation_6d,
)
from s2h_lib.hand.skeleton import NUM_KEYPOINTS
from s2h_lib.losses.loss_config import LossConfig
from s2h_lib.losses.objective import compute_losses
from s2h_lib.net.camera_solve import MIN_CONFIDENT_KEYPOINTS, VIEWS
from s2h_lib.net.hand_in_camera import (
    ROTATION_SIZES,
    CameraPose,
    network_hand_model,
    predict_from_camera,
    rotation_from_parameters,
)
from s2h_lib.net.heads import INITIAL_LIGHTS, MEAN_SKIN_COLOUR
from s2h_lib.net.prediction import HandPrediction, Predictor
from s2h_lib.render import RenderSettings

IMAGE_STAGE = "e2e"  # its terms with a positive fitting weight are the single-image objective
CLIP_STAGE = "video"  # e2e plus the clip terms
# The method notes' test-time refinement (section 5) scales the training weights: bone
# direction x 0.2, angle limits x 3. The Laplacian is off as there (the hand model's surface is
# smooth already). There is no 2D branch, and the appearance terms need `photometric`.
FIT_WEIGHTS = {"bone_direction": 0.02, "joint_limits": 0.3, "laplacian": 0.0}
NO_NETWORK_TERMS = ("branch2d",)
INITIAL_RESTART = "initial"  # the restart that starts from a given prediction
APPEARANCE_TERMS = ("texture",)


def fit_loss_config(photometric: bool = False) -> LossConfig:
    """The fitting weights: `FIT_WEIGHTS` over the training defaults, no 2D-branch terms, and
    the appearance terms (photometric L1, mean colour, texture outliers and consistency) only
    when `photometric`."""
    off = NO_NETWORK_TERMS if photometric else NO_NETWORK_TERMS + APPEARANCE_TERMS
    return LossConfig(weights=FIT_WEIGHTS).without(*off)


@dataclass
class FitConfig:
    """How `fit_batch` / `fit_clips` optimise.

    steps: Adam steps. lr: learning rate of pose, rotation, betas (texture, lights), decayed by a
    cosine to lr * final_lr_fraction; the translation (metres) and scale get lr *
    camera_lr_factor, as their start is solved rather than guessed.
    loss: the term weights; None means `fit_loss_config(photometric)`.
    rotation: "rot6d" or "axisang", the network's global rotation parameterisations.
    views: the restarts, names of `camera_solve.VIEWS`; random_restarts: that many more, from
    rotations drawn with `seed`. Every restart costs a full fit.
    photometric: also fit a per-vertex texture and the lighting to the image (slow on CPU);
    render: the renderer of those terms (None: soft, at the image's size).
    ncomps, side, mano_root: the hand model `default_hand_model` builds.
    progress: a tqdm bar over the steps.
    """

    steps: int = 200
    lr: float = 0.05
    final_lr_fraction: float = 0.05
    camera_lr_factor: float = 0.1
    loss: LossConfig | None = None
    rotation: Literal["rot6d", "axisang"] = "rot6d"
    views: tuple[str, ...] = ("palm", "back", "thumb_side")
    random_restarts: int = 0
    seed: int = 0
    photometric: bool = False
    render: RenderSettings | None = None
    ncomps: int = 30
    side: Literal["right", "left"] = "right"
    mano_root: str | None = None
    progress: bool = False

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ValueError(f"steps must be >= 1, got {self.steps}")
        if not (self.lr > 0 and self.camera_lr_factor > 0 and 0 < self.final_lr_fraction <= 1):
            raise ValueError(
                "need lr > 0, camera_lr_factor > 0 and 0 < final_lr_fraction <= 1, got "
                f"{self.lr}, {self.camera_lr_factor}, {self.final_lr_fraction}"
            )
        if self.rotation not in ROTATION_SIZES:
            raise ValueError(f"rotation must be one of {tuple(ROTATION_SIZES)}")
        unknown = [view for view in self.views if view not in VIEWS]
        if unknown:
            raise ValueError(f"unknown views {unknown}; known: {list(VIEWS)}")
        if self.random_restarts < 0:
            raise ValueError(f"random_restarts must be >= 0, got {self.random_restarts}")

    @property
    def losses(self) -> LossConfig:
        """The loss config in use."""
        return self.loss if self.loss is not None else fit_loss_config(self.photometric)

    @property
    def restart_names(self) -> list[str]:
        """The restarts' names, in the order they run: the views, then "random0", ..."""
        return [*self.views, *(f"random{i}" for i in range(self.random_restarts))]


@dataclass
class FitResult:
    """What a fit returns. U problems: B samples (`fit_batch`) or B clips (`fit_clips`).

    prediction: the chosen restarts' `HandPrediction` of all N frames (N = B, or B*T frame-major
        within each clip as the trainer flattens clips), detached.
    loss: (U,) the final objective of each problem.
    history: (steps, U) the objective before each step, of the chosen restarts.
    restart: (U) the chosen restart's name per problem (`FitConfig.restart_names`).
    fitted: (N,) bool, False for frames with fewer than `MIN_CONFIDENT_KEYPOINTS` confident
        keypoints (the module docstring's fallback).
    """

    prediction: HandPrediction
    loss: Tensor
    history: Tensor
    restart: list[str]
    fitted: Tensor


def default_hand_model(config: FitConfig) -> ManoLayer:
    """The hand model as the network builds it: PCA pose plus the hand mean, metres."""
    return network_hand_model(config.ncomps, config.side, config.mano_root)


def select_frames(pred: HandPrediction, index: Tensor | slice | int) -> HandPrediction:
    """The frames `index` of a prediction (every tensor field indexed alike)."""
    fields = vars(pred).items()
    return HandPrediction(**{k: None if v is None else v[index] for k, v in fields})


# ---- inputs -------------------------------------------------------------------------------


@dataclass
class _Frames:
    """What the fit reads of a batch, frames flattened: N = U * T (T = 1 for single images)."""

    image: Tensor  # (N, 3, H, W)
    K: Tensor  # (N, 3, 3)
    keypoints: Tensor  # (N, 21, 2)
    confidence: Tensor  # (N, 21)
    names: list[str]  # (N)
    per_problem: int  # T

    @property
    def problems(self) -> int:
        return self.K.shape[0] // self.per_problem


def _flatten_names(name: object) -> list[str]:
    if isinstance(name, (list, tuple)):
        return [n for item in name for n in _flatten_names(item)]
    return [str(name)]


def _frame_names(name: object, problems: int, per_problem: int) -> list[str]:
    """One name per frame: the batch's own, clip names with the frame number appended, or
    frame indices when the batch's names do not fit."""
    flat = _flatten_names(name)
    if len(flat) == problems * per_problem:
        return flat
    if len(flat) == problems:
        return [f"{clip}[{t}]" for clip in flat for t in range(per_problem)]
    return [str(i) for i in range(problems * per_problem)]


def _check_values(frames: _Frames) -> None:
    """ValueError naming the frames with non-finite keypoints or K, or confidences outside
    [0, 1] (NaN included)."""
    problems = {
        "keypoints contain NaN or inf (give a missing joint confidence 0 and any finite "
        "position)": ~torch.isfinite(frames.keypoints).all(-1).all(-1),
        "confidences are NaN or outside [0, 1]": ~(
            (frames.confidence >= 0) & (frames.confidence <= 1)
        ).all(-1),
        "K contains NaN or inf": ~torch.isfinite(frames.K).all(-1).all(-1),
    }
    for problem, bad in problems.items():
        if bool(bad.any()):
            names = [frames.names[i] for i in bad.nonzero().flatten().tolist()]
            raise ValueError(f"cannot fit: {problem} in frame(s) {names[:10]}")


def _read_batch(batch: HandSample, clips: bool) -> _Frames:
    """Image, K, keypoints and confidence of `batch`, checked; `batch.truth` is not touched."""
    leading = 2 if clips else 1
    if batch.image.dim() != leading + 3:
        layout = "(B, T, 3, H, W)" if clips else "(B, 3, H, W)"
        hint = " (a clip batch: use fit_clips)" if batch.image.dim() == 5 else ""
        raise ValueError(f"batch.image must be {layout}, got {tuple(batch.image.shape)}{hint}")
    shape = tuple(batch.image.shape[:leading])
    trailing = {"K": (3, 3), "keypoints": (NUM_KEYPOINTS, 2), "confidence": (NUM_KEYPOINTS,)}
    for name, tail in trailing.items():
        value = getattr(batch, name)
        if tuple(value.shape) != shape + tail:
            raise ValueError(f"batch.{name} must be {shape + tail}, got {tuple(value.shape)}")
    per_problem = shape[1] if clips else 1
    frames = _Frames(
        image=batch.image.reshape(-1, *batch.image.shape[leading:]),
        K=batch.K.reshape(-1, 3, 3).float(),
        keypoints=batch.keypoints.reshape(-1, NUM_KEYPOINTS, 2).float(),
        confidence=batch.confidence.reshape(-1, NUM_KEYPOINTS).float(),
        names=_frame_names(batch.name, shape[0], per_problem),
        per_problem=per_problem,
    )
    _check_values(frames)
    return frames


def _problem_samples(frames: _Frames) -> list[HandSample]:
    """One batch per problem, as `compute_losses` reads it: (1, ...) or a (1, T, ...) clip."""
    T = frames.per_problem
    leading = (1, T) if T > 1 else (1,)

    def part(tensor: Tensor, u: int) -> Tensor:
        return tensor[u * T : (u + 1) * T].reshape(*leading, *tensor.shape[1:])

    return [
        HandSample(
            image=part(frames.image, u),
            K=part(frames.K, u),
            keypoints=part(frames.keypoints, u),
            confidence=part(frames.confidence, u),
            name=frames.names[u * T],
        )
        for u in range(frames.problems)
    ]


def _check_hand_model(hand_model: ManoLayer) -> None:
    """The fit passes a zero axis-angle root and PCA coefficients and works in metres."""
    wanted = {"use_pca": True, "units": "m", "root_rot_mode": "axisang", "center_idx": None}
    wrong = {k: getattr(hand_model, k) for k, v in wanted.items() if getattr(hand_model, k) != v}
    if wrong:
        raise ValueError(f"the fit needs a ManoLayer with {wanted}; this one has {wrong}")


# ---- unknowns and the prediction they make ------------------------------------------------


class _Unknowns(nn.Module):
    """The optimised parameters of M (restart, frame) pairs, from their start."""

    def __init__(self, start: Start, ncomps: int, rotation_mode: str, colours: int) -> None:
        super().__init__()
        M, like = start.scale.shape[0], start.scale
        self.rotation_mode = rotation_mode
        pose = start.pose_coeffs if start.pose_coeffs is not None else like.new_zeros(M, ncomps)
        betas = start.betas if start.betas is not None else like.new_zeros(M, NUM_BETAS)
        self.pose_coeffs = nn.Parameter(pose.clone())
        self.betas = nn.Parameter(betas.clone())
        if rotation_mode == "rot6d":
            self.rotation = nn.Parameter(matrix_to_rotation_6d(start.rotation))
        else:
            self.rotation = nn.Parameter(matrix_to_axis_angle(start.rotation))
        self.scale = nn.Parameter(start.scale.clone())
        self.trans = nn.Parameter(start.trans.clone())
        self.texture_raw = self.lights = None
        if colours:
            skin = torch.logit(like.new_tensor(MEAN_SKIN_COLOUR))
            self.texture_raw = nn.Parameter(skin.expand(M, colours, 3).clone())
            self.lights = nn.Parameter(like.new_tensor(INITIAL_LIGHTS).expand(M, -1).clone())

    def camera(self) -> CameraPose:
        # the root angle is reported only (no loss reads it), so its gradient is left out
        rotation, global_rot = rotation_from_parameters(
            self.rotation, self.rotation_mode, angle_gradient=False
        )
        return CameraPose(
            pose_coeffs=self.pose_coeffs,
            betas=self.betas,
            rotation=rotation,
            global_rot=global_rot,
            scale=self.scale,
            trans=self.trans,
        )

    def param_groups(self, lr: float, camera_lr: float) -> list[dict]:
        shape = [self.pose_coeffs, self.betas, self.rotation]
        appearance = [] if self.texture_raw is None else [self.texture_raw, self.lights]
        camera = [self.scale, self.trans]
        return [{"params": shape + appearance, "lr": lr}, {"params": camera, "lr": camera_lr}]

    def predict(self, hand_model: ManoLayer, K: Tensor) -> HandPrediction:
        pred = predict_from_camera(self.camera(), hand_model, K)
        if self.texture_raw is None:
            return pred
        texture = torch.sigmoid(self.texture_raw)
        return replace(pred, texture=texture, texture_raw=self.texture_raw, lights=self.lights)


# ---- the fit ------------------------------------------------------------------------------


@dataclass
class _Objective:
    """sum over (restart, problem) of compute_losses on that problem alone."""

    samples: list[HandSample]
    per_problem: int  # T frames each
    faces: Tensor
    config: FitConfig
    stage: str

    def __call__(self, pred: HandPrediction) -> Tensor:
        """(R * U,) the objective of each (restart, problem), restart-major."""
        T = self.per_problem
        totals = [
            compute_losses(
                select_frames(pred, slice(i * T, (i + 1) * T)),
                self.samples[i % len(self.samples)],
                self.faces,
                self.config.losses,
                stage=self.stage,
                render_settings=self.config.render,
                supervision="self",
            ).total
            for i in range(pred.joints.shape[0] // T)
        ]
        return torch.stack(totals)


def mean_hand(hand_model: ManoLayer, like: Tensor) -> tuple[Tensor, Tensor]:
    """Joints (21, 3) and vertex centroid (3,) of the mean pose and shape, model frame."""
    with torch.no_grad():
        verts, joints = hand_model(like.new_zeros(1, 3 + hand_model.ncomps))
    return joints[0], verts[0].mean(0)


def _warn_unfitted(frames: _Frames, usable: Tensor) -> None:
    if bool(usable.all()):
        return
    names = [frames.names[i] for i in (~usable).nonzero().flatten().tolist()]
    warnings.warn(
        f"{len(names)} frame(s) have fewer than {MIN_CONFIDENT_KEYPOINTS} confident keypoints; "
        f"they start from the network's initial camera and are marked fitted=False: "
        f"{names[:10]}",
        stacklevel=4,
    )


def _start(
    frames: _Frames, config: FitConfig, hand_model: ManoLayer, initial: HandPrediction | None
) -> Start:
    """The closed-form start of every restart view, then `initial` (one more restart) if given."""
    rest_joints, rest_centroid = mean_hand(hand_model, frames.K)
    views = restart_rotations(config.views, config.random_restarts, config.seed, hand_model.side)
    start = closed_form_start(
        frames.keypoints,
        frames.confidence,
        frames.K,
        views.to(frames.K),
        rest_joints,
        rest_centroid,
        config.losses.reference_bone_m,
    )
    return start if initial is None else _with_initial(start, initial, hand_model.ncomps)


def _with_initial(start: Start, initial: HandPrediction, ncomps: int) -> Start:
    """`start` plus a last restart at `initial`'s pose, shape and camera (N frames)."""
    views = start.scale.shape[0]
    return Start(
        rotation=torch.cat([start.rotation, axis_angle_to_matrix(initial.global_rot.detach())]),
        scale=torch.cat([start.scale, initial.scale.detach().reshape(-1)]),
        trans=torch.cat([start.trans, initial.trans.detach()]),
        usable=start.usable,
        pose_coeffs=torch.cat([start.scale.new_zeros(views, ncomps), initial.pose_coeffs.detach()]),
        betas=torch.cat([start.scale.new_zeros(views, NUM_BETAS), initial.betas.detach()]),
    )


def _cosine_decay(config: FitConfig, step: int) -> float:
    """The factor on every group's learning rate: 1 at the start, a half cosine down to
    `final_lr_fraction` at the last step."""
    final = config.final_lr_fraction
    return final + (1.0 - final) * 0.5 * (1.0 + math.cos(math.pi * step / config.steps))


def _fit(
    frames: _Frames,
    config: FitConfig,
    hand_model: ManoLayer | None,
    initial: HandPrediction | None = None,
) -> FitResult:
    if hand_model is None:
        hand_model = default_hand_model(config)
    hand_model = hand_model.to(frames.K.device)
    _check_hand_model(hand_model)
    start = _start(frames, config, hand_model, initial)
    names = config.restart_names + ([INITIAL_RESTART] if initial is not None else [])
    if not names:
        raise ValueError("need at least one restart: a view, random_restarts >= 1 or initial")
    _warn_unfitted(frames, start.usable)
    colours = hand_model.num_verts if config.photometric else 0
    unknowns = _Unknowns(start, hand_model.ncomps, config.rotation, colours)
    groups = unknowns.param_groups(config.lr, config.lr * config.camera_lr_factor)
    optimizer = torch.optim.Adam(groups)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, partial(_cosine_decay, config))
    stage = CLIP_STAGE if frames.per_problem > 1 else IMAGE_STAGE
    objective = _Objective(
        _problem_samples(frames), frames.per_problem, hand_model.faces, config, stage
    )
    K = frames.K.repeat(len(names), 1, 1)
    history = []
    steps = tqdm(
        range(config.steps), desc="fit", unit="step", disable=not config.progress, leave=False
    )
    for _ in steps:
        optimizer.zero_grad(set_to_none=True)
        losses = objective(unknowns.predict(hand_model, K))
        losses.sum().backward()
        optimizer.step()
        schedule.step()
        history.append(losses.detach())
    with torch.no_grad():
        pred = unknowns.predict(hand_model, K)
        final = objective(pred)
    return _keep_best(pred, final, torch.stack(history), frames, names, start.usable)


def _keep_best(
    pred: HandPrediction,
    final: Tensor,
    history: Tensor,
    frames: _Frames,
    names: list[str],
    usable: Tensor,
) -> FitResult:
    """Each problem's restart with the lowest final objective (a non-finite one never wins);
    `names` are the restarts'."""
    U, T = frames.problems, frames.per_problem
    per_restart = final.reshape(-1, U)
    best = torch.nan_to_num(per_restart, nan=math.inf).argmin(dim=0)
    problems = torch.arange(U, device=best.device)
    first_frame = (best * U + problems) * T
    frame_index = (first_frame[:, None] + torch.arange(T, device=best.device)).flatten()
    chosen = select_frames(pred, frame_index)
    fields = vars(chosen).items()
    return FitResult(
        prediction=HandPrediction(**{k: None if v is None else v.detach() for k, v in fields}),
        loss=per_restart[best, problems],
        history=history.reshape(history.shape[0], -1, U)[:, best, problems],
        restart=[names[i] for i in best.tolist()],
        fitted=usable,
    )


def fit_batch(
    batch: HandSample,
    config: FitConfig | None = None,
    hand_model: ManoLayer | None = None,
    initial: HandPrediction | None = None,
) -> FitResult:
    """Fit the hand model to each image of `batch`: images (B, 3, H, W), K (B, 3, 3),
    keypoints (B, 21, 2), confidence (B, 21); `batch.truth` is never read.

    hand_model: None builds `default_hand_model(config)`; a given one is moved to the batch's
    device. initial: a prediction of the B images (e.g. the network's) that starts one more
    restart, named INITIAL_RESTART. Raises ValueError for malformed or non-finite inputs
    (naming the frames).
    """
    config = config or FitConfig()
    return _fit(_read_batch(batch, clips=False), config, hand_model, initial)


def fit_clips(
    batch: HandSample, config: FitConfig | None = None, hand_model: ManoLayer | None = None
) -> FitResult:
    """Fit each clip of `batch` (images (B, T, 3, H, W), ...) jointly over its T frames: the
    single-image objective plus the video terms (motion smoothness, 2D motion, shape and bone
    length consistency). The prediction holds the B*T frames, frame-major within a clip."""
    config = config or FitConfig()
    frames = _read_batch(batch, clips=True)
    if frames.per_problem < 2:
        raise ValueError("a clip needs at least 2 frames; fit single images with fit_batch")
    return _fit(frames, config, hand_model)


def fit_predictor(
    config: FitConfig | None = None, hand_model: ManoLayer | None = None
) -> Predictor:
    """The fitter as a function of a batch, e.g. for `eval_model.evaluate_predictor`."""
    config = config or FitConfig()
    model = default_hand_model(config) if hand_model is None else hand_model

    def predict(batch: HandSample) -> HandPrediction:
        return fit_batch(batch, config, model).prediction

    return predict
