"""Fitting baseline: the hand model optimised to each image's (or clip's) 2D keypoints.

No network. Per sample, Adam with a cosine-decayed learning rate moves the PCA pose
coefficients, the global rotation, the betas, the camera scale and translation (with
`photometric`, also a per-vertex texture and the 11 lighting numbers). The objective is the
trainer's terms, `objective.loss_terms(..., supervision="self")`, so `batch.truth` is never
read; the fitting weights (`fit_loss_config`) keep keypoint reprojection, bone directions,
joint-angle limits and the scale and shape priors; clips (`fit_clips`) add the video terms.
Camera model, rotation parameterisations and projection are the network's (`model.py`), so a fit
and a network output are the same kind of `HandPrediction`. What a fit is asked is `fit_config`,
what it reads of a batch `fit_frames`.

Each sample (each clip) is its own problem: the optimised sum is sum_b of the objective of sample
b alone, so a fit does not depend on its batch-mates; torch.func.vmap scores all of them at once.

The start is closed-form (`fit_start.py`). Fitting 2D keypoints is ambiguous in depth and mirror
(palm or back towards the camera), so every start view in `FitConfig.views` is a restart, all
run together in one batch, and each problem keeps the restart with the lowest final loss.

Fallback: a frame with fewer than `MIN_CONFIDENT_KEYPOINTS` confident keypoints starts from the
network's initial camera (the mean hand on the optical axis at `INITIAL_DEPTH`), is marked
`fitted=False` and named in a warning (`FitConfig.warn_unfitted`). With no keypoint at all only
the priors act on it, so its translation stays where it started.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field, replace
from functools import partial

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from s2h_lib.data.sample import HandSample
from s2h_lib.fit.fit_config import FitConfig, default_hand_model
from s2h_lib.fit.fit_frames import Frames, problem_batches, read_batch
from s2h_lib.fit.fit_start import Start, closed_form_start, restart_rotations
from s2h_lib.hand.hand_model import ManoLayer
from s2h_lib.hand.mano_data import NUM_BETAS
from s2h_lib.hand.rotations import axis_angle_to_matrix, matrix_to_axis_angle, matrix_to_rotation_6d
from s2h_lib.losses.objective import loss_terms
from s2h_lib.net.camera_solve import MIN_CONFIDENT_KEYPOINTS
from s2h_lib.net.hand_in_camera import CameraPose, predict_from_camera, rotation_from_parameters
from s2h_lib.net.heads import INITIAL_LIGHTS, MEAN_SKIN_COLOUR
from s2h_lib.net.prediction import HandPrediction, Predictor

IMAGE_STAGE = "e2e"  # its terms with a positive fitting weight are the single-image objective
CLIP_STAGE = "video"  # e2e plus the clip terms
INITIAL_RESTART = "initial"  # the restart that starts from a given prediction


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


def select_frames(pred: HandPrediction, index: Tensor | slice | int) -> HandPrediction:
    """The frames `index` of a prediction (every tensor field indexed alike)."""
    return pred.map(lambda tensor: tensor[index])


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
    """sum over (restart, problem) of the loss terms of that problem alone."""

    problems: HandSample  # `problem_batches`: the U problems along the leading axis
    restarts: int  # R
    faces: Tensor
    config: FitConfig
    stage: str
    per_problem: int = field(init=False)  # T frames
    targets: list[Tensor] = field(init=False)  # image, K, keypoints, confidence: (R * U, ...)

    def __post_init__(self) -> None:
        shape = self.problems.batch_shape
        self.per_problem = shape[2] if len(shape) == 3 else 1
        problems = self.problems
        self.targets = [
            t.repeat(self.restarts, *[1] * (t.dim() - 1))
            for t in (problems.image, problems.K, problems.keypoints, problems.confidence)
        ]

    def __call__(self, pred: HandPrediction) -> Tensor:
        """(R * U,) the objective of each (restart, problem), restart-major; a term that comes
        out NaN or inf for a problem counts 0 there. All problems are scored at once under
        torch.func.vmap, except in photometric fits: vmap cannot batch the renderer."""
        frames = {
            name: value.reshape(-1, self.per_problem, *value.shape[1:])
            for name, value in vars(pred).items()
            if value is not None
        }
        if not self.config.photometric:
            return torch.func.vmap(self._problem)(frames, *self.targets)
        return torch.stack(
            [
                self._problem({k: v[i] for k, v in frames.items()}, *(t[i] for t in self.targets))
                for i in range(self.targets[0].shape[0])
            ]
        )

    def _problem(
        self,
        frames: dict[str, Tensor],
        image: Tensor,
        K: Tensor,
        keypoints: Tensor,
        confidence: Tensor,
    ) -> Tensor:
        """() the weighted sum of the finite terms of one problem: its T frames' prediction
        fields, and its (1, ...) or (1, T, ...) batch."""
        losses = self.config.losses
        values = loss_terms(
            HandPrediction(**frames),
            HandSample(image=image, K=K, keypoints=keypoints, confidence=confidence),
            self.faces,
            losses,
            stage=self.stage,
            render_settings=self.config.render,
            supervision="self",
        )
        total = frames["joints"].new_zeros(())
        for term, value in values.items():
            total = total + losses.weights[term] * torch.where(value.isfinite(), value, 0.0)
        return total


def mean_hand(hand_model: ManoLayer, like: Tensor) -> tuple[Tensor, Tensor]:
    """Joints (21, 3) and vertex centroid (3,) of the mean pose and shape, model frame."""
    with torch.no_grad():
        verts, joints = hand_model(like.new_zeros(1, 3 + hand_model.ncomps))
    return joints[0], verts[0].mean(0)


def _warn_unfitted(frames: Frames, usable: Tensor) -> None:
    if bool(usable.all()):
        return
    names = [frames.names[i] for i in (~usable).nonzero().flatten().tolist()]
    warnings.warn(
        f"{len(names)} frame(s) have fewer than {MIN_CONFIDENT_KEYPOINTS} confident keypoints; "
        "only the priors act on them (their start: the given one, else the network's initial "
        f"camera) and they are marked fitted=False: "
        f"{names[:10]}",
        stacklevel=4,
    )


def _start(
    frames: Frames, config: FitConfig, hand_model: ManoLayer, initial: HandPrediction | None
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
    frames: Frames,
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
    if config.warn_unfitted:
        _warn_unfitted(frames, start.usable)
    colours = hand_model.num_verts if config.photometric else 0
    unknowns = _Unknowns(start, hand_model.ncomps, config.rotation, colours)
    groups = unknowns.param_groups(config.lr, config.lr * config.camera_lr_factor)
    optimizer = torch.optim.Adam(groups)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, partial(_cosine_decay, config))
    stage = CLIP_STAGE if frames.per_problem > 1 else IMAGE_STAGE
    objective = _Objective(problem_batches(frames), len(names), hand_model.faces, config, stage)
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
    frames: Frames,
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
    return FitResult(
        prediction=select_frames(pred, frame_index).map(Tensor.detach),
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
    return _fit(read_batch(batch, clips=False), config, hand_model, initial)


def fit_clips(
    batch: HandSample, config: FitConfig | None = None, hand_model: ManoLayer | None = None
) -> FitResult:
    """Fit each clip of `batch` (images (B, T, 3, H, W), ...) jointly over its T frames: the
    single-image objective plus the video terms (motion smoothness, 2D motion, shape and bone
    length consistency). The prediction holds the B*T frames, frame-major within a clip."""
    config = config or FitConfig()
    frames = read_batch(batch, clips=True)
    if frames.per_problem < 2:
        raise ValueError("a clip needs at least 2 frames; fit single images with fit_batch")
    return _fit(frames, config, hand_model)


def fit_predictor(
    config: FitConfig | None = None,
    hand_model: ManoLayer | None = None,
    device: torch.device | str | None = None,
) -> Predictor:
    """The fitter as a function of a batch, e.g. for `eval_model.evaluate_predictor`; it fits on
    `device` (None: the batch's own). It names no unfitted frames in a warning: an evaluation
    scores the images without a detected hand as their own group."""
    config = replace(config or FitConfig(), warn_unfitted=False)
    model = default_hand_model(config) if hand_model is None else hand_model

    def predict(batch: HandSample) -> HandPrediction:
        return fit_batch(batch if device is None else batch.to(device), config, model).prediction

    return predict
