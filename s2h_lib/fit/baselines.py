"""Reference predictors every trained model is compared with, all scored by `eval_model`.

- mean pose: the hand model's mean pose and shape, placed by the fitter's closed-form start
  (palm view, rolled and scaled to the detector keypoints). Procrustes-aligned metrics ignore the
  placement, so its PA-MPJPE measures what knowing nothing about the articulation costs.
- per-image fitting: `fit.fit_predictor`, the optimisation baseline (no network).
"""

from __future__ import annotations

import torch

from s2h_lib.data.sample import HandSample
from s2h_lib.fit.fit_config import FitConfig, default_hand_model
from s2h_lib.fit.fit_start import closed_form_start, restart_rotations
from s2h_lib.fit.fitter import mean_hand
from s2h_lib.hand.hand_model import ManoLayer
from s2h_lib.hand.mano_data import NUM_BETAS
from s2h_lib.hand.rotations import matrix_to_axis_angle
from s2h_lib.losses.loss_config import LossConfig
from s2h_lib.net.hand_in_camera import CameraPose, predict_from_camera
from s2h_lib.net.prediction import HandPrediction, Predictor

# the baselines' names in reports and tables
FITTING, MEAN_POSE = "per-image fitting", "mean pose"


def mean_pose_predictor(hand_model: ManoLayer | None = None) -> Predictor:
    """The mean hand at the closed-form camera of each sample's keypoints."""
    model = default_hand_model(FitConfig()) if hand_model is None else hand_model
    reference_bone = LossConfig().reference_bone_m
    # the same for every batch: the mean hand's joints and centroid, and the palm view
    rest_joints, rest_centroid = mean_hand(model, torch.zeros(1))
    palm_view = restart_rotations(("palm",), 0, 0, model.side)

    def predict(batch: HandSample) -> HandPrediction:
        K, keypoints, confidence = batch.K.float(), batch.keypoints.float(), batch.confidence
        start = closed_form_start(
            keypoints,
            confidence.float(),
            K,
            palm_view.to(K),
            rest_joints.to(K),
            rest_centroid.to(K),
            reference_bone,
        )
        camera = CameraPose(
            pose_coeffs=K.new_zeros(K.shape[0], model.ncomps),
            betas=K.new_zeros(K.shape[0], NUM_BETAS),
            rotation=start.rotation,
            global_rot=matrix_to_axis_angle(start.rotation),
            scale=start.scale,
            trans=start.trans,
        )
        return predict_from_camera(camera, model.to(K.device), K)

    return predict
