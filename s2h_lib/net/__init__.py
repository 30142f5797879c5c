"""The network: encoder, regression heads, 2D keypoint branch, camera, and its `HandPrediction`.

Builds on hand/, render/ and data/; imports nothing from the packages above it.
"""

from s2h_lib.net.model import HandNet, ModelConfig
from s2h_lib.net.prediction import HandPrediction

__all__ = ["HandNet", "HandPrediction", "ModelConfig"]
