"""The real 2D hand detector: mediapipe's hand landmarker, with a per-joint confidence.

It plays the role OpenPose plays in S2HAND (method notes section 1.4): it finds hands in a full
photo and gives 21 keypoints per hand, in FreiHAND order, plus a confidence per joint that the
keypoint losses use as a weight.

mediapipe 0.10.14 is used because its wheel ships the hand models and runs offline
(`pip install -e .[detect]`; it needs protobuf < 5). Its 21 landmarks are already in
OpenPose / FreiHAND order: wrist, then thumb, index, middle, ring, pinky, each from the base to
the tip (checked against `mp.solutions.hands.HandLandmark` when the detector starts).

Conventions of the results:
- Keypoints are pixels of the original image with pixel centres at integers (DESIGN.md);
  mediapipe's normalised coordinates span the image's outer edges, so `u = x * W - 0.5`.
- Handedness is the hand's true side. mediapipe labels hands as if the image were a mirrored
  selfie, so for an ordinary (unmirrored) photo its "Left" is a right hand: the label is swapped
  unless `DetectorConfig.mirrored_input` says the image is mirrored. Checked on a real photo
  (a person holding the left hand to the ear, text in the picture reading normally; mediapipe
  says "Right").
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from types import ModuleType

import numpy as np
import torch
from torch import Tensor

from s2h_lib.data.crop import (
    DEFAULT_MARGIN,
    CropBox,
    apply_affine,
    box_around_points,
    update_intrinsics,
    warp_image,
)
from s2h_lib.data.image_io import to_tensor, to_uint8
from s2h_lib.data.sample import HandSample
from s2h_lib.extras import require_extra
from s2h_lib.hand.skeleton import FINGERS, NUM_KEYPOINTS

VIEWS = ("flip", "zoom")
# A second-view hand is the same hand when its keypoints lie within this fraction of the hand
# size of the first view's, on average; further away it is another hand.
MATCH_GATE = 0.5
# The zoom view re-runs the landmarker on a crop this many hand sizes wide, resampled to ZOOM_SIZE.
ZOOM_MARGIN = 2.5
ZOOM_SIZE = 256
MEDIAPIPE_LABEL_SIDES = {"Left": "left", "Right": "right"}
OTHER_SIDE = {"left": "right", "right": "left"}


@dataclass(frozen=True, eq=False)
class Detection:
    """One hand found in an image.

    keypoints:  (21, 2) float64 pixels of the original image, FreiHAND order
    confidence: (21,)   float64 in [0, 1] (see `HandDetector` for how it is derived)
    score:      mediapipe's handedness score of this hand, in [0, 1]
    handedness: "right" or "left", the side the hand truly is
    """

    keypoints: np.ndarray
    confidence: np.ndarray
    score: float
    handedness: str

    def __post_init__(self) -> None:
        if self.keypoints.shape != (NUM_KEYPOINTS, 2):
            raise ValueError(f"keypoints must be (21, 2), got {self.keypoints.shape}")
        if self.confidence.shape != (NUM_KEYPOINTS,):
            raise ValueError(f"confidence must be (21,), got {self.confidence.shape}")
        if self.handedness not in OTHER_SIDE:
            raise ValueError(f"handedness must be 'right' or 'left', got {self.handedness!r}")


@dataclass(frozen=True)
class DetectorConfig:
    """Settings of `HandDetector`.

    max_hands:        most hands returned per image
    min_score:        mediapipe's palm-detection threshold (`min_detection_confidence`)
    model_complexity: 0 (faster) or 1 (more accurate) landmark model
    views:            second looks used for the per-joint confidence: "flip" (the mirrored
                      image) and/or "zoom" (a crop around the hand, enlarged); empty = none
    spread:           disagreement, as a fraction of the hand size, at which a joint's
                      confidence falls to score / e
    mirrored_input:   True for mirrored selfie images (then mediapipe's label is the true side)
    """

    max_hands: int = 2
    min_score: float = 0.5
    model_complexity: int = 1
    views: tuple[str, ...] = ("flip",)
    spread: float = 0.05
    mirrored_input: bool = False

    def __post_init__(self) -> None:
        if self.max_hands < 1:
            raise ValueError(f"max_hands must be at least 1, got {self.max_hands}")
        if not 0.0 <= self.min_score <= 1.0:
            raise ValueError(f"min_score must be in [0, 1], got {self.min_score}")
        if self.model_complexity not in (0, 1):
            raise ValueError(f"model_complexity must be 0 or 1, got {self.model_complexity}")
        unknown = set(self.views) - set(VIEWS)
        if unknown:
            raise ValueError(f"unknown views {sorted(unknown)}; choose from {VIEWS}")
        if not self.spread > 0:
            raise ValueError(f"spread must be positive, got {self.spread}")


@dataclass(frozen=True)
class _Landmarks:
    """One hand as the landmarker returned it: keypoints (21, 2) pixels, its label and score."""

    keypoints: np.ndarray
    label: str
    score: float


def import_mediapipe() -> ModuleType:
    """mediapipe, or MissingExtraError naming the `detect` extra that installs it."""
    return require_extra("mediapipe", "detect", "the hand detector")


def _check_landmark_order(mediapipe: ModuleType) -> None:
    """Fail loudly if a mediapipe release ever reorders its 21 landmarks."""
    names = [m.name for m in sorted(mediapipe.solutions.hands.HandLandmark, key=lambda m: m.value)]
    finger_of = [name.split("_")[0].lower() for name in names[1:]]
    expected = [finger for finger in FINGERS for _ in range(4)]
    if names[0] != "WRIST" or finger_of != expected:
        raise RuntimeError(f"mediapipe's landmark order is not FreiHAND's: {names}")


def check_image(rgb: np.ndarray) -> None:
    """Raise ValueError unless `rgb` is an (H, W, 3) uint8 RGB array."""
    if not isinstance(rgb, np.ndarray):
        raise ValueError(f"expected an (H, W, 3) uint8 numpy array, got {type(rgb).__name__}")
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) RGB image, got shape {rgb.shape}")
    if rgb.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image (0..255), got dtype {rgb.dtype}")
    if min(rgb.shape[:2]) < 2:
        raise ValueError(f"image too small to search for hands: {rgb.shape}")


def hand_size(keypoints: np.ndarray) -> float:
    """The longer side of the box around the keypoints (21, 2), in pixels (at least 1)."""
    extent = keypoints.max(axis=0) - keypoints.min(axis=0)
    return max(float(extent.max()), 1.0)


def joint_confidence(
    disagreements: list[np.ndarray | None], size: float, score: float, spread: float
) -> np.ndarray:
    """Per-joint confidence (21,) from each view's distance to the first look.

    `disagreements` holds one (21,) pixel distance array per view, or None where that view did
    not find the hand, which counts as a disagreement of `spread` hand sizes on every joint.
    confidence = score * exp(-mean over views (d / (spread * size))^2); with no view, score.
    """
    scale = spread * size
    squared = [
        np.ones(NUM_KEYPOINTS) if d is None else (np.asarray(d) / scale) ** 2 for d in disagreements
    ]
    mean_squared = np.mean(squared, axis=0) if squared else np.zeros(NUM_KEYPOINTS)
    return np.clip(score * np.exp(-mean_squared), 0.0, 1.0)


def _closest_distances(reference: np.ndarray, candidates: list[np.ndarray]) -> np.ndarray | None:
    """Per-joint distances (21,) to the candidate hand nearest `reference`, or None if none is
    within MATCH_GATE hand sizes on average."""
    best = None
    for candidate in candidates:
        distances = np.linalg.norm(candidate - reference, axis=1)
        if best is None or distances.mean() < best.mean():
            best = distances
    if best is None or best.mean() > MATCH_GATE * hand_size(reference):
        return None
    return best


class HandDetector:
    """mediapipe's hand landmarker on whole images; a context manager that closes its graph.

    Per-joint confidence. mediapipe gives no per-joint score, so each hand is looked at again
    in `config.views`: the horizontally mirrored image ("flip", mapped back) and/or a crop around
    the hand enlarged to 256 pixels ("zoom", mapped back). A joint the landmarker places in the
    same spot however it sees the hand is likely right; where the looks disagree it is guessing.
    The distance d_j between the first look and each other look, over s = spread x hand size
    (the longer side of the keypoint box), becomes `score * exp(-mean_views (d_j / s)^2)`.
    A view that does not find the hand counts as d_j = s for every joint.
    """

    def __init__(self, config: DetectorConfig = DetectorConfig()) -> None:
        mediapipe = import_mediapipe()
        _check_landmark_order(mediapipe)
        self.config = config
        self._hands = mediapipe.solutions.hands.Hands(
            static_image_mode=True,
            max_num_hands=config.max_hands,
            model_complexity=config.model_complexity,
            min_detection_confidence=config.min_score,
        )
        self._closed = False

    def __enter__(self) -> HandDetector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release mediapipe's graph; the detector cannot be used afterwards."""
        if not self._closed:
            self._hands.close()
            self._closed = True

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        """Hands in an (H, W, 3) uint8 RGB image, highest score first."""
        check_image(rgb)
        first = self._landmarks(rgb)
        flipped = self._flipped_landmarks(rgb) if "flip" in self.config.views and first else []
        detections = []
        for hand in first:
            disagreements = []
            if "flip" in self.config.views:
                disagreements.append(_closest_distances(hand.keypoints, flipped))
            if "zoom" in self.config.views:
                zoomed = self._zoomed_landmarks(rgb, hand.keypoints)
                disagreements.append(_closest_distances(hand.keypoints, zoomed))
            size = hand_size(hand.keypoints)
            confidence = joint_confidence(disagreements, size, hand.score, self.config.spread)
            detections.append(
                Detection(hand.keypoints, confidence, hand.score, self._true_side(hand.label))
            )
        return sorted(detections, key=lambda d: -d.score)

    def _true_side(self, label: str) -> str:
        side = MEDIAPIPE_LABEL_SIDES[label]
        return side if self.config.mirrored_input else OTHER_SIDE[side]

    def _landmarks(self, rgb: np.ndarray) -> list[_Landmarks]:
        if self._closed:
            raise RuntimeError("this HandDetector is closed; make a new one")
        height, width = rgb.shape[:2]
        with warnings.catch_warnings():
            # mediapipe 0.10.14 calls a protobuf method that protobuf 4 marks deprecated
            warnings.filterwarnings("ignore", message="SymbolDatabase.GetPrototype")
            result = self._hands.process(np.ascontiguousarray(rgb))
        hands = []
        for marks, handedness in zip(
            result.multi_hand_landmarks or [], result.multi_handedness or [], strict=True
        ):
            xy = np.array([(m.x, m.y) for m in marks.landmark], dtype=np.float64)
            pixels = xy * np.array([width, height]) - 0.5
            best = handedness.classification[0]
            hands.append(_Landmarks(pixels, best.label, float(best.score)))
        return hands

    def _flipped_landmarks(self, rgb: np.ndarray) -> list[np.ndarray]:
        """Keypoints of the hands in the mirrored image, mapped back to the original's pixels."""
        width = rgb.shape[1]
        mirrored = self._landmarks(rgb[:, ::-1])
        return [
            h.keypoints * np.array([-1.0, 1.0]) + np.array([width - 1.0, 0.0]) for h in mirrored
        ]

    def _zoomed_landmarks(self, rgb: np.ndarray, keypoints: np.ndarray) -> list[np.ndarray]:
        """Keypoints found in an enlarged crop around `keypoints`, in the original's pixels."""
        box = box_around_points(torch.from_numpy(keypoints), margin=ZOOM_MARGIN)
        A = box.matrix(ZOOM_SIZE)
        crop = to_uint8(warp_image(to_tensor(rgb), A, ZOOM_SIZE))
        inverse = torch.linalg.inv(A)
        return [
            apply_affine(inverse, torch.from_numpy(h.keypoints)).numpy()
            for h in self._landmarks(crop)
        ]


def default_intrinsics(height: int, width: int) -> Tensor:
    """(3, 3) float64 K for a photo with no calibration: focal length max(H, W) pixels (a
    field of view of about 53 degrees across the longer side, typical of phone cameras) and the
    principal point at the image centre ((W - 1) / 2, (H - 1) / 2) in pixel-centre coordinates."""
    focal = float(max(height, width))
    return torch.tensor(
        [[focal, 0.0, (width - 1) / 2], [0.0, focal, (height - 1) / 2], [0.0, 0.0, 1.0]],
        dtype=torch.float64,
    )


def detection_box(detection: Detection, margin: float = DEFAULT_MARGIN) -> CropBox:
    """The square crop box `crop_detection` uses: around the keypoints with confidence > 0."""
    return box_around_points(
        torch.from_numpy(detection.keypoints), torch.from_numpy(detection.confidence), margin
    )


def crop_detection(
    rgb: np.ndarray,
    detection: Detection,
    size: int = 128,
    margin: float = DEFAULT_MARGIN,
    K: Tensor | None = None,
    name: str = "",
) -> HandSample:
    """A `size` x `size` crop around a detected hand, as a `HandSample` (truth None).

    `K` (3, 3) is the intrinsics of the full image; None means `default_intrinsics`. The crop's
    K, keypoints and confidence are float32; they follow `detection_box(detection, margin)`,
    which `crop_to_image` inverts.
    """
    check_image(rgb)
    height, width = rgb.shape[:2]
    K = default_intrinsics(height, width) if K is None else K.to(torch.float64)
    A = detection_box(detection, margin).matrix(size)
    keypoints = apply_affine(A, torch.from_numpy(detection.keypoints))
    return HandSample(
        image=warp_image(to_tensor(rgb), A, size),
        K=update_intrinsics(A, K).float(),
        keypoints=keypoints.float(),
        confidence=torch.from_numpy(detection.confidence).float(),
        name=name,
    )


def crop_to_image(points: Tensor, box: CropBox, size: int) -> Tensor:
    """Map points (..., 2) from pixels of a `size` crop of `box` back to the original image."""
    return apply_affine(torch.linalg.inv(box.matrix(size)), points)
