"""The fitting baseline: synthetic targets with known parameters, restarts, clips, bad input, the
left-hand mirror, the evaluation hook and `s2h fit` on a real photo."""

from __future__ import annotations

import json
import math
import shutil
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import Dataset

from s2h_lib.cli import main
from s2h_lib.data.sample import HandSample, HandTruth
from s2h_lib.evaluation.alignment import procrustes_align_batch
from s2h_lib.evaluation.eval_model import evaluate_predictor
from s2h_lib.fit.fit_config import FitConfig, default_hand_model, fit_loss_config
from s2h_lib.fit.fit_start import closed_form_start, restart_rotations
from s2h_lib.fit.fitter import INITIAL_RESTART, fit_batch, fit_clips, fit_predictor, select_frames
from s2h_lib.fit.refine import refine_batch
from s2h_lib.hand.hand_model import ManoLayer
from s2h_lib.hand.rotations import axis_angle_to_matrix, matrix_to_axis_angle, mirror_axis_angle
from s2h_lib.hand.skeleton import middle_proximal_length
from s2h_lib.losses.objective import compute_losses, render_prediction
from s2h_lib.net.camera_solve import about_axis
from s2h_lib.net.hand_in_camera import CameraPose, predict_from_camera
from s2h_lib.net.heads import INITIAL_LIGHTS, MEAN_SKIN_COLOUR
from s2h_lib.net.initial_pose import INITIAL_DEPTH, initial_rotation
from s2h_lib.net.mirror import mirror_prediction, mirror_sample
from s2h_lib.net.model import HandNet
from s2h_lib.net.model_config import ModelConfig
from s2h_lib.paths import SAMPLE_PHOTOS_DIR as PHOTOS
from s2h_lib.render import RenderSettings, render_mesh

SIZE = 96  # crop pixels: small, the fit only reads keypoints unless photometric
FOCAL = 1.5 * SIZE
DEPTH = 0.45
FOUR_FINGERS_PHOTO = "four_077fa4bf-a99e-496b-b895-709afc614eec.jpg"


class ForbiddenTruth:
    """A stand-in for `HandTruth` that fails the test on any attribute access."""

    def __getattribute__(self, name: str):
        raise AssertionError(f"the fitter read batch.truth.{name}")


@pytest.fixture(scope="module")
def hand_model() -> ManoLayer:
    return default_hand_model(FitConfig())


def intrinsics(count: int, size: int = SIZE) -> torch.Tensor:
    centre, focal = (size - 1) / 2, 1.5 * size
    K = torch.tensor([[focal, 0.0, centre], [0.0, focal, centre], [0.0, 0.0, 1.0]])
    return K.expand(count, 3, 3).clone()


def pose_hands(
    model: ManoLayer, pose: torch.Tensor, tilt: torch.Tensor, shift: torch.Tensor, size: int = SIZE
):
    """Joints, verts and 2D keypoints of hands posed by PCA coefficients (N, 30), turned by
    axis-angle `tilt` (N, 3) away from the palm view and moved by `shift` (N, 3) from
    (0, 0, DEPTH), written here without the fitter's code: X = R X_model + t, u = K X / Z."""
    N = pose.shape[0]
    with torch.no_grad():
        verts, joints = model(torch.cat([torch.zeros(N, 3), pose], dim=1))
    R = axis_angle_to_matrix(tilt) @ initial_rotation("right")
    centre = joints.mean(1, keepdim=True) @ R.transpose(-1, -2)
    t = torch.tensor([0.0, 0.0, DEPTH]) + shift - centre[:, 0]
    joints = joints @ R.transpose(-1, -2) + t[:, None]
    verts = verts @ R.transpose(-1, -2) + t[:, None]
    pixels = joints @ intrinsics(N, size).transpose(-1, -2)
    return joints, verts, pixels[..., :2] / pixels[..., 2:]


def synthetic_batch(
    model: ManoLayer, count: int, seed: int, tilt_deg: float = 30.0, size: int = SIZE
):
    """A batch of `count` images of known hands (2D keypoints with confidence 1) and their
    true 3D joints and verts."""
    generator = torch.Generator().manual_seed(seed)
    pose = 0.8 * torch.randn(count, 30, generator=generator)
    axis = torch.nn.functional.normalize(torch.randn(count, 3, generator=generator), dim=-1)
    tilt = axis * math.radians(tilt_deg) * torch.rand(count, 1, generator=generator)
    shift = 0.02 * torch.randn(count, 3, generator=generator)
    joints, verts, keypoints = pose_hands(model, pose, tilt, shift, size)
    batch = HandSample(
        image=torch.zeros(count, 3, size, size),
        K=intrinsics(count, size),
        keypoints=keypoints,
        confidence=torch.ones(count, 21),
        name=[f"hand{i}" for i in range(count)],
    )
    return batch, joints, verts


def pa_mpjpe_mm(pred: torch.Tensor, true: torch.Tensor) -> np.ndarray:
    aligned = procrustes_align_batch(pred.double().numpy(), true.double().numpy())
    return np.linalg.norm(aligned - true.numpy(), axis=-1).mean(-1) * 1000


def keypoint_error_px(pred_keypoints: torch.Tensor, keypoints: torch.Tensor) -> torch.Tensor:
    return (pred_keypoints - keypoints).norm(dim=-1).mean(-1)


# ---- single images ------------------------------------------------------------------------


def test_fit_reprojects_the_keypoints_and_beats_the_mean_pose_in_3d(hand_model):
    batch, true_joints, _ = synthetic_batch(hand_model, count=3, seed=0)
    result = fit_batch(batch, FitConfig(steps=120, views=("palm",)), hand_model)
    pred = result.prediction
    assert keypoint_error_px(pred.keypoints2d, batch.keypoints).max() < 2.0
    assert (result.history[-1] < 0.05 * result.history[0]).all(), "the loss fell"
    # the loss after the last step: near the optimum Adam still moves by about its learning
    # rate, so it may sit a little above the last recorded one (a stale start would be 20x)
    assert (result.loss <= 1.05 * result.history[-1]).all(), "the final loss is after the last step"
    mean_pose = torch.zeros(3, 30)
    mean_joints, _, _ = pose_hands(hand_model, mean_pose, torch.zeros(3, 3), torch.zeros(3, 3))
    fitted, baseline = pa_mpjpe_mm(pred.joints, true_joints), pa_mpjpe_mm(mean_joints, true_joints)
    assert fitted.mean() < 0.5 * baseline.mean(), (fitted, baseline)
    assert result.fitted.all() and result.restart == ["palm"] * 3


def test_fit_never_reads_the_truth(hand_model):
    batch, _, _ = synthetic_batch(hand_model, count=2, seed=1)
    guarded = replace(batch, truth=ForbiddenTruth())
    with pytest.raises(AssertionError, match=r"read batch\.truth\.joints3d"):
        guarded.truth.joints3d  # noqa: B018 - the sentinel works
    config = FitConfig(steps=3, views=("palm",))
    fit_batch(guarded, config, hand_model)
    fit_predictor(config, hand_model)(guarded)
    clip = replace(
        guarded,
        image=batch.image[None],
        K=batch.K[None],
        keypoints=batch.keypoints[None],
        confidence=batch.confidence[None],
    )
    fit_clips(clip, config, hand_model)


def test_a_sample_fits_the_same_alone_or_in_a_batch(hand_model):
    batch, _, _ = synthetic_batch(hand_model, count=2, seed=2)
    config = FitConfig(steps=40, views=("palm",))
    together = fit_batch(batch, config, hand_model)
    alone = fit_batch(
        replace(
            batch,
            image=batch.image[1:],
            K=batch.K[1:],
            keypoints=batch.keypoints[1:],
            confidence=batch.confidence[1:],
            name=["hand1"],
        ),
        config,
        hand_model,
    )
    torch.testing.assert_close(
        together.prediction.joints[1:], alone.prediction.joints, atol=1e-5, rtol=0
    )
    torch.testing.assert_close(together.loss[1:], alone.loss, rtol=1e-4, atol=1e-9)


def turned_away_hands(model: ManoLayer):
    """Two hands, the first shown from the back, the second nearly palm-on: their PCA pose
    (2, 30), axis-angle tilt (2, 3), true joints and a batch of their exact keypoints. Starting
    palm-first and back-first ends the first hand's fit in different places."""
    generator = torch.Generator().manual_seed(3)
    pose = 0.5 * torch.randn(2, 30, generator=generator)
    tilt = torch.tensor([[0.0, math.pi * 0.9, 0.0], [0.0, 0.3, 0.0]])
    joints, _, keypoints = pose_hands(model, pose, tilt, torch.zeros(2, 3))
    batch = HandSample(torch.zeros(2, 3, SIZE, SIZE), intrinsics(2), keypoints, torch.ones(2, 21))
    return pose, tilt, joints, batch


def test_restarts_keep_the_lowest_final_loss(hand_model):
    _, _, _, batch = turned_away_hands(hand_model)
    config = FitConfig(steps=40, views=("palm", "back"))
    both = fit_batch(batch, config, hand_model)
    single = {
        view: fit_batch(batch, replace(config, views=(view,)), hand_model).loss
        for view in ("palm", "back")
    }
    losses = torch.stack([single["palm"], single["back"]])
    torch.testing.assert_close(both.loss, losses.min(0).values, rtol=1e-3, atol=1e-9)
    assert both.restart == [("palm", "back")[i] for i in losses.argmin(0).tolist()]
    assert both.restart[0] == "back", "the hand turned away is found from the back view"


def test_a_given_prediction_is_one_more_restart(hand_model):
    # the palm view alone ends the turned-away hand in the wrong basin, the true start does not
    pose, tilt, joints, batch = turned_away_hands(hand_model)
    rotation = axis_angle_to_matrix(tilt) @ initial_rotation("right")
    with torch.no_grad():
        _, model_joints = hand_model(torch.cat([torch.zeros(2, 3), pose], dim=1))
    trans = joints[:, 0] - (model_joints[:, 0:1] @ rotation.transpose(-1, -2))[:, 0]
    global_rot = matrix_to_axis_angle(rotation)
    truth = CameraPose(pose, torch.zeros(2, 10), rotation, global_rot, torch.ones(2), trans)
    initial = predict_from_camera(truth, hand_model, batch.K)
    config = FitConfig(steps=30, views=("palm",))
    result = fit_batch(batch, config, hand_model, initial=initial)
    assert result.restart[0] == INITIAL_RESTART
    assert result.history[0, 0] < 1e-3, "the true start already reprojects onto the keypoints"
    assert pa_mpjpe_mm(result.prediction.joints, joints)[0] < 1.0
    alone = fit_batch(batch, config, hand_model)
    assert alone.restart == ["palm", "palm"] and (result.loss <= alone.loss + 1e-6).all()


def test_refinement_fits_the_networks_own_2d_branch(hand_model):
    torch.manual_seed(0)
    model = HandNet(ModelConfig(num_stacks=1, keypoint_features=8, hourglass_depth=1)).eval()
    batch, _, _ = synthetic_batch(hand_model, count=2, seed=6, size=64)
    # neither the detector keypoints nor the truth may be read
    batch = replace(
        batch, keypoints=torch.full_like(batch.keypoints, math.nan), truth=ForbiddenTruth()
    )
    with torch.no_grad():
        network = model(batch.image, batch.K)
    targets = network.heatmap_keypoints[:, -1]
    result = refine_batch(model, batch, FitConfig(steps=60, views=("palm", "back")))
    refined = keypoint_error_px(result.prediction.keypoints2d, targets)
    assert (refined < keypoint_error_px(network.keypoints2d, targets)).all()
    assert set(result.restart) <= {"palm", "back", INITIAL_RESTART}


def test_refinement_needs_a_2d_branch():
    model = HandNet(ModelConfig(keypoint_branch=False)).eval()
    batch = HandSample(
        torch.zeros(1, 3, 64, 64), intrinsics(1, 64), torch.zeros(1, 21, 2), torch.ones(1, 21)
    )
    with pytest.raises(ValueError, match="2D branch"):
        refine_batch(model, batch)


def test_unfitted_frames_are_marked_without_a_warning_when_asked(hand_model):
    batch, _, _ = synthetic_batch(hand_model, count=2, seed=4)
    confidence = batch.confidence.clone()
    confidence[0] = 0.0
    config = FitConfig(steps=5, views=("palm",), warn_unfitted=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = fit_batch(replace(batch, confidence=confidence), config, hand_model)
    assert result.fitted.tolist() == [False, True]


def test_all_zero_confidence_keeps_the_initial_camera_and_says_so(hand_model):
    batch, _, _ = synthetic_batch(hand_model, count=2, seed=4)
    confidence = batch.confidence.clone()
    confidence[0] = 0.0
    with pytest.warns(UserWarning, match=r"fitted=False: \['hand0'\]"):
        result = fit_batch(
            replace(batch, confidence=confidence), FitConfig(steps=60, views=("palm",)), hand_model
        )
    assert result.fitted.tolist() == [False, True]
    centre = result.prediction.verts[0].mean(0)
    assert torch.allclose(centre, torch.tensor([0.0, 0.0, INITIAL_DEPTH]), atol=0.01), centre
    error = keypoint_error_px(result.prediction.keypoints2d[1], batch.keypoints[1])
    assert error < 2.0, "the other sample of the batch is fitted as usual"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("keypoints", float("nan"), "keypoints contain NaN"),
        ("confidence", 1.5, "outside \\[0, 1\\]"),
        ("confidence", float("nan"), "NaN or outside"),
        ("K", float("inf"), "K contains NaN"),
    ],
)
def test_bad_values_are_refused_naming_the_frame(hand_model, field, value, message):
    batch, _, _ = synthetic_batch(hand_model, count=2, seed=5)
    tensor = getattr(batch, field).clone()
    tensor[1].view(-1)[0] = value
    with pytest.raises(ValueError, match=f"{message}.*hand1"):
        fit_batch(replace(batch, **{field: tensor}), FitConfig(steps=1), hand_model)


def test_wrong_layouts_are_refused(hand_model):
    batch, _, _ = synthetic_batch(hand_model, count=2, seed=6)
    clip = replace(batch, image=batch.image[None], K=batch.K[None])
    with pytest.raises(ValueError, match="use fit_clips"):
        fit_batch(clip, FitConfig(steps=1), hand_model)
    with pytest.raises(ValueError, match=r"batch.keypoints must be \(2, 21, 2\)"):
        fit_batch(replace(batch, keypoints=batch.keypoints[:, :20]), FitConfig(steps=1))
    one_frame = replace(
        batch,
        image=batch.image[:, None],
        K=batch.K[:, None],
        keypoints=batch.keypoints[:, None],
        confidence=batch.confidence[:, None],
    )
    with pytest.raises(ValueError, match="at least 2 frames"):
        fit_clips(one_frame, FitConfig(steps=1), hand_model)
    with pytest.raises(ValueError, match="unknown views"):
        FitConfig(views=("sideways",))
    with pytest.raises(ValueError, match="needs a ManoLayer"):
        fit_batch(batch, FitConfig(steps=1), ManoLayer(units="mm"))


def _problem(batch: HandSample, u: int) -> HandSample:
    """Problem u of a batch of images (B, ...) or clips (B, T, ...), as a batch of one."""
    return replace(
        batch,
        image=batch.image[u : u + 1],
        K=batch.K[u : u + 1],
        keypoints=batch.keypoints[u : u + 1],
        confidence=batch.confidence[u : u + 1],
        name="",
    )


@pytest.mark.parametrize("frames", [1, 2])
def test_each_problems_loss_is_the_trainers_objective_of_that_problem_alone(hand_model, frames):
    """The fitter scores every (restart, problem) at once; each score must be what
    compute_losses gives that problem's frames on their own."""
    batch, _, _ = synthetic_batch(hand_model, count=4, seed=11)
    config = FitConfig(steps=5)
    if frames > 1:
        batch = replace(
            batch,
            image=batch.image.reshape(2, 2, *batch.image.shape[1:]),
            K=batch.K.reshape(2, 2, 3, 3),
            keypoints=batch.keypoints.reshape(2, 2, 21, 2),
            confidence=batch.confidence.reshape(2, 2, 21),
            name=["clip0", "clip1"],
        )
    result = (fit_clips if frames > 1 else fit_batch)(batch, config, hand_model)
    stage = "video" if frames > 1 else "e2e"
    assert len(result.loss) == 4 // frames
    for u, loss in enumerate(result.loss.tolist()):
        own = select_frames(result.prediction, slice(u * frames, (u + 1) * frames))
        alone = compute_losses(
            own, _problem(batch, u), hand_model.faces, config.losses, stage=stage
        )
        assert loss == pytest.approx(float(alone.total), rel=1e-5), u


# ---- clips --------------------------------------------------------------------------------


def test_motion_terms_smooth_a_clip_fitted_to_noisy_keypoints(hand_model):
    frames = 6
    generator = torch.Generator().manual_seed(7)
    time = torch.linspace(0.0, 1.0, frames)[:, None]
    pose = 0.5 * torch.randn(1, 30, generator=generator) * (1.0 + 0.3 * time)
    tilt = torch.zeros(frames, 3)
    tilt[:, 1] = 0.5 * time[:, 0]
    shift = torch.cat([0.04 * time, torch.zeros(frames, 2)], dim=1)
    true_joints, _, keypoints = pose_hands(hand_model, pose, tilt, shift)
    noisy = keypoints + 3.0 * torch.randn(keypoints.shape, generator=generator)
    clip = HandSample(
        image=torch.zeros(1, frames, 3, SIZE, SIZE),
        K=intrinsics(frames)[None],
        keypoints=noisy[None],
        confidence=torch.ones(1, frames, 21),
        name=["clip"],
    )
    config = FitConfig(steps=80, views=("palm",))

    def acceleration_mm(joints: torch.Tensor) -> float:
        relative = joints - joints[:, :1]
        return float((relative[2:] - 2 * relative[1:-1] + relative[:-2]).norm(dim=-1).mean()) * 1e3

    smooth = fit_clips(clip, config, hand_model)
    plain = fit_clips(clip, replace(config, loss=fit_loss_config().without("motion")), hand_model)
    assert smooth.prediction.joints.shape == (frames, 21, 3)
    assert smooth.loss.shape == (1,) and smooth.history.shape == (80, 1)
    with_motion = acceleration_mm(smooth.prediction.joints)
    without = acceleration_mm(plain.prediction.joints)
    assert with_motion < 0.5 * without, (with_motion, without)
    assert with_motion < 5.0 * acceleration_mm(true_joints) + 1.0


# ---- the start ----------------------------------------------------------------------------


def test_closed_form_start_recovers_a_rolled_mean_hand(hand_model):
    with torch.no_grad():
        verts, joints = hand_model(torch.zeros(1, 33))
    bone = 0.0282
    scale = bone / middle_proximal_length(joints)[0]
    roll = torch.tensor(0.9)
    R = about_axis(roll, 2) @ initial_rotation("right")
    t = torch.tensor([0.03, -0.02, 0.5])
    camera = scale * joints[0] @ R.T + t
    pixels = camera @ intrinsics(1)[0].T
    keypoints = (pixels[:, :2] / pixels[:, 2:])[None]
    views = restart_rotations(("palm", "back"), 0, seed=0)
    start = closed_form_start(
        keypoints, torch.ones(1, 21), intrinsics(1), views, joints[0], verts[0].mean(0), bone
    )
    angle = torch.arccos(((start.rotation[0] @ R.T).trace() - 1) / 2)
    assert math.degrees(float(angle)) < 2.0
    assert (start.trans[0] - t).norm() < 3e-3
    assert torch.allclose(start.scale, scale.expand(2))
    assert start.usable.all()


def test_named_views_show_the_named_side():
    rotations = restart_rotations(("palm", "back", "thumb_side", "little_side"), 2, seed=0)
    assert rotations.shape == (6, 3, 3)
    # rest frame of the right hand: palm normal -y, thumb towards +z (model.py)
    towards_camera = torch.tensor([0.0, 0.0, -1.0])
    palm, thumb = torch.tensor([0.0, -1.0, 0.0]), torch.tensor([0.0, 0.0, 1.0])
    assert float(rotations[0] @ palm @ towards_camera) > 0.99
    assert float(rotations[1] @ palm @ towards_camera) < -0.99
    assert float(rotations[2] @ thumb @ towards_camera) > 0.99
    assert float(rotations[3] @ thumb @ towards_camera) < -0.99
    again = restart_rotations((), 2, seed=0)
    torch.testing.assert_close(again, rotations[4:])
    eye = torch.eye(3).expand(2, 3, 3)
    torch.testing.assert_close(again @ again.transpose(-1, -2), eye, atol=1e-5, rtol=0)


# ---- left hands ---------------------------------------------------------------------------


def test_mirrored_right_fit_is_the_left_hand_in_the_original_crop(hand_model):
    batch, _, _ = synthetic_batch(hand_model, count=2, seed=8)
    torch.testing.assert_close(mirror_sample(mirror_sample(batch)).K, batch.K)
    result = fit_batch(mirror_sample(batch), FitConfig(steps=2, views=("palm",)), hand_model)
    back = mirror_prediction(result.prediction, SIZE)
    left = ManoLayer(ncomps=30, flat_hand_mean=False, side="left", units="m")
    with torch.no_grad():
        verts, _ = left(torch.cat([torch.zeros(2, 3), back.pose_coeffs], dim=1), back.betas)
    R = axis_angle_to_matrix(back.global_rot)
    expected = back.trans[:, None] + back.scale.abs()[:, None, None] * verts @ R.transpose(-1, -2)
    torch.testing.assert_close(back.verts, expected, atol=1e-5, rtol=0)
    pixels = back.joints @ batch.K.transpose(-1, -2)
    torch.testing.assert_close(
        back.keypoints2d, pixels[..., :2] / pixels[..., 2:], atol=1e-3, rtol=0
    )
    torch.testing.assert_close(mirror_axis_angle(back.global_rot), result.prediction.global_rot)


# ---- photometric and evaluation -----------------------------------------------------------


def test_photometric_fit_learns_the_colour_of_the_hand(hand_model):
    size = 48
    batch, _, true_verts = synthetic_batch(hand_model, 1, seed=9, tilt_deg=10.0, size=size)
    red = torch.tensor([0.85, 0.25, 0.2])
    hard = RenderSettings(image_size=(size, size), mode="hard")
    with torch.no_grad():
        rendered = render_mesh(
            true_verts,
            hand_model.faces,
            batch.K,
            hard,
            vertex_colors=red.expand(1, hand_model.num_verts, 3),
            background=torch.full((1, 3, size, size), 0.1),
        )
    batch = replace(batch, image=rendered.rgb.clamp(0, 1))
    result = fit_batch(batch, FitConfig(steps=30, views=("palm",), photometric=True), hand_model)
    pred = result.prediction
    assert pred.lights.shape == (1, 11) and pred.texture.shape == (1, hand_model.num_verts, 3)
    untextured = replace(
        pred,
        texture=torch.tensor(MEAN_SKIN_COLOUR).expand_as(pred.texture),
        lights=torch.tensor(INITIAL_LIGHTS)[None],
    )

    def hand_error(prediction) -> float:
        out = render_prediction(prediction, hand_model.faces, batch.K, batch.image, hard)
        inside = (out.alpha * rendered.alpha)[:, 0] > 0.5
        return float((out.rgb - batch.image).abs().sum(1)[inside].mean())

    assert hand_error(pred) < 0.5 * hand_error(untextured)


class _TruthDataset(Dataset):
    def __init__(self, batch: HandSample, joints: torch.Tensor, verts: torch.Tensor) -> None:
        self.batch, self.joints, self.verts = batch, joints, verts

    def __len__(self) -> int:
        return self.joints.shape[0]

    def __getitem__(self, i: int) -> HandSample:
        truth = HandTruth(
            joints3d=self.joints[i],
            verts=self.verts[i],
            keypoints2d=self.batch.keypoints[i],
            pose=torch.zeros(48),
            betas=torch.zeros(10),
            mask=torch.zeros(SIZE, SIZE),
            has_mesh=torch.tensor(True),
        )
        return HandSample(
            self.batch.image[i],
            self.batch.K[i],
            self.batch.keypoints[i],
            self.batch.confidence[i],
            truth,
            self.batch.name[i],
        )


def test_the_fitter_is_scored_like_a_network(hand_model, tmp_path: Path):
    batch, joints, verts = synthetic_batch(hand_model, count=2, seed=10)
    predictor = fit_predictor(FitConfig(steps=60, views=("palm",)), hand_model)
    report = evaluate_predictor(
        predictor, hand_model.faces, _TruthDataset(batch, joints, verts), tmp_path, progress=False
    )
    assert (tmp_path / "metrics.json").is_file() and (tmp_path / "examples.png").is_file()
    assert report["pa_mpjpe_mm"] < 10.0


def test_the_scores_are_split_by_whether_the_detector_found_the_hand(hand_model, tmp_path):
    batch, joints, verts = synthetic_batch(hand_model, count=3, seed=12)
    batch = replace(batch, confidence=batch.confidence * torch.tensor([[1.0], [1.0], [0.0]]))
    predictor = fit_predictor(FitConfig(steps=20, views=("palm",)), hand_model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the missed hand is reported unfitted
        dataset = _TruthDataset(batch, joints, verts)
        report = evaluate_predictor(predictor, hand_model.faces, dataset, tmp_path, progress=False)
    rows = (tmp_path / "per_sample.csv").read_text().splitlines()[1:]
    errors = [float(row.split(",")[4]) for row in rows]
    detected, missed = report["groups"]["hand_detected"], report["groups"]["hand_missed"]
    assert detected["count"] == 2 and missed["count"] == 1
    assert detected["pa_mpjpe_mm"] == pytest.approx(np.mean(errors[:2]), abs=1e-5)
    assert missed["pa_mpjpe_mm"] == pytest.approx(errors[2], abs=1e-5)


def test_select_frames_indexes_every_field(hand_model):
    batch, _, _ = synthetic_batch(hand_model, count=3, seed=11)
    pred = fit_batch(batch, FitConfig(steps=1, views=("palm",)), hand_model).prediction
    picked = select_frames(pred, torch.tensor([2, 0]))
    torch.testing.assert_close(picked.joints, pred.joints[[2, 0]])
    assert picked.texture is None and picked.betas.shape == (2, 10)


# ---- `s2h fit` on a real photo ------------------------------------------------------------


def test_cli_fits_a_real_photo_and_writes_the_files(tmp_path: Path, capsys):
    pytest.importorskip("mediapipe", reason="the detector extra is not installed")
    photo = PHOTOS / FOUR_FINGERS_PHOTO
    folder = tmp_path / "photos"
    folder.mkdir()
    shutil.copy(photo, folder)
    out = tmp_path / "fit"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(["fit", "--images", str(folder), "--out", str(out), "--steps", "60"]) == 0
    assert "fitted 1 hand" in capsys.readouterr().out
    report = json.loads((out / "fits.json").read_text())
    (hand,) = report["hands"]
    assert hand["file"] == FOUR_FINGERS_PHOTO and len(hand["joints3d"]) == 21
    assert hand["reprojection_px"] < 12.0, "the fitted hand sits on the detected one"
    assert min(z for _, _, z in hand["joints3d"]) > 0.05, "in front of the camera"
    assert (out / "overlays" / FOUR_FINGERS_PHOTO.replace(".jpg", "_hand0.png")).is_file()
    assert (out / "contact_sheet.png").is_file() and (out / "keypoints.json").is_file()

    single = tmp_path / "single"
    assert main(["fit", "--images", str(photo), "--out", str(single), "--steps", "5"]) == 0
    assert len(json.loads((single / "fits.json").read_text())["hands"]) == 1


def test_cli_names_a_missing_photo_folder(tmp_path: Path, capsys):
    missing = tmp_path / "nowhere"
    assert main(["fit", "--images", str(missing), "--out", str(tmp_path / "out")]) == 2
    assert str(missing) in capsys.readouterr().err


def test_refinement_of_an_anchored_network_fits_the_keypoints_it_was_given(hand_model):
    torch.manual_seed(0)
    config = ModelConfig(camera="keypoints", keypoint_input=True, keypoint_branch=False)
    model = HandNet(config).eval()
    batch, _, _ = synthetic_batch(hand_model, count=2, seed=6, size=64)
    batch = replace(batch, truth=ForbiddenTruth())
    with torch.no_grad():
        network = model(batch.image, batch.K, batch.keypoints, batch.confidence)
    result = refine_batch(model, batch)
    refined = keypoint_error_px(result.prediction.keypoints2d, batch.keypoints)
    assert (refined < keypoint_error_px(network.keypoints2d, batch.keypoints)).all()
    assert result.restart == [INITIAL_RESTART, INITIAL_RESTART], "the network's start only"


def test_refinement_keeps_the_networks_answer_where_no_hand_was_found(hand_model):
    torch.manual_seed(0)
    config = ModelConfig(
        camera="keypoints", keypoint_input=True, keypoint_branch=False, without_anchors="image"
    )
    model = HandNet(config).eval()
    with torch.no_grad():
        torch.nn.init.normal_(model.image_pose.layers[-1].weight, std=0.05)
    batch, _, _ = synthetic_batch(hand_model, count=2, seed=6, size=64)
    confidence = batch.confidence.clone()
    confidence[1] = 0.0
    batch = replace(batch, confidence=confidence, truth=ForbiddenTruth())
    with torch.no_grad():
        network = model(batch.image, batch.K, batch.keypoints, batch.confidence)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the network's answer stands there: nothing to warn of
        result = refine_batch(model, batch)
    assert result.fitted.tolist() == [True, False]
    for field in ("pose_coeffs", "betas", "verts", "joints", "keypoints2d"):
        torch.testing.assert_close(getattr(result.prediction, field)[1], getattr(network, field)[1])
    assert not torch.allclose(result.prediction.joints[0], network.joints[0])
