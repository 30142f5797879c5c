"""Evaluation metrics: the FreiHAND 3D protocol, temporal smoothness of clips, 2D keypoints.

NumPy in (torch tensors are accepted and copied to the CPU), numbers out, float64 throughout.
Inputs are in metres (2D in pixels); reported errors are in millimetres (pixels for 2D).

The 3D protocol is the official FreiHAND `eval.py` (reference notes mano_render_eval.md section
5, s2hand_method.md section 6):
- Procrustes ("PA") alignment with scale, done separately for joints and vertices. Like the
  official code it has no determinant constraint: the best orthogonal matrix may be a reflection,
  so a mirrored prediction aligns perfectly.
- PCK over thresholds `linspace(0, 50 mm, 100)` (distance <= threshold), AUC = trapezoid area
  normalised by the threshold range, averaged over keypoints (or vertices).
- F-score of the vertex point clouds at 5 and 15 mm: nearest neighbours in both directions,
  strict `<`, F = 2PR / (P + R), or 0 when P + R = 0; averaged over samples.
Root-relative MPJPE (wrist, joint 0, subtracted from both) is not official but common.

Vertex metrics are computed only for samples whose ground truth has a mesh (`has_mesh`); a
summary says "n/a" for a metric that no sample could be scored on.

Non-finite values (NaN, inf) in any input raise ValueError naming the array and the samples: a
NaN prediction means a diverged model or a bug upstream, and silently dropping such samples would
flatter the numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree
from tqdm import tqdm

from s2h_lib.hand.hand_model import MM_PER_M

NUM_JOINTS = 21
ROOT_JOINT = 0  # the wrist in FreiHAND order
# Added to both Frobenius norms, as the official script does; it shrinks an aligned prediction by
# about 1e-8 relative, so a perfect one keeps residues of ~1e-9 m (1e-6 mm).
PROCRUSTES_EPS = 1e-8
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


# ---------------------------------------------------------------- input checks


def _to_numpy(array: object) -> np.ndarray:
    """`array` as a float64 NumPy array; torch tensors on any device are copied to the CPU."""
    if hasattr(array, "detach"):
        array = array.detach().cpu().numpy()
    return np.asarray(array, dtype=np.float64)


def _checked_shape(
    name: str, values: np.ndarray, spec: tuple[int | str, ...], sizes: dict[str, int]
) -> np.ndarray:
    """`values` if its shape is `spec`; a named axis (a string) must match every earlier input
    that used the same name (`sizes` remembers them)."""
    expected = "(" + ", ".join(map(str, spec)) + ")"
    if values.ndim != len(spec):
        raise ValueError(f"{name} must have shape {expected}, got {values.shape}")
    for want, got in zip(spec, values.shape, strict=True):
        if isinstance(want, int) and got != want:
            raise ValueError(f"{name} must have shape {expected}, got {values.shape}")
        if isinstance(want, str) and sizes.setdefault(want, got) != got:
            raise ValueError(
                f"{name} has shape {values.shape} ({want}={got}), but an earlier input has "
                f"{want}={sizes[want]}; expected {expected} with matching sizes"
            )
    return values


def _require_finite(name: str, values: np.ndarray) -> np.ndarray:
    """`values` if it holds no NaN or inf; else ValueError naming the first bad entries."""
    bad = ~np.isfinite(values).all(axis=tuple(range(1, values.ndim)))
    if bad.any():
        rows = np.flatnonzero(bad)
        raise ValueError(
            f"{name} contains NaN or inf in {len(rows)} of {len(values)} entries along its first "
            f"axis (first: {rows[:5].tolist()}); fix the model or the data before scoring"
        )
    return values


def _checked(
    name: str, array: object, spec: tuple[int | str, ...], sizes: dict[str, int]
) -> np.ndarray:
    """`array` as float64, shape-checked against `spec` (see `_checked_shape`) and finite."""
    return _require_finite(name, _checked_shape(name, _to_numpy(array), spec, sizes))


def _mesh_mask(has_mesh: object, count: int, verts_given: bool) -> np.ndarray:
    """(N,) bool: which samples have a ground-truth mesh to score vertices against."""
    if has_mesh is None:
        return np.full(count, verts_given)
    mask = np.asarray(has_mesh.detach().cpu() if hasattr(has_mesh, "detach") else has_mesh)
    if mask.shape != (count,):
        raise ValueError(f"has_mesh must have shape (N,) = ({count},), got {mask.shape}")
    mask = mask.astype(bool)
    if mask.any() and not verts_given:
        raise ValueError("has_mesh marks samples with a mesh, but no vertices were given")
    return mask


# ---------------------------------------------------------------- alignment and distances


def _procrustes(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Batched official FreiHAND `align_w_scale` on checked (..., N, 3) float64 arrays."""
    gt_mean = gt.mean(axis=-2, keepdims=True)
    gt_centred = gt - gt_mean
    pred_centred = pred - pred.mean(axis=-2, keepdims=True)
    gt_norm = np.linalg.norm(gt_centred, axis=(-2, -1), keepdims=True) + PROCRUSTES_EPS
    pred_norm = np.linalg.norm(pred_centred, axis=(-2, -1), keepdims=True) + PROCRUSTES_EPS
    a, b = gt_centred / gt_norm, pred_centred / pred_norm
    # scipy's orthogonal_procrustes(a, b): SVD of a^T b = U S V^T, R = U V^T (a R ~ b), s = sum S.
    # U V^T may be a reflection; the official script keeps it.
    u, singular_values, vt = np.linalg.svd(np.swapaxes(a, -1, -2) @ b)
    rotation = u @ vt
    scale = singular_values.sum(axis=-1)[..., None, None]
    return (b @ np.swapaxes(rotation, -1, -2)) * scale * gt_norm + gt_mean


def procrustes_align(pred: object, gt: object) -> np.ndarray:
    """`pred` (N, 3) moved onto `gt` (N, 3) by the best similarity transform (official FreiHAND
    alignment: scale, orthogonal matrix (reflection allowed), translation). Returns (N, 3)."""
    sizes: dict[str, int] = {}
    return _procrustes(_checked("pred", pred, ("N", 3), sizes), _checked("gt", gt, ("N", 3), sizes))


def procrustes_align_batch(pred: object, gt: object) -> np.ndarray:
    """`procrustes_align` for each of B samples: (B, N, 3), (B, N, 3) -> (B, N, 3)."""
    sizes: dict[str, int] = {}
    return _procrustes(
        _checked("pred", pred, ("B", "N", 3), sizes), _checked("gt", gt, ("B", "N", 3), sizes)
    )


def pa_mpjpe_mm(pred: object, gt: object) -> np.ndarray:
    """(B,) PA-MPJPE of each sample, mm: joints (B, 21, 3) metres, each prediction moved onto
    its truth by `procrustes_align_batch` before the mean joint distance is taken."""
    sizes: dict[str, int] = {}
    pred = _checked("pred", pred, ("B", NUM_JOINTS, 3), sizes)
    gt = _checked("gt", gt, ("B", NUM_JOINTS, 3), sizes)
    return _distances(_procrustes(pred, gt), gt).mean(axis=1) * MM_PER_M


def root_relative(joints: np.ndarray) -> np.ndarray:
    """(..., 21, 3) joints with the wrist (joint 0) subtracted from every joint."""
    return joints - joints[..., ROOT_JOINT : ROOT_JOINT + 1, :]


def _distances(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """(..., P) Euclidean distance of each corresponding point."""
    return np.linalg.norm(pred - gt, axis=-1)


# ---------------------------------------------------------------- PCK, AUC, F-score


def pck_curve(distances_m: object, thresholds_m: object) -> np.ndarray:
    """(T,) PCK of distances (N, P) at each threshold: the mean over the P points of each point's
    fraction of samples with distance <= threshold (official per-keypoint curve, averaged).

    Every point is scored in every sample, so this equals the fraction over all (sample, point)
    pairs, which one sort gives without an (N, P, T) comparison.
    """
    sorted_distances = np.sort(_to_numpy(distances_m).ravel())
    hits = np.searchsorted(sorted_distances, _to_numpy(thresholds_m), side="right")
    return hits / sorted_distances.size


def area_under_curve(curve: object, thresholds: object) -> float:
    """Trapezoid area under `curve` (T,) over `thresholds` (T,), divided by the threshold range
    (so a curve that is 1 everywhere has AUC 1)."""
    y, x = _to_numpy(curve), _to_numpy(thresholds)
    return float(np.sum((y[1:] + y[:-1]) * np.diff(x)) / 2.0 / (x[-1] - x[0]))


def f_scores(pred_points: object, gt_points: object, thresholds_m: Sequence[float]) -> np.ndarray:
    """(len(thresholds),) F-score of two point clouds (M, 3) and (G, 3), no correspondence needed.

    Precision: fraction of predicted points whose nearest GT point is closer than the threshold;
    recall: the converse (the official code swaps the two names; F is symmetric).
    """
    pred = _checked("pred_points", pred_points, ("M", 3), {})
    gt = _checked("gt_points", gt_points, ("G", 3), {})
    pred_to_gt, _ = cKDTree(gt).query(pred)
    gt_to_pred, _ = cKDTree(pred).query(gt)
    limits = np.asarray(thresholds_m, dtype=np.float64)[:, None]
    precision = (pred_to_gt[None, :] < limits).mean(axis=1)
    recall = (gt_to_pred[None, :] < limits).mean(axis=1)
    total = precision + recall
    return np.divide(2 * precision * recall, total, out=np.zeros_like(total), where=total > 0)


def _f_scores_batch(pred: np.ndarray, gt: np.ndarray, thresholds_m: Sequence[float]) -> np.ndarray:
    """(B, len(thresholds)) F-scores of B pairs of (V, 3) clouds."""
    rows = tqdm(range(len(pred)), desc="F-scores", leave=False, disable=None)
    return np.array([f_scores(pred[i], gt[i], thresholds_m) for i in rows]).reshape(
        len(pred), len(thresholds_m)
    )


# ---------------------------------------------------------------- temporal


def acceleration_error(pred_clips: object, gt_clips: object) -> np.ndarray:
    """(B,) acceleration error of clips (B, T, 21, 3), mm/frame^2, on root-relative joints.

    The second finite difference of the predicted joints minus that of the ground truth, its
    norm averaged over joints and the T - 2 frames where it exists: the "Accel Error" of
    Kanazawa et al., Learning 3D Human Dynamics from Video (CVPR 2019), used by VIBE and TCMR.
    """
    sizes: dict[str, int] = {}
    pred = _checked("pred_clips", pred_clips, ("B", "T", NUM_JOINTS, 3), sizes)
    gt = _checked("gt_clips", gt_clips, ("B", "T", NUM_JOINTS, 3), sizes)
    _require_frames(pred, 3, "acceleration error")
    accel_pred = np.diff(root_relative(pred), n=2, axis=1)
    accel_gt = np.diff(root_relative(gt), n=2, axis=1)
    return _distances(accel_pred, accel_gt).mean(axis=(1, 2)) * MM_PER_M


def jitter(clips: object) -> np.ndarray:
    """(B,) jitter of clips (B, T, 21, 3), mm/frame^3, on root-relative joints.

    The norm of the third finite difference (jerk) averaged over joints and the T - 3 frames where
    it exists, as in GLAMR (Yuan et al., CVPR 2022) and WHAM (Shin et al., CVPR 2024), which
    report it per second^3: multiply by fps^3 (and divide by 1e4 for their 10 m/s^3 unit).
    """
    values = _checked("clips", clips, ("B", "T", NUM_JOINTS, 3), {})
    _require_frames(values, 4, "jitter")
    jerk = np.diff(root_relative(values), n=3, axis=1)
    return np.linalg.norm(jerk, axis=-1).mean(axis=(1, 2)) * MM_PER_M


def _require_frames(clips: np.ndarray, needed: int, metric: str) -> None:
    if clips.shape[1] < needed:
        raise ValueError(f"{metric} needs clips of at least {needed} frames, got {clips.shape[1]}")


# ---------------------------------------------------------------- 2D


def keypoint_errors_2d(pred: object, gt: object) -> np.ndarray:
    """(N, K) pixel distance between predicted and GT 2D keypoints, both (N, K, 2)."""
    sizes: dict[str, int] = {}
    return _distances(
        _checked("pred_keypoints2d", pred, ("N", "K", 2), sizes),
        _checked("gt_keypoints2d", gt, ("N", "K", 2), sizes),
    )


def _box_side(points: np.ndarray) -> np.ndarray:
    """(N,) longer side of the bounding box of each sample's points (N, K, 2)."""
    return (points.max(axis=1) - points.min(axis=1)).max(axis=1)


def hand_box_size(gt: object) -> np.ndarray:
    """(N,) longer side of the bounding box of each sample's GT keypoints (N, K, 2), pixels."""
    points = _checked("gt_keypoints2d", gt, ("N", "K", 2), {})
    size = _box_side(points)
    if (size <= 0).any():
        raise ValueError(
            f"GT 2D keypoints of samples {np.flatnonzero(size <= 0)[:5].tolist()} all coincide; "
            "the box-normalised PCK needs a hand box of positive size"
        )
    return size


def projected_size_ratio(pred: object, gt: object) -> np.ndarray:
    """(N,) the predicted 2D keypoints' box side over the GT's, both (N, K, 2): about 1 for a
    hand projected at the right size, near 0 for a model whose projections collapse to a point
    (the hand placed far away: S2HAND's end-to-end failure, `s2hand_method.md` section 11)."""
    sizes: dict[str, int] = {}
    pred_points = _checked("pred_keypoints2d", pred, ("N", "K", 2), sizes)
    return _box_side(pred_points) / hand_box_size(
        _checked("gt_keypoints2d", gt, ("N", "K", 2), sizes)
    )


def pck_2d(errors_px: np.ndarray, thresholds: Sequence[float], scale: np.ndarray) -> np.ndarray:
    """(len(thresholds),) fraction of keypoints whose error (N, K) is <= threshold * scale (N,):
    `scale` = 1 for thresholds in pixels, the hand box size for box fractions."""
    limits = np.asarray(thresholds, dtype=np.float64)[:, None, None] * scale[None, :, None]
    return (errors_px[None] <= limits).mean(axis=(1, 2))


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
    """Every key `summarise` returns, in order, for `config`."""
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
    pred_j = _checked("pred_joints", pred_joints, ("N", NUM_JOINTS, 3), sizes)
    gt_j = _checked("gt_joints", gt_joints, ("N", NUM_JOINTS, 3), sizes)
    if len(pred_j) == 0:
        raise ValueError("nothing to evaluate: pred_joints has no samples")
    per_sample, curves = _joint_metrics(pred_j, gt_j, config)
    summary: Summary = {"num_samples": len(pred_j), "num_clips": 0}

    _require_pair("pred_verts", pred_verts, "gt_verts", gt_verts)
    mask = _mesh_mask(has_mesh, len(pred_j), pred_verts is not None)
    summary["num_with_mesh"] = int(mask.sum())
    if pred_verts is not None:
        pred_v = _checked_shape("pred_verts", _to_numpy(pred_verts), ("N", "V", 3), sizes)
        gt_v = _checked_shape("gt_verts", _to_numpy(gt_verts), ("N", "V", 3), sizes)
    if mask.any():
        # samples without a mesh are never read, so their placeholder vertices may be anything
        pred_v = _require_finite("pred_verts (samples with a mesh)", pred_v[mask])
        gt_v = _require_finite("gt_verts (samples with a mesh)", gt_v[mask])
        vertex_values, vertex_curves = _vertex_metrics(pred_v, gt_v, config)
        per_sample.update({k: _scatter(v, mask) for k, v in vertex_values.items()})
        curves.update(vertex_curves)

    _require_pair("pred_keypoints2d", pred_keypoints2d, "gt_keypoints2d", gt_keypoints2d)
    if pred_keypoints2d is not None:
        pred_2d = _checked("pred_keypoints2d", pred_keypoints2d, ("N", NUM_JOINTS, 2), sizes)
        gt_2d = _checked("gt_keypoints2d", gt_keypoints2d, ("N", NUM_JOINTS, 2), sizes)
        errors = _distances(pred_2d, gt_2d)
        box = hand_box_size(gt_2d)
        per_sample["epe2d_px"] = errors.mean(axis=1)
        per_sample["projected_size_ratio"] = _box_side(pred_2d) / box
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


def summarise(
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
) -> Summary:
    """`evaluate(...).summary`: every metric by name (keys from `summary_keys`), mm / px."""
    return evaluate(
        pred_joints,
        gt_joints,
        pred_verts,
        gt_verts,
        has_mesh,
        pred_keypoints2d=pred_keypoints2d,
        gt_keypoints2d=gt_keypoints2d,
        clip_length=clip_length,
        config=config,
    ).summary


def _require_pair(name_a: str, a: object | None, name_b: str, b: object | None) -> None:
    if (a is None) != (b is None):
        given, missing = (name_a, name_b) if b is None else (name_b, name_a)
        raise ValueError(f"{given} was given without {missing}; pass both or neither")


def _scatter(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(N,) with `values` at the masked samples and NaN elsewhere."""
    full = np.full(len(mask), np.nan)
    full[mask] = values
    return full


def _joint_metrics(
    pred: np.ndarray, gt: np.ndarray, config: MetricConfig
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Per-sample joint errors (mm) and the unaligned / aligned joint PCK curves."""
    plain = _distances(pred, gt)
    aligned = _distances(_procrustes(pred, gt), gt)
    relative = _distances(root_relative(pred), root_relative(gt))
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
    pred_aligned = _procrustes(pred, gt)
    plain, aligned = _distances(pred, gt), _distances(pred_aligned, gt)
    fscores = np.concatenate(
        [
            _f_scores_batch(pred, gt, config.fscore_thresholds_m),
            _f_scores_batch(pred_aligned, gt, config.fscore_thresholds_m),
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
    clips_shape = (len(pred) // clip_length, clip_length, NUM_JOINTS, 3)
    pred_clips, gt_clips = pred.reshape(clips_shape), gt.reshape(clips_shape)
    return {
        "num_clips": clips_shape[0],
        "accel_error_mm_per_frame2": float(acceleration_error(pred_clips, gt_clips).mean()),
        "jitter_mm_per_frame3": float(jitter(pred_clips).mean()),
        "gt_jitter_mm_per_frame3": float(jitter(gt_clips).mean()),
    }
