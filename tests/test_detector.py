"""The mediapipe hand detector on real photos, its per-joint confidence, and hand crops."""

from __future__ import annotations

import enum
import math
import types

import numpy as np
import pytest
import torch

from s2h_lib.data.crop import apply_affine
from s2h_lib.data.image_io import read_rgb
from s2h_lib.data.photos.detector import (
    Detection,
    DetectorConfig,
    HandDetector,
    _check_landmark_order,
    _Landmarks,
    crop_detection,
    crop_to_image,
    default_intrinsics,
    detection_box,
    joint_confidence,
)
from s2h_lib.hand.skeleton import FINGERS, FREIHAND_TIPS
from s2h_lib.paths import SAMPLE_PHOTOS_DIR as PHOTOS

pytest.importorskip(
    "mediapipe", reason="the detector extra is not installed (pip install -e .[detect])"
)

# Checked by eye: the man holds his LEFT hand to his ear (text in the photo reads normally, so
# the photo is not mirrored); the woman raises her RIGHT hand and rests her LEFT on the table.
LEFT_HAND_PHOTO = "call_044768ad-1709-44ba-b041-c2f8cbe4c166.jpg"
TWO_HANDS_PHOTO = "call_17d804b5-7118-462d-8191-58d764f591b8.jpg"


@pytest.fixture(scope="module")
def photos() -> dict[str, np.ndarray]:
    return {p.name: read_rgb(p) for p in sorted(PHOTOS.glob("*.jpg"))}


@pytest.fixture(scope="module")
def detector():
    with HandDetector() as detector:
        yield detector


@pytest.fixture(scope="module")
def found(photos, detector) -> dict[str, list[Detection]]:
    return {name: detector.detect(rgb) for name, rgb in photos.items()}


def test_mediapipe_landmarks_are_in_freihand_order():
    import mediapipe

    names = [m.name for m in sorted(mediapipe.solutions.hands.HandLandmark, key=lambda m: m.value)]
    assert names[0] == "WRIST"
    for finger, tip in zip(FINGERS, FREIHAND_TIPS, strict=True):
        assert names[tip].startswith(finger.upper()) and names[tip].endswith("_TIP")
        assert all(names[j].startswith(finger.upper()) for j in range(tip - 3, tip))


def test_a_reordered_landmark_model_is_refused():
    swapped = enum.IntEnum(
        "HandLandmark",
        ["WRIST"]
        + [f"PINKY_{i}" for i in range(4)]
        + [f"{f.upper()}_{i}" for f in ("index", "middle", "ring", "thumb") for i in range(4)],
        start=0,
    )
    fake = types.SimpleNamespace(
        solutions=types.SimpleNamespace(hands=types.SimpleNamespace(HandLandmark=swapped))
    )
    with pytest.raises(RuntimeError, match="not FreiHAND"):
        _check_landmark_order(fake)


def test_finds_a_hand_in_most_real_photos(found):
    rate = np.mean([bool(hands) for hands in found.values()])
    assert rate >= 0.7, f"a hand found in only {rate:.0%} of the photos"


def test_detections_are_inside_the_image_with_valid_confidence(photos, found):
    for name, hands in found.items():
        height, width = photos[name].shape[:2]
        scores = [h.score for h in hands]
        assert scores == sorted(scores, reverse=True), "best hand first"
        for hand in hands:
            assert hand.keypoints.shape == (21, 2) and hand.keypoints.dtype == np.float64
            assert (hand.keypoints >= -0.5).all(), name
            assert (hand.keypoints <= [width - 0.5, height - 0.5]).all(), name
            assert ((hand.confidence >= 0) & (hand.confidence <= hand.score)).all()
            assert 0.5 <= hand.score <= 1.0
    confidence = np.concatenate([h.confidence for hands in found.values() for h in hands])
    assert confidence.std() > 0.05, "the per-joint confidence must vary, not echo the score"


def test_handedness_is_the_true_side_on_checked_photos(found, photos):
    assert [h.handedness for h in found[LEFT_HAND_PHOTO]] == ["left"]
    width = photos[TWO_HANDS_PHOTO].shape[1]
    sides = {h.handedness: h.keypoints[0, 0] for h in found[TWO_HANDS_PHOTO]}
    assert set(sides) == {"left", "right"}
    # facing the camera, a person's right hand is on the left of the picture
    assert sides["right"] < width / 2 < sides["left"]


def test_a_flipped_photo_flips_handedness_and_mirrors_keypoints(photos, found, detector):
    single = [name for name, hands in found.items() if len(hands) == 1][:4]
    assert single
    for name in single:
        rgb, (hand,) = photos[name], found[name]
        (mirrored,) = detector.detect(np.ascontiguousarray(rgb[:, ::-1]))
        assert mirrored.handedness != hand.handedness, name
        back = mirrored.keypoints * [-1, 1] + [rgb.shape[1] - 1, 0]
        size = np.ptp(hand.keypoints, axis=0).max()
        assert np.linalg.norm(back - hand.keypoints, axis=1).mean() < 0.1 * size, name


def test_mirrored_input_takes_mediapipes_label_as_is(photos, found):
    with HandDetector(DetectorConfig(mirrored_input=True)) as selfie:
        (hand,) = selfie.detect(photos[LEFT_HAND_PHOTO])
    assert hand.handedness == "right"
    np.testing.assert_array_equal(hand.keypoints, found[LEFT_HAND_PHOTO][0].keypoints)


def test_joint_confidence_by_hand():
    size, spread, score = 200.0, 0.05, 0.9  # s = 10 pixels
    d = np.zeros(21)
    d[3], d[7] = 10.0, 20.0
    c = joint_confidence([d], size, score, spread)
    assert c[0] == pytest.approx(0.9)
    assert c[3] == pytest.approx(0.9 * math.exp(-1))
    assert c[7] == pytest.approx(0.9 * math.exp(-4))
    two = joint_confidence([d, None], size, score, spread)  # a view that missed: d = s
    assert two[0] == pytest.approx(0.9 * math.exp(-0.5))
    assert two[7] == pytest.approx(0.9 * math.exp(-2.5))
    np.testing.assert_allclose(joint_confidence([], size, score, spread), np.full(21, 0.9))


def test_confidence_comes_from_the_flipped_look(detector, monkeypatch):
    """The second look's keypoints are mapped back through the mirror before comparing."""
    width, rng = 100, np.random.default_rng(0)
    keypoints = rng.uniform(20, 80, size=(21, 2))
    keypoints[:, 0] = np.linspace(20, 80, 21)  # a 60-pixel hand: s = 3 pixels
    mirrored = keypoints * [-1, 1] + [width - 1, 0]
    mirrored[5, 1] += 3.0
    looks = iter([_Landmarks(keypoints, "Left", 0.8), _Landmarks(mirrored, "Right", 0.7)])
    monkeypatch.setattr(detector, "_landmarks", lambda rgb: [next(looks)])
    (hand,) = detector.detect(np.zeros((60, width, 3), np.uint8))
    expected = np.full(21, 0.8)
    expected[5] = 0.8 * math.exp(-1)
    np.testing.assert_allclose(hand.confidence, expected)
    assert hand.handedness == "right" and hand.score == 0.8


def test_zoom_view_agrees_with_the_first_look(photos, found):
    with HandDetector(DetectorConfig(views=("flip", "zoom"))) as both:
        (hand,) = both.detect(photos[LEFT_HAND_PHOTO])
    (flip_only,) = found[LEFT_HAND_PHOTO]
    np.testing.assert_array_equal(hand.keypoints, flip_only.keypoints)
    assert np.median(hand.confidence) > 0.5, "the enlarged crop finds the same joints"


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (np.zeros((32, 32, 3), np.float32), "uint8"),
        (np.zeros((32, 32), np.uint8), r"\(H, W, 3\)"),
        (np.zeros((32, 32, 4), np.uint8), r"\(H, W, 3\)"),
        ([[0, 0, 0]], "numpy array"),
    ],
)
def test_bad_images_are_refused_clearly(detector, image, message):
    with pytest.raises(ValueError, match=message):
        detector.detect(image)


def test_closed_detector_and_bad_settings_are_refused(photos):
    with HandDetector() as closed:
        pass
    with pytest.raises(RuntimeError, match="closed"):
        closed.detect(photos[LEFT_HAND_PHOTO])
    with pytest.raises(ValueError, match="unknown views"):
        DetectorConfig(views=("rotate",))
    with pytest.raises(ValueError, match="model_complexity"):
        DetectorConfig(model_complexity=2)


def _project(points: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """u = K X / Z for points (N, 3)."""
    uvw = points @ K.T
    return uvw[:, :2] / uvw[:, 2:]


def _fake_detection(seed: int = 0) -> Detection:
    rng = np.random.default_rng(seed)
    keypoints = rng.uniform([150, 100], [260, 230], size=(21, 2))
    return Detection(keypoints, rng.uniform(0.2, 1.0, 21), 0.9, "right")


def test_default_intrinsics_by_hand():
    K = default_intrinsics(384, 512)
    expected = [[512.0, 0.0, 255.5], [0.0, 512.0, 191.5], [0.0, 0.0, 1.0]]
    np.testing.assert_array_equal(K.numpy(), expected)


def test_crop_round_trip_and_camera():
    detection = _fake_detection()
    rgb = np.zeros((384, 512, 3), np.uint8)
    sample = crop_detection(rgb, detection, size=128, margin=1.5, name="a.jpg#0")
    box = detection_box(detection, margin=1.5)
    A = box.matrix(128)
    original = torch.from_numpy(detection.keypoints)
    in_crop = apply_affine(A, original)
    torch.testing.assert_close(crop_to_image(in_crop, box, 128), original, rtol=0, atol=1e-6)
    torch.testing.assert_close(sample.keypoints, in_crop.float(), rtol=0, atol=1e-4)
    assert sample.keypoints.min() >= 0 and sample.keypoints.max() <= 127
    np.testing.assert_array_equal(
        sample.confidence.numpy(), detection.confidence.astype(np.float32)
    )
    # a 3D point projected with the crop's K lands where its full-image projection maps to
    points = torch.tensor(
        [[0.03, -0.02, 0.6], [-0.1, 0.05, 0.9], [0.0, 0.0, 0.4]], dtype=torch.float64
    )
    K = default_intrinsics(384, 512)
    expected = apply_affine(A, _project(points, K))
    torch.testing.assert_close(_project(points, sample.K.double()), expected, rtol=0, atol=1e-3)
    assert sample.name == "a.jpg#0" and sample.truth is None
    assert sample.image.shape == (3, 128, 128) and sample.K.dtype == torch.float32


def test_crop_shows_the_pixels_under_the_keypoints():
    detection = _fake_detection(seed=1)
    rgb = np.zeros((384, 512, 3), np.uint8)
    x, y = np.round(detection.keypoints[8]).astype(int)
    rgb[y - 3 : y + 4, x - 3 : x + 4] = 255  # a white square on joint 8's pixel
    sample = crop_detection(rgb, detection, size=128)
    A = detection_box(detection).matrix(128)
    u, v = apply_affine(A, torch.tensor([[float(x), float(y)]], dtype=torch.float64))[0]
    assert sample.image[:, round(float(v)), round(float(u))].min() > 0.9
    assert sample.image.mean() < 0.05, "only the square is bright"


def test_crop_takes_a_given_camera():
    detection = _fake_detection()
    K = torch.tensor([[700.0, 0.0, 250.0], [0.0, 710.0, 200.0], [0.0, 0.0, 1.0]])
    sample = crop_detection(np.zeros((384, 512, 3), np.uint8), detection, size=64, K=K)
    A = detection_box(detection).matrix(64)
    torch.testing.assert_close(sample.K, (A @ K.double()).float())
