"""Every metric of one evaluation at once: the FreiHAND 3D protocol, the temporal smoothness of
clips and 2D keypoints, by name (`evaluate`, `summary_keys`), with the thresholds (`MetricConfig`).

NumPy in (torch tensors are accepted and copied to the CPU), numbers out, float64 throughout.
Inputs are in metres (2D in pixels); reported errors are in millimetres (pixels for 2D).

The 3D protocol is the official FreiHAND `eval.py` (reference notes mano_render_eval.md section
5, s2hand_method.md section 6): Procrustes alignment with scale, done separately for joints and
vertices (`alignment`); PCK and its AUC, and the F-score of the vertex point clouds (`curves`),
averaged over samples; the per-sample errors are in `errors`. Root-relative MPJPE (wrist, joint
0, subtracted from both) is not official but common.

Vertex metrics are computed only for samples whose ground truth has a mesh (`has_mesh`); a
summary says "n/a" for a metric that no sample could be scored on. Non-finite inputs raise
ValueError naming the array and the samples (`metric_inputs`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from s2h_lib.evaluation.alignment import procrustes, root_relative
from s2h_lib.evaluation.curves import area_under_curve, f_scores_batch, pck_2d, pck_curve
from s2h_lib.evaluation.errors import (
    acceleration_error,
    box_side,
    distances,
    hand_box_size,
    jitter,
)
from s2h_lib.evaluation.metric_inputs import (
    checked,
    checked_shape,
    mesh_mask,
    require_finite,
    require_pair,
    to_numpy,
)
from s2h_lib.hand.hand_model import MM_PER_M
from s2h_lib.hand.skeleton import NUM_KEYPOINTS

NOT_AVAILABLE = "n/a"

Summary = dict[str, float | int | str]


@dataclass(frozen=True)
class MetricConfig:
    """Thresholds of every metric. The defaults are the FreiHAND protocol's (3D) and ours (2D).

    pck_max_m:            3D PCK thresholds run from 0 to this, in metres
    pck_steps:            number of 3D PCK thresholds (both ends included)
    fscore_thresholds_m:  F-score distance thresholds, metres
    pck2d_thresholds_px:  2D PCK thresholds, pixels
    pck2d_thresholds_box: 2D PCK thresholds as fractions of the hand box size (the longer side of
                          the ground-truth keypoints' bounding box)
    """

    pck_max_m: float = 0.05
    pck_steps: int = 100
    fscore_thresholds_m: tuple[float, ...] = (0.005, 0.015)
    pck2d_thresholds_px: tuple[float, ...] = (5.0, 10.0, 20.0)
    pck2d_thresholds_box: tuple[float, ...] = (0.05, 0.1, 0.2)

    def __post_init__(self) -> None:
        if not self.pck_max_m > 0 or self.pck_steps < 2:
            raise ValueError(
                f"3D PCK needs pck_max_m > 0 and pck_steps >= 2, got {self.pck_max_m}, "
                f"{self.pck_steps}"
            )
        thresholds = (
            *self.fscore_thresholds_m,
            *self.pck2d_thresholds_px,
            *self.pck2d_thresholds_box,
        )
        if not all(t > 0 for t in thresholds):
            raise ValueError(f"every metric threshold must be positive, got {thresholds}")

    @property
    def pck_thresholds_m(self) -> np.ndarray:
        """(T,) the 3D PCK thresholds, metres."""
        return np.linspace(0.0, self.pck_max_m, self.pck_steps)


FREIHAND_PROTOCOL = MetricConfig()  # FreiHAND's 3D protocol (the 2D thresholds are ours)


# ---------------------------------------------------------------- everything at once


@dataclass(frozen=True)
class Evaluation:
    """Every metric of one evaluation.

    summary:        flat dict, keys name the metric and its unit (see `summary_keys`); "n/a" for
                    a metric no sample could be scored on; never NaN
    per_sample:     name -> (N,) per-sample value (same names as the summary's means); NaN where
                    the sample is not scored (vertex metrics of samples without a mesh)
    pck_thresholds_mm: (T,)
    pck_curves:     "joints", "pa_joints", and with meshes "verts", "pa_verts" -> (T,) fractions
    """

    summary: Summary
    per_sample: dict[str, np.ndarray]
    pck_thresholds_mm: np.ndarray
    pck_curves: dict[str, np.ndarray]


def _mm_key(threshold_m: float) -> str:
    return f"{threshold_m * MM_PER_M:g}mm"


def _fscore_keys(config: MetricConfig) -> list[str]:
    plain = [f"f_score_{_mm_key(t)}" for t in config.fscore_thresholds_m]
    return plain + [f"pa_{key}" for key in plain]


def _auc_key(curve: str, config: MetricConfig) -> str:
    """ "pa_joints" -> "pa_auc_joints_0_50mm", "verts" -> "auc_verts_0_50mm"."""
    aligned, _, points = curve.rpartition("_")
    prefix = f"{aligned}_" if aligned else ""
    return f"{prefix}auc_{points}_0_{_mm_key(config.pck_max_m)}"


def _pck2d_px_key(threshold_px: float) -> str:
    return f"pck2d_{threshold_px:g}px"


def _pck2d_box_key(fraction: float) -> str:
    return f"pck2d_{fraction * 100:g}pct_box"


def summary_keys(config: MetricConfig = FREIHAND_PROTOCOL) -> list[str]:
    """Every key of `evaluate(...).summary`, in order, for `config`."""
    return [
        "num_samples",
        "num_with_mesh",
        "mpjpe_mm",
        "pa_mpjpe_mm",
        "rr_mpjpe_mm",
        "mpvpe_mm",
        "pa_mpvpe_mm",
        *(_auc_key(curve, config) for curve in ("joints", "pa_joints", "verts", "pa_verts")),
        *_fscore_keys(config),
        "epe2d_px",
        "projected_size_ratio",
        *map(_pck2d_px_key, config.pck2d_thresholds_px),
        *map(_pck2d_box_key, config.pck2d_thresholds_box),
        "num_clips",
        "accel_error_mm_per_frame2",
        "jitter_mm_per_frame3",
        "gt_jitter_mm_per_frame3",
    ]


def evaluate(
    pred_joints: object,
    gt_joints: object,
    pred_verts: object | None = None,
    gt_verts: object | None = None,
    has_mesh: object | None = None,
    *,
    pred_keypoints2d: object | None = None,
    gt_keypoints2d: object | None = None,
    clip_length: int | None = None,
    config: MetricConfig = FREIHAND_PROTOCOL,
) -> Evaluation:
    """Score N predictions against ground truth.

    pred_joints, gt_joints: (N, 21, 3) metres, FreiHAND order, camera frame
    pred_verts, gt_verts:   (N, V, 3) metres, same vertex order (both or neither)
    has_mesh:               (N,) bool; None means "all" when vertices are given
    pred_keypoints2d, gt_keypoints2d: (N, 21, 2) pixels (both or neither)
    clip_length:            T when the N samples are N / T clips of T consecutive frames, in
                            order; adds the temporal metrics
    """
    sizes: dict[str, int] = {}
    pred_j = checked("pred_joints", pred_joints, ("N", NUM_KEYPOINTS, 3), sizes)
    gt_j = checked("gt_joints", gt_joints, ("N", NUM_KEYPOINTS, 3), sizes)
    if len(pred_j) == 0:
        raise ValueError("nothing to evaluate: pred_joints has no samples")
    per_sample, curves = _joint_metrics(pred_j, gt_j, config)
    summary: Summary = {"num_samples": len(pred_j), "num_clips": 0}

    require_pair("pred_verts", pred_verts, "gt_verts", gt_verts)
    mask = mesh_mask(has_mesh, len(pred_j), pred_verts is not None)
    summary["num_with_mesh"] = int(mask.sum())
    if pred_verts is not None:
        pred_v = checked_shape("pred_verts", to_numpy(pred_verts), ("N", "V", 3), sizes)
        gt_v = checked_shape("gt_verts", to_numpy(gt_verts), ("N", "V", 3), sizes)
    if mask.any():
        # samples without a mesh are never read, so their placeholder vertices may be anything
        pred_v = require_finite("pred_verts (samples with a mesh)", pred_v[mask])
        gt_v = require_finite("gt_verts (samples with a mesh)", gt_v[mask])
        vertex_values, vertex_curves = _vertex_metrics(pred_v, gt_v, config)
        per_sample.update({k: _scatter(v, mask) for k, v in vertex_values.items()})
        curves.update(vertex_curves)

    require_pair("pred_keypoints2d", pred_keypoints2d, "gt_keypoints2d", gt_keypoints2d)
    if pred_keypoints2d is not None:
        pred_2d = checked("pred_keypoints2d", pred_keypoints2d, ("N", NUM_KEYPOINTS, 2), sizes)
        gt_2d = checked("gt_keypoints2d", gt_keypoints2d, ("N", NUM_KEYPOINTS, 2), sizes)
        errors = distances(pred_2d, gt_2d)
        box = hand_box_size(gt_2d)
        per_sample["epe2d_px"] = errors.mean(axis=1)
        per_sample["projected_size_ratio"] = box_side(pred_2d) / box
        summary.update(_pck_2d_summary(errors, box, config))

    if clip_length is not None:
        summary.update(_temporal_summary(pred_j, gt_j, clip_length))
    summary.update(_means(per_sample))
    thresholds_m = config.pck_thresholds_m
    summary.update(
        {_auc_key(k, config): area_under_curve(c, thresholds_m) for k, c in curves.items()}
    )
    ordered = {key: summary.get(key, NOT_AVAILABLE) for key in summary_keys(config)}
    return Evaluation(ordered, per_sample, thresholds_m * MM_PER_M, curves)


def _scatter(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(N,) with `values` at the masked samples and NaN elsewhere."""
    full = np.full(len(mask), np.nan)
    full[mask] = values
    return full


def _joint_metrics(
    pred: np.ndarray, gt: np.ndarray, config: MetricConfig
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Per-sample joint errors (mm) and the unaligned / aligned joint PCK curves."""
    plain = distances(pred, gt)
    aligned = distances(procrustes(pred, gt), gt)
    relative = distances(root_relative(pred), root_relative(gt))
    per_sample = {
        "mpjpe_mm": plain.mean(axis=1) * MM_PER_M,
        "pa_mpjpe_mm": aligned.mean(axis=1) * MM_PER_M,
        "rr_mpjpe_mm": relative.mean(axis=1) * MM_PER_M,
    }
    thresholds = config.pck_thresholds_m
    curves = {"joints": pck_curve(plain, thresholds), "pa_joints": pck_curve(aligned, thresholds)}
    return per_sample, curves


def _vertex_metrics(
    pred: np.ndarray, gt: np.ndarray, config: MetricConfig
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Per-sample vertex errors (mm), F-scores and vertex PCK curves of M meshes (M, V, 3)."""
    pred_aligned = procrustes(pred, gt)
    plain, aligned = distances(pred, gt), distances(pred_aligned, gt)
    fscores = np.concatenate(
        [
            f_scores_batch(pred, gt, config.fscore_thresholds_m),
            f_scores_batch(pred_aligned, gt, config.fscore_thresholds_m),
        ],
        axis=1,
    )
    per_sample = {"mpvpe_mm": plain.mean(axis=1) * MM_PER_M}
    per_sample["pa_mpvpe_mm"] = aligned.mean(axis=1) * MM_PER_M
    per_sample.update(zip(_fscore_keys(config), fscores.T, strict=True))
    thresholds = config.pck_thresholds_m
    curves = {"verts": pck_curve(plain, thresholds), "pa_verts": pck_curve(aligned, thresholds)}
    return per_sample, curves


def _means(per_sample: dict[str, np.ndarray]) -> dict[str, float]:
    """Mean over the scored samples of every per-sample metric (equal point counts per sample,
    so this is the official mean over keypoints of per-keypoint means)."""
    return {key: float(np.nanmean(values)) for key, values in per_sample.items()}


def _pck_2d_summary(errors: np.ndarray, box: np.ndarray, config: MetricConfig) -> dict[str, float]:
    """2D PCK at every pixel and box-fraction threshold of `config`, by summary key."""
    pixel = pck_2d(errors, config.pck2d_thresholds_px, np.ones(len(errors)))
    boxed = pck_2d(errors, config.pck2d_thresholds_box, box)
    keys = [
        *map(_pck2d_px_key, config.pck2d_thresholds_px),
        *map(_pck2d_box_key, config.pck2d_thresholds_box),
    ]
    return {key: float(v) for key, v in zip(keys, [*pixel, *boxed], strict=True)}


def _temporal_summary(pred: np.ndarray, gt: np.ndarray, clip_length: int) -> dict[str, float]:
    """Temporal metrics of N samples that are N / clip_length clips of consecutive frames."""
    if clip_length < 1 or len(pred) % clip_length:
        raise ValueError(
            f"clip_length must be a positive divisor of the sample count {len(pred)}, "
            f"got {clip_length}"
        )
    clips_shape = (len(pred) // clip_length, clip_length, NUM_KEYPOINTS, 3)
    pred_clips, gt_clips = pred.reshape(clips_shape), gt.reshape(clips_shape)
    return {
        "num_clips": clips_shape[0],
        "accel_error_mm_per_frame2": float(acceleration_error(pred_clips, gt_clips).mean()),
        "jitter_mm_per_frame3": float(jitter(pred_clips).mean()),
        "gt_jitter_mm_per_frame3": float(jitter(gt_clips).mean()),
    }
