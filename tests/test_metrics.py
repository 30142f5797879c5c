"""Metrics against hand-computed answers and an independent scipy-based Procrustes."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.linalg import orthogonal_procrustes
from scipy.spatial.transform import Rotation

from s2h_lib.evaluation.alignment import procrustes_align, procrustes_align_batch
from s2h_lib.evaluation.curves import area_under_curve, f_scores, pck_curve
from s2h_lib.evaluation.errors import (
    acceleration_error,
    hand_box_size,
    jitter,
    pa_mpjpe_mm,
    projected_size_ratio,
)
from s2h_lib.evaluation.metrics import (
    NOT_AVAILABLE,
    MetricConfig,
    evaluate,
    summary_keys,
)

THRESHOLDS_M = np.linspace(0.0, 0.05, 100)
# The official alignment adds 1e-8 to both Frobenius norms, which shrinks even a perfect
# alignment by about 1e-8 relative: residues of ~1e-9 m remain where exact maths gives 0.
ALIGNED_ZERO_M = 1e-8
ALIGNED_ZERO_MM = ALIGNED_ZERO_M * 1000
# Those residues exceed the first PCK threshold (0 mm), so a perfect alignment's curve is
# 0 there and 1 from the second threshold on: AUC = (98 + 0.5) / 99.
PERFECT_ALIGNED_AUC = 98.5 / 99


def random_hands(seed: int, count: int, points: int = 21) -> np.ndarray:
    """(count, points, 3) hand-sized point sets half a metre in front of the camera."""
    rng = np.random.default_rng(seed)
    return rng.normal(scale=0.04, size=(count, points, 3)) + np.array([0.0, 0.0, 0.5])


def official_align(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """FreiHAND's align_w_scale restated with scipy's orthogonal_procrustes (independent code)."""
    gt_mean, pred_mean = gt.mean(0), pred.mean(0)
    a, b = gt - gt_mean, pred - pred_mean
    s1, s2 = np.linalg.norm(a) + 1e-8, np.linalg.norm(b) + 1e-8
    a, b = a / s1, b / s2
    rotation, scale = orthogonal_procrustes(a, b)
    return b @ rotation.T * scale * s1 + gt_mean


def proper_rotation_align(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Umeyama similarity alignment restricted to det(R) = +1 (what the official code is NOT)."""
    gt_mean, pred_mean = gt.mean(0), pred.mean(0)
    a, b = gt - gt_mean, pred - pred_mean
    u, s, vt = np.linalg.svd(b.T @ a)
    d = np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt))])
    rotation = u @ d @ vt
    scale = np.trace(np.diag(s) @ d) / (b**2).sum()
    return scale * b @ rotation + gt_mean


# ---------------------------------------------------------------- Procrustes


def test_procrustes_equals_scipy_orthogonal_procrustes_restatement() -> None:
    pred, gt = random_hands(0, 5), random_hands(1, 5)
    batch = procrustes_align_batch(pred, gt)
    for i in range(5):
        expected = official_align(pred[i], gt[i])
        np.testing.assert_allclose(procrustes_align(pred[i], gt[i]), expected, atol=1e-14)
        np.testing.assert_allclose(batch[i], expected, atol=1e-14)


def test_similarity_transformed_prediction_has_zero_pa_error_but_large_mpjpe() -> None:
    gt = random_hands(2, 4)
    gt_verts = random_hands(3, 4, points=50)
    rotation = Rotation.from_rotvec([0.3, -0.5, 0.9]).as_matrix()
    shift = np.array([0.02, -0.01, 0.05])

    def move(points: np.ndarray) -> np.ndarray:
        return 1.3 * points @ rotation.T + shift

    summary = evaluate(move(gt), gt, move(gt_verts), gt_verts).summary
    assert summary["pa_mpjpe_mm"] == pytest.approx(0.0, abs=ALIGNED_ZERO_MM)
    assert summary["pa_mpvpe_mm"] == pytest.approx(0.0, abs=ALIGNED_ZERO_MM)
    assert summary["pa_auc_joints_0_50mm"] == pytest.approx(PERFECT_ALIGNED_AUC)
    assert summary["pa_f_score_5mm"] == summary["pa_f_score_15mm"] == 1.0
    unaligned = np.linalg.norm(move(gt) - gt, axis=-1).mean() * 1000
    assert summary["mpjpe_mm"] == pytest.approx(unaligned)
    assert summary["mpjpe_mm"] > 50.0


def test_reflected_prediction_aligns_exactly_as_in_the_official_script() -> None:
    gt = random_hands(4, 1)[0]
    mirrored = gt * np.array([-1.0, 1.0, 1.0])
    aligned = procrustes_align(mirrored, gt)
    np.testing.assert_allclose(aligned, gt, rtol=0, atol=ALIGNED_ZERO_M)
    np.testing.assert_allclose(aligned, official_align(mirrored, gt), atol=1e-14)
    # a rotation-only alignment cannot undo the mirror: the official one really used a reflection
    rotation_only = proper_rotation_align(mirrored, gt)
    assert np.linalg.norm(rotation_only - gt, axis=1).mean() > 1e-3


def test_pa_mpjpe_per_sample_is_zero_after_a_similarity_and_the_evaluations_otherwise() -> None:
    gt = random_hands(6, 3)
    rotation = Rotation.from_rotvec([0.2, 0.7, -0.4]).as_matrix()
    moved = 0.8 * gt @ rotation.T + np.array([0.05, 0.0, 0.1])
    np.testing.assert_allclose(pa_mpjpe_mm(moved, gt), 0.0, atol=ALIGNED_ZERO_MM)
    pred = random_hands(7, 3)
    per_sample = pa_mpjpe_mm(pred, gt)
    assert per_sample.shape == (3,) and (per_sample > 1.0).all()
    assert per_sample.mean() == pytest.approx(evaluate(pred, gt).summary["pa_mpjpe_mm"], rel=1e-12)
    with pytest.raises(ValueError, match=r"gt must have shape \(B, 21, 3\)"):
        pa_mpjpe_mm(pred, gt[:, :20])


def test_procrustes_shape_errors_name_the_expected_shape() -> None:
    with pytest.raises(ValueError, match=r"pred must have shape \(N, 3\)"):
        procrustes_align(np.zeros((21, 2)), np.zeros((21, 3)))
    with pytest.raises(ValueError, match=r"N=20.*N=21"):
        procrustes_align(np.zeros((21, 3)), np.zeros((20, 3)))


# ---------------------------------------------------------------- PCK and AUC


def test_constant_one_centimetre_offset() -> None:
    gt = random_hands(5, 3)
    pred = gt + np.array([0.0, 0.01, 0.0])
    evaluation = evaluate(pred, gt)
    summary = evaluation.summary
    assert summary["mpjpe_mm"] == pytest.approx(10.0, abs=1e-9)
    assert summary["pa_mpjpe_mm"] == pytest.approx(0.0, abs=ALIGNED_ZERO_MM)
    assert summary["rr_mpjpe_mm"] == pytest.approx(0.0, abs=1e-9)
    # thresholds are k * 50/99 mm: 10 mm lies between k = 19 (9.60 mm) and k = 20 (10.10 mm)
    expected_curve = (np.arange(100) >= 20).astype(float)
    np.testing.assert_array_equal(evaluation.pck_curves["joints"], expected_curve)
    # trapezoids: half an interval for [19, 20], one per interval from 20 to 99, of 99 in all
    assert summary["auc_joints_0_50mm"] == pytest.approx(79.5 / 99, abs=1e-12)
    assert summary["pa_auc_joints_0_50mm"] == pytest.approx(PERFECT_ALIGNED_AUC)


def test_pck_curve_equals_mean_of_official_per_keypoint_curves() -> None:
    distances = np.random.default_rng(6).uniform(0.0, 0.06, size=(40, 21))
    per_keypoint = np.array(
        [[np.mean(distances[:, k] <= t) for t in THRESHOLDS_M] for k in range(21)]
    )
    curve = pck_curve(distances, THRESHOLDS_M)
    np.testing.assert_allclose(curve, per_keypoint.mean(0), atol=1e-15)
    auc_per_keypoint = [
        np.sum((c[1:] + c[:-1]) * np.diff(THRESHOLDS_M)) / 2 / 0.05 for c in per_keypoint
    ]
    assert area_under_curve(curve, THRESHOLDS_M) == pytest.approx(np.mean(auc_per_keypoint))


# ---------------------------------------------------------------- F-score


def test_f_score_of_tiny_point_sets_by_hand() -> None:
    gt = np.array([[0.0, 0, 0], [0.1, 0, 0], [0.2, 0, 0], [0.3, 0, 0]])
    pred = np.array([[0.003, 0, 0], [0.110, 0, 0], [0.5, 0, 0]])
    # 5 mm: precision 1/3 (only 0.003 is close), recall 1/4 (only 0.0) -> F = 2/7
    # 15 mm: precision 2/3, recall 2/4 -> F = 4/7
    np.testing.assert_allclose(f_scores(pred, gt, (0.005, 0.015)), [2 / 7, 4 / 7], atol=1e-15)


def test_f_score_threshold_is_strict_and_no_match_gives_zero() -> None:
    gt = np.zeros((1, 3))
    pred = np.array([[0.25, 0.0, 0.0]])
    np.testing.assert_array_equal(f_scores(pred, gt, (0.25, 0.2500001)), [0.0, 1.0])


# ---------------------------------------------------------------- temporal


def still_clip(frames: int) -> np.ndarray:
    """(1, frames, 21, 3): the same hand in every frame."""
    return np.repeat(random_hands(7, 1)[:, None], frames, axis=1)


def test_constant_velocity_prediction_has_zero_acceleration_error() -> None:
    gt = still_clip(6)
    velocity = np.random.default_rng(8).normal(scale=0.002, size=(21, 3))  # m / frame
    pred = gt + np.arange(6)[None, :, None, None] * velocity
    assert acceleration_error(pred, gt) == pytest.approx([0.0], abs=1e-9)


def test_acceleration_error_of_one_accelerating_joint() -> None:
    gt = still_clip(5)
    pred = gt.copy()
    frames = np.arange(5)
    pred[0, :, 5, 0] += 0.5 * 0.002 * frames**2  # 2 mm / frame^2 on one joint of 21
    assert acceleration_error(pred, gt) == pytest.approx([2.0 / 21])


def test_jitter_of_known_sequences() -> None:
    clip = still_clip(7)
    cubic = clip.copy()
    cubic[0, :, 3, 1] += 0.001 * np.arange(7) ** 3  # third difference 6 mm on one joint
    assert jitter(cubic) == pytest.approx([6.0 / 21])
    flicker = clip.copy()
    flicker[0, :, 1:, 2] += 0.001 * (-1.0) ** np.arange(7)[:, None]  # +-1 mm on 20 joints
    assert jitter(flicker) == pytest.approx([8.0 * 20 / 21])
    assert jitter(clip) == pytest.approx([0.0])


def test_temporal_metrics_ignore_a_moving_wrist() -> None:
    gt = still_clip(5)
    carried = gt + 0.001 * np.arange(5)[None, :, None, None] ** 3  # the whole hand jerks along
    assert jitter(carried) == pytest.approx([0.0], abs=1e-9)
    assert acceleration_error(carried, gt) == pytest.approx([0.0], abs=1e-9)


def test_short_clips_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 4 frames"):
        jitter(still_clip(3))


def test_summary_reports_temporal_metrics_of_consecutive_clips() -> None:
    gt = np.concatenate([still_clip(6), still_clip(6)])
    pred = gt.copy()
    pred[1, :, 1:, 2] += 0.001 * (-1.0) ** np.arange(6)[:, None]
    summary = evaluate(pred.reshape(12, 21, 3), gt.reshape(12, 21, 3), clip_length=6).summary
    assert summary["num_clips"] == 2
    assert summary["jitter_mm_per_frame3"] == pytest.approx(8.0 * 20 / 21 / 2)
    assert summary["gt_jitter_mm_per_frame3"] == pytest.approx(0.0)
    # second differences of +-1 mm are +-4 mm on 20 joints of the second clip
    assert summary["accel_error_mm_per_frame2"] == pytest.approx(4.0 * 20 / 21 / 2)
    with pytest.raises(ValueError, match="divisor of the sample count 12"):
        evaluate(pred.reshape(12, 21, 3), gt.reshape(12, 21, 3), clip_length=5)


# ---------------------------------------------------------------- 2D


def test_2d_pck_and_endpoint_error_by_hand() -> None:
    gt = np.zeros((2, 21, 2))
    gt[:, 1:, 0] = np.linspace(0, 100, 20)  # box 100 px wide, 0 px tall
    gt[1] *= 2  # second hand: box 200 px
    pred = gt.copy()
    pred[:, :7, 1] += 3.0  # 7 keypoints off by 3 px
    pred[:, 7:14, 0] += 8.0  # 7 by 8 px
    pred[:, 14:, 0] += 15.0  # 7 by 15 px
    summary = evaluate(
        np.zeros((2, 21, 3)), np.zeros((2, 21, 3)), pred_keypoints2d=pred, gt_keypoints2d=gt
    ).summary
    assert summary["epe2d_px"] == pytest.approx((3 + 8 + 15) / 3)
    assert summary["pck2d_5px"] == pytest.approx(1 / 3)
    assert summary["pck2d_10px"] == pytest.approx(2 / 3)
    assert summary["pck2d_20px"] == pytest.approx(1.0)
    # box thresholds: 5 / 10 / 20 px for the first hand, 10 / 20 / 40 px for the second
    assert summary["pck2d_5pct_box"] == pytest.approx((1 / 3 + 2 / 3) / 2)
    assert summary["pck2d_10pct_box"] == pytest.approx((2 / 3 + 1) / 2)
    assert summary["pck2d_20pct_box"] == pytest.approx(1.0)
    np.testing.assert_allclose(hand_box_size(gt), [100.0, 200.0])


def test_projected_size_ratio_flags_a_collapsed_projection() -> None:
    gt = np.zeros((2, 21, 2))
    gt[:, 1:, 0] = np.linspace(0, 100, 20)  # box sides 100 px
    pred = gt.copy()
    pred[0, :, 0] = 40 + 0.5 * pred[0, :, 0]  # half the size, moved: ratio 0.5
    pred[1] = 50.0  # every keypoint on one point: ratio 0
    ratio = projected_size_ratio(pred, gt)
    np.testing.assert_allclose(ratio, [0.5, 0.0])
    summary = evaluate(
        np.zeros((2, 21, 3)), np.zeros((2, 21, 3)), pred_keypoints2d=pred, gt_keypoints2d=gt
    ).summary
    assert summary["projected_size_ratio"] == pytest.approx(0.25)


# ---------------------------------------------------------------- masks, validation, summary


def test_vertex_metrics_only_count_samples_with_a_mesh() -> None:
    gt, gt_verts = random_hands(9, 4), random_hands(10, 4, points=30)
    pred_verts = gt_verts + np.array([0.0, 0.0, 0.004])
    has_mesh = np.array([True, False, True, False])
    pred_verts[~has_mesh] = 7.0  # placeholders far away: must not be scored
    gt_verts[~has_mesh] = 0.0
    evaluation = evaluate(gt, gt, pred_verts, gt_verts, has_mesh)
    assert evaluation.summary["num_with_mesh"] == 2
    assert evaluation.summary["mpvpe_mm"] == pytest.approx(4.0)
    assert evaluation.summary["f_score_5mm"] == 1.0
    assert np.isnan(evaluation.per_sample["mpvpe_mm"][~has_mesh]).all()
    np.testing.assert_allclose(evaluation.per_sample["mpvpe_mm"][has_mesh], 4.0)


def test_no_mesh_gives_not_available_and_never_nan() -> None:
    gt = random_hands(11, 3)
    verts = random_hands(12, 3, points=10)
    summary = evaluate(gt + 0.001, gt, verts, verts, np.zeros(3, bool)).summary
    assert list(summary) == summary_keys()
    for key in ("mpvpe_mm", "pa_mpvpe_mm", "auc_verts_0_50mm", "pa_f_score_15mm", "epe2d_px"):
        assert summary[key] == NOT_AVAILABLE
    numbers = [v for v in summary.values() if not isinstance(v, str)]
    assert all(math.isfinite(v) for v in numbers)


def test_nan_prediction_raises_naming_the_samples() -> None:
    gt = random_hands(13, 6)
    pred = gt.copy()
    pred[[2, 4], 3, 0] = np.nan
    with pytest.raises(ValueError, match=r"pred_joints contains NaN or inf in 2 of 6.*\[2, 4\]"):
        evaluate(pred, gt)
    verts = random_hands(14, 6, points=10)
    bad_verts = verts.copy()
    bad_verts[1] = np.inf
    with pytest.raises(ValueError, match=r"pred_verts \(samples with a mesh\) contains NaN"):
        evaluate(gt, gt, bad_verts, verts)
    has_mesh = np.ones(6, bool)
    has_mesh[1] = False  # the broken sample is not scored, so it is not an error
    assert evaluate(gt, gt, bad_verts, verts, has_mesh).summary["num_with_mesh"] == 5


def test_bad_shapes_and_missing_partners_are_explained() -> None:
    gt = random_hands(15, 2)
    with pytest.raises(ValueError, match=r"pred_joints must have shape \(N, 21, 3\)"):
        evaluate(gt[:, :20], gt)
    with pytest.raises(
        ValueError, match=r"gt_joints has shape \(3, 21, 3\) \(N=3\), but an earlier input has N=2"
    ):
        evaluate(gt, random_hands(15, 3))
    verts = random_hands(16, 2, points=10)
    with pytest.raises(ValueError, match="pred_verts was given without gt_verts"):
        evaluate(gt, gt, verts)
    with pytest.raises(ValueError, match="V=9"):
        evaluate(gt, gt, verts, verts[:, :9])
    with pytest.raises(ValueError, match="has_mesh marks samples with a mesh"):
        evaluate(gt, gt, has_mesh=np.ones(2, bool))
    with pytest.raises(ValueError, match="nothing to evaluate"):
        evaluate(gt[:0], gt[:0])
    with pytest.raises(ValueError, match="positive"):
        MetricConfig(fscore_thresholds_m=(0.0,))


def test_torch_tensors_score_like_numpy() -> None:
    gt = random_hands(17, 3)
    pred = gt + 0.002
    expected = evaluate(pred, gt).summary
    assert evaluate(torch.from_numpy(pred), torch.from_numpy(gt)).summary == expected
