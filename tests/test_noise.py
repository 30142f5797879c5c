"""The detector-noise model: its draws follow its parameters, and calibration recovers them."""

import json
import math

import numpy as np
import pytest
from scipy.stats import spearmanr

from s2h_lib.data.synth.noise import (
    ADJACENT_SWAPS,
    DEFAULT_NOISE_PATH,
    FLIP_PERMUTATION,
    Detections,
    NoiseModel,
    NoiseParams,
    fit,
    hand_size,
    measure,
    simulate,
)

SIGMA = tuple(np.linspace(0.01, 0.05, 21))


def truth_hand(rng: np.random.Generator, size: float = 100.0) -> np.ndarray:
    """21 keypoints spread over a `size`-pixel box (corners pinned so the hand size is exact)."""
    points = rng.uniform(20, 20 + size, size=(21, 2))
    points[0], points[1] = (20, 20), (20 + size, 20 + size)
    return points


def draws(params: NoiseParams, count: int, seed: int = 0, visible=None):
    rng = np.random.default_rng(seed)
    truth = truth_hand(np.random.default_rng(123))
    model = NoiseModel(params)
    out = [model.apply(truth, rng, visible) for _ in range(count)]
    return truth, np.stack([k for k, _ in out]), np.stack([c for _, c in out])


def test_hand_size_is_the_longer_side_of_the_box():
    points = np.array([[0.0, 0.0], [30.0, 10.0]] + [[5.0, 5.0]] * 19)
    assert hand_size(points) == 30.0


def test_mean_error_and_miss_rates_match_the_parameters():
    params = NoiseParams(joint_sigma=SIGMA, hand_miss_rate=0.2, joint_miss_rate=0.05)
    truth, keypoints, confidence = draws(params, 6000)
    found_hand = confidence.max(axis=1) > 0
    assert found_hand.mean() == pytest.approx(0.8 * (1 - 0.05**21), abs=0.015)
    found = confidence > 0
    assert (~found[found_hand]).mean() == pytest.approx(0.05, abs=0.005)
    assert np.all(keypoints[~found] == 0.0), "a missed joint is reported at (0, 0)"
    error = np.linalg.norm(keypoints - truth, axis=-1) / hand_size(truth)
    mean_error = np.array([error[found[:, j], j].mean() for j in range(21)])
    # |e| of a 2D Gaussian with per-axis sigma has mean sigma * sqrt(pi / 2)
    np.testing.assert_allclose(mean_error, np.array(SIGMA) * math.sqrt(math.pi / 2), rtol=0.05)


def test_hand_noise_moves_all_joints_of_a_hand_together():
    params = NoiseParams(
        joint_sigma=(0.0,) * 21,
        confidence_offset=0.0,
        confidence_noise=0.0,
        confidence_hand_noise=1.0,
    )
    _, _, confidence = draws(params, 2000)
    assert np.allclose(confidence, confidence[:, :1])  # no error, no joint noise: one value
    # sigmoid(z), z ~ N(0, 1): mean 1/2, standard deviation 0.208 (numerical integral)
    assert confidence[:, 0].mean() == pytest.approx(0.5, abs=0.015)
    assert confidence[:, 0].std() == pytest.approx(0.208, abs=0.01)


def test_confidence_falls_as_the_error_grows():
    params = NoiseParams(joint_sigma=SIGMA, confidence_slope=20.0, confidence_noise=0.5)
    truth, keypoints, confidence = draws(params, 500)
    error = np.linalg.norm(keypoints - truth, axis=-1)
    assert spearmanr(confidence.ravel(), error.ravel()).statistic < -0.5
    assert np.all((confidence > 0) & (confidence < 1))


def test_hidden_joints_get_larger_errors():
    visible = np.arange(21) % 2 == 0
    params = NoiseParams(joint_sigma=(0.02,) * 21, hidden_scale=3.0)
    truth, keypoints, _ = draws(params, 3000, visible=visible)
    error = np.linalg.norm(keypoints - truth, axis=-1)
    ratio = error[:, ~visible].mean() / error[:, visible].mean()
    assert ratio == pytest.approx(3.0, rel=0.05)


def test_flip_reverses_the_finger_order():
    assert list(FLIP_PERMUTATION[1:5]) == [17, 18, 19, 20]  # thumb labels on pinky points
    assert list(FLIP_PERMUTATION[9:13]) == [9, 10, 11, 12]  # middle stays
    params = NoiseParams(joint_sigma=(0.0,) * 21, flip_rate=1.0)
    truth, keypoints, _ = draws(params, 3)
    np.testing.assert_array_equal(keypoints[0], truth[FLIP_PERMUTATION])


def test_swap_exchanges_one_pair_of_neighbouring_fingers():
    params = NoiseParams(joint_sigma=(0.0,) * 21, finger_swap_rate=1.0)
    truth, keypoints, _ = draws(params, 50)
    for reported in keypoints:
        matches = [np.array_equal(reported, truth[perm]) for perm in ADJACENT_SWAPS]
        assert sum(matches) == 1


def test_same_seed_same_draws():
    params = NoiseParams(joint_sigma=SIGMA, outlier_rate=0.1, finger_swap_rate=0.1)
    a = draws(params, 20, seed=7)
    b = draws(params, 20, seed=7)
    np.testing.assert_array_equal(a[1], b[1])
    np.testing.assert_array_equal(a[2], b[2])


def test_bad_parameters_are_refused_with_the_reason():
    with pytest.raises(ValueError, match="21 values"):
        NoiseParams(joint_sigma=(0.1,) * 20)
    with pytest.raises(ValueError, match="hand_miss_rate"):
        NoiseParams(joint_sigma=SIGMA, hand_miss_rate=1.5)
    with pytest.raises(ValueError, match="unknown noise parameters: colour"):
        NoiseParams.from_dict({"joint_sigma": SIGMA, "colour": 1})


def test_save_load_round_trip_and_missing_file(tmp_path):
    params = NoiseParams(joint_sigma=SIGMA, outlier_rate=0.1, source="test")
    params.save(tmp_path / "noise.json")
    assert NoiseParams.load(tmp_path / "noise.json") == params
    with pytest.raises(FileNotFoundError, match=r"calibrate_noise\.py"):
        NoiseParams.load(tmp_path / "absent.json")


def test_the_package_default_is_a_calibrated_fit():
    params = NoiseParams.load()
    assert DEFAULT_NOISE_PATH.name == "detector_noise.json"
    assert "mediapipe" in params.source
    assert all(0.0 < s < 0.2 for s in params.joint_sigma)
    assert params.confidence_slope > 0
    assert json.loads(DEFAULT_NOISE_PATH.read_text())["joint_sigma"] == list(params.joint_sigma)


def test_calibration_recovers_known_parameters():
    """Detections drawn from a known model, measured and fitted, give that model back."""
    true = NoiseParams(
        joint_sigma=SIGMA,
        hidden_scale=2.0,
        hand_miss_rate=0.3,
        flip_rate=0.05,
        confidence_offset=2.0,
        confidence_slope=15.0,
        confidence_noise=0.3,
        confidence_hand_noise=1.0,
    )
    rng = np.random.default_rng(0)
    truth = np.stack([truth_hand(rng) for _ in range(400)])
    visible = rng.uniform(size=(400, 21)) < 0.8
    detections = simulate(NoiseModel(true), truth, visible, rng)
    fitted = fit(detections, np.random.default_rng(1), rounds=1, repeats=2)
    np.testing.assert_allclose(fitted.joint_sigma, SIGMA, rtol=0.25)
    assert np.mean(fitted.joint_sigma) == pytest.approx(np.mean(SIGMA), rel=0.06)
    assert fitted.hidden_scale == pytest.approx(2.0, rel=0.1)
    assert fitted.hand_miss_rate == pytest.approx(0.3, abs=0.05)
    assert fitted.flip_rate == pytest.approx(0.05, abs=0.03)
    measured = measure(detections)
    refit = measure(simulate(NoiseModel(fitted), truth, visible, np.random.default_rng(2)))
    assert refit.spearman() == pytest.approx(measured.spearman(), abs=0.08)
    assert 0.5 <= fitted.confidence_hand_noise <= 1.5, "hands differ more than their joints"
    assert fitted.confidence_noise < fitted.confidence_hand_noise


def test_measure_reads_a_flip_as_a_flip():
    rng = np.random.default_rng(0)
    truth = np.stack([truth_hand(rng) for _ in range(10)])
    keypoints = truth[:, FLIP_PERMUTATION]
    detections = Detections(
        truth, np.ones((10, 21), bool), np.ones(10, bool), keypoints, np.ones((10, 21))
    )
    stats = measure(detections)
    assert stats.flip_rate == 1.0 and stats.finger_swap_rate == 0.0
    assert stats.hand_miss_rate == 0.0
