"""The video-trained network against the image-trained one: the schedule, predictions frame by
frame, the temporal scores, and the tinted playback frames."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from s2h_lib.data.sample import HandSample, HandTruth
from s2h_lib.fit.fit_config import FitConfig, default_hand_model
from s2h_lib.hand.rotations import axis_angle_to_matrix
from s2h_lib.lab.video_compare import (
    VIDEO_LR,
    clip_prediction,
    detected_frames,
    detected_runs,
    stacked_joints,
    temporal_scores,
    true_joints,
    video_fine_tune,
)
from s2h_lib.net.hand_in_camera import CameraPose, predict_from_camera
from s2h_lib.net.model import HandNet
from s2h_lib.net.model_config import ModelConfig
from s2h_lib.train.train_config import PRESETS
from s2h_lib.train.train_run import has_video_stage
from s2h_lib.viz.overlays import MESH_OPACITY, MESH_TINT, tinted_images

SIZE = 64
SMALL_NET = ModelConfig(num_stacks=1, keypoint_features=8, hourglass_depth=1)


def smooth_clips(count: int, frames: int) -> np.ndarray:
    """(count, frames, 21, 3) hands moving at constant velocity, each joint its own way."""
    rng = np.random.default_rng(0)
    start = rng.normal(scale=0.04, size=(count, 1, 21, 3)) + np.array([0.0, 0.0, 0.5])
    velocity = rng.normal(scale=0.002, size=(count, 1, 21, 3))
    return start + velocity * np.arange(frames)[None, :, None, None]


def test_video_fine_tune_trains_the_image_model_on_clips_alone():
    image = PRESETS["synth-cpu-demo"]
    video = video_fine_tune(image, "runs/image/model.pt", steps=7, clip_batch=3)
    assert not has_video_stage(image) and has_video_stage(video)
    (stage,) = video.stages
    assert stage.uses_clips and (stage.steps, stage.batch_size, stage.lr) == (7, 3, VIDEO_LR)
    assert video.init_from == "runs/image/model.pt" and image.init_from is None
    assert replace(video, stages=image.stages, init_from=None) == image


def test_detected_runs_are_the_long_enough_stretches_of_found_frames():
    detected = np.array([1, 1, 1, 1, 0, 1, 1, 1, 0, 1, 1, 1, 1, 1], dtype=bool)
    assert detected_runs(detected) == [slice(0, 4), slice(9, 14)]
    assert detected_runs(detected, min_length=3) == [slice(0, 4), slice(5, 8), slice(9, 14)]
    assert detected_runs(np.zeros(6, dtype=bool)) == []


def test_temporal_scores_of_a_smooth_and_of_a_kicked_prediction():
    gt = smooth_clips(2, 6)
    everywhere = np.ones((2, 6), dtype=bool)
    smooth = temporal_scores(gt, gt, everywhere)
    assert smooth["runs"] == 2 and smooth["detected_frames"] == 12
    for key in ("pa_mpjpe_mm", "accel_error_mm_per_frame2", "jitter_mm_per_frame3"):
        assert smooth[key] == pytest.approx(0.0, abs=1e-5), key
    assert smooth["truth_jitter_mm_per_frame3"] == pytest.approx(0.0, abs=1e-9)
    kicked = gt.copy()
    kicked[1, 2, 5] += [0.01, 0.0, 0.0]  # clip 1, frame 2, joint 5 jumps 10 mm for one frame
    scores = temporal_scores(kicked, gt, everywhere)
    # second differences around the kick: d, -2d, d of 4 frames x 21 joints, in 1 of 2 clips
    assert scores["accel_error_mm_per_frame2"] == pytest.approx(10.0 * 4 / (4 * 21) / 2)
    # third differences: -3d, 3d, -d of 3 frames x 21 joints, in 1 of 2 clips
    assert scores["jitter_mm_per_frame3"] == pytest.approx(10.0 * 7 / (3 * 21) / 2)
    assert scores["jitter_all_frames_mm_per_frame3"] == pytest.approx(
        scores["jitter_mm_per_frame3"]
    )
    assert 0.0 < scores["pa_mpjpe_mm"] < 10.0 / 21


def test_temporal_scores_leave_the_missed_frames_out_of_the_runs():
    gt = smooth_clips(1, 9)
    pred = gt.copy()
    pred[0, 4] = 0.0  # the mean-hand answer where the detector missed: a jump of the whole hand
    detected = np.array([[1, 1, 1, 1, 0, 1, 1, 1, 1]], dtype=bool)
    scores = temporal_scores(pred, gt, detected)
    assert scores["runs"] == 2 and scores["detected_frames"] == 8
    assert scores["jitter_mm_per_frame3"] == pytest.approx(0.0, abs=1e-5)
    assert scores["pa_mpjpe_mm"] == pytest.approx(0.0, abs=1e-5)
    assert scores["jitter_all_frames_mm_per_frame3"] > 1.0
    missed = temporal_scores(pred, gt, np.zeros((1, 9), dtype=bool))
    assert missed["runs"] == 0 and "jitter_mm_per_frame3" not in missed
    assert "pa_mpjpe_mm" not in missed


def random_clip(frames: int) -> HandSample:
    """A clip of random 64 px frames with keypoints and a hand truth."""
    generator = torch.Generator().manual_seed(1)
    K = torch.tensor([[200.0, 0.0, 31.5], [0.0, 200.0, 31.5], [0.0, 0.0, 1.0]]).expand(frames, 3, 3)
    keypoints = 20 + 24 * torch.rand(frames, 21, 2, generator=generator)
    joints = torch.as_tensor(smooth_clips(1, frames)[0], dtype=torch.float32)
    truth = HandTruth(
        joints3d=joints,
        verts=torch.zeros(frames, 10, 3),
        keypoints2d=keypoints,
        pose=torch.zeros(frames, 48),
        betas=torch.zeros(frames, 10),
        mask=torch.zeros(frames, SIZE, SIZE),
        has_mesh=torch.zeros(frames, dtype=torch.bool),
    )
    image = torch.rand(frames, 3, SIZE, SIZE, generator=generator)
    return HandSample(image, K.clone(), keypoints, torch.ones(frames, 21), truth)


def test_each_frame_of_a_clip_is_predicted_on_its_own():
    torch.manual_seed(0)
    net = HandNet(SMALL_NET).eval()
    clip = random_clip(4)
    pred = clip_prediction(net, clip)
    assert pred.joints.shape == (4, 21, 3)
    for t in range(4):  # the same answer as that frame alone: no frame sees another
        frame = HandSample(
            clip.image[t : t + 1],
            clip.K[t : t + 1],
            clip.keypoints[t : t + 1],
            clip.confidence[t : t + 1],
        )
        with torch.no_grad():
            alone = net.predict(frame)
        torch.testing.assert_close(pred.joints[t : t + 1], alone.joints, atol=1e-5, rtol=1e-4)
    joints = stacked_joints([pred, pred])
    assert joints.shape == (2, 4, 21, 3) and joints.dtype == np.float64
    np.testing.assert_array_equal(true_joints([clip])[0], clip.truth.joints3d.double().numpy())
    with pytest.raises(ValueError, match="with_truth=True"):
        true_joints([clip.without_truth()])
    clip.confidence[2] = 0.0  # the detector missed frame 2
    assert detected_frames([clip]).tolist() == [[True, True, False, True]]


def test_tinted_images_tint_the_mesh_and_leave_the_rest():
    config = FitConfig(ncomps=12)
    camera = CameraPose(
        pose_coeffs=torch.zeros(1, 12),
        betas=torch.zeros(1, 10),
        rotation=axis_angle_to_matrix(torch.zeros(1, 3)),
        global_rot=torch.zeros(1, 3),
        scale=torch.ones(1),
        trans=torch.tensor([[0.0, 0.0, 0.6]]),
    )
    K = torch.tensor([[[150.0, 0.0, 31.5], [0.0, 150.0, 31.5], [0.0, 0.0, 1.0]]])
    hand_model = default_hand_model(config)
    pred = predict_from_camera(camera, hand_model, K)
    image = torch.full((1, 3, SIZE, SIZE), 0.2)
    tinted = tinted_images(image, pred, hand_model.faces, K)
    assert tinted.shape == (1, SIZE, SIZE, 3)
    centre = pred.keypoints2d[0, 9].round().long().tolist()  # middle finger base, on the mesh
    expected = 0.2 * (1 - MESH_OPACITY) + MESH_TINT * MESH_OPACITY
    np.testing.assert_allclose(tinted[0, centre[1], centre[0]], expected, atol=1e-6)
    np.testing.assert_allclose(tinted[0, 0, 0], [0.2, 0.2, 0.2], atol=1e-7)
    moved = replace(pred, verts=pred.verts + torch.tensor([1.0, 0.0, 0.0]))  # out of view
    np.testing.assert_allclose(tinted_images(image, moved, hand_model.faces, K), 0.2, atol=1e-7)
