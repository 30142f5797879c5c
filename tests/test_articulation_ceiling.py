"""bench/articulation_ceiling.py: its keypoint features and that its oracle regressor learns."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch
from helpers.tiny_training import build_tiny_synth, tiny_config
from torch.utils.data import DataLoader

from s2h_lib.data.factory import make_dataset
from s2h_lib.data.sample import collate_samples

SCRIPT = Path(__file__).resolve().parent.parent / "bench" / "articulation_ceiling.py"
spec = importlib.util.spec_from_file_location("articulation_ceiling", SCRIPT)
ceiling = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ceiling)


def test_keypoint_features_drop_translation_and_scale_and_hidden_joints():
    keypoints = torch.zeros(1, 21, 2)
    keypoints[0, 1] = torch.tensor([4.0, 0.0])
    keypoints[0, 2] = torch.tensor([0.0, 8.0])
    confidence = torch.zeros(1, 21)
    confidence[0, :2] = 1.0  # joint 2 undetected
    features = ceiling.keypoint_features(keypoints, confidence)
    # centroid of the confident joints (2, 0); farthest confident one 2 px away
    assert torch.allclose(features[0, :6], torch.tensor([-1.0, 0.0, 1.0, 0.0, 0.0, 0.0]))
    assert torch.equal(features[0, 42:], confidence[0])
    moved = ceiling.keypoint_features(3.0 * keypoints + torch.tensor([50.0, -7.0]), confidence)
    assert torch.allclose(moved, features, atol=1e-6)


def test_the_true_keypoint_regressor_beats_the_mean_pose_on_what_it_saw(tmp_path):
    config = tiny_config(build_tiny_synth(tmp_path / "synth"))
    train = make_dataset(config.data, "train", with_truth=True)
    loader = DataLoader(train, batch_size=16, collate_fn=collate_samples)
    seen = next(iter(loader))
    with torch.no_grad():
        mean_pose = ceiling.mean_pose_predictor(ceiling.hand_model_of(config))(seen).joints
    before = ceiling.pa_mpjpe_mm(mean_pose, seen.truth.joints3d)
    after = ceiling.train_and_score("true_kp", config, loader, seen, steps=150)
    assert after < 0.8 * before, (before, after)
