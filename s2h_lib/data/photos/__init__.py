"""Photos and their detections: the hand detector (MediaPipe), a folder's detections on disk,
S2HAND's OpenPose file, and `PhotoFolder`, your own photos as a dataset of hand crops."""

from s2h_lib.data.photos.detect_folder import detect_folder
from s2h_lib.data.photos.detector import Detection, DetectorConfig, HandDetector
from s2h_lib.data.photos.folder import PhotoFolder, PhotoHand, crop_photo_hand

__all__ = [
    "Detection",
    "DetectorConfig",
    "HandDetector",
    "PhotoFolder",
    "PhotoHand",
    "crop_photo_hand",
    "detect_folder",
]
