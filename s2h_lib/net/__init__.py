"""The network: encoder, regression heads, 2D keypoint branch, camera, and its `HandPrediction`.

Builds on hand/, render/ and data/; imports nothing from the packages above it.
"""

from s2h_lib.net.hand_in_camera import CameraPose, predict_from_camera
from s2h_lib.net.model import HandNet
from s2h_lib.net.model_config import ModelConfig
from s2h_lib.net.prediction import HandPrediction, Predictor

__all__ = [
    "CameraPose",
    "HandNet",
    "HandPrediction",
    "ModelConfig",
    "Predictor",
    "predict_from_camera",
]
