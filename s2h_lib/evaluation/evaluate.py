"""Score predictions and write everything needed to read, plot and recompute the result.

`evaluate_arrays` writes into `out_dir`:
  predictions.npz  the inputs exactly as scored (metres, pixels), names, has_mesh, clip length and
                   metric config, so anyone can recompute (`recompute_from_npz`)
  per_sample.csv   one row per sample: index, name, has_mesh, every per-sample metric ("n/a"
                   where a sample is not scored)
  pck.png          the 3D PCK curves, unaligned and Procrustes-aligned
  metrics.json     every summary metric (`metrics.summary_keys`), the PCK curves, the best /
                   median / worst samples by PA-MPJPE, the means over named subsets of the
                   samples ("groups", e.g. whether the detector found the hand) and the config;
                   written last, so its presence means the evaluation finished
Every file is written atomically. Image overlays of examples are drawn elsewhere (the trainer
holds the model and the images).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from s2h_lib.atomic import atomic_open, atomic_write_bytes
from s2h_lib.evaluation.curves import area_under_curve
from s2h_lib.evaluation.metrics import (
    FREIHAND_PROTOCOL,
    NOT_AVAILABLE,
    Evaluation,
    MetricConfig,
    evaluate,
)

METRICS_FILE = "metrics.json"
PER_SAMPLE_FILE = "per_sample.csv"
PREDICTIONS_FILE = "predictions.npz"
PCK_PLOT_FILE = "pck.png"
EXAMPLE_METRIC = "pa_mpjpe_mm"  # examples are ranked by the protocol's headline joint error
NO_CLIPS = 0  # clip_length stored in predictions.npz when the samples are not clips
REQUIRED_ARRAYS = ("pred_joints", "gt_joints", "has_mesh", "names", "clip_length", "config")
# The per-sample metrics averaged over each named group of samples.
GROUP_METRICS = ("pa_mpjpe_mm", "pa_mpvpe_mm", "epe2d_px", "projected_size_ratio")
CURVE_STYLES = {  # curve name -> (label, colour, line style)
    "joints": ("joints", "#1f77b4", "-"),
    "pa_joints": ("joints, PA", "#d62728", "-"),
    "verts": ("vertices", "#1f77b4", "--"),
    "pa_verts": ("vertices, PA", "#d62728", "--"),
}


def select_examples(per_sample_errors: Sequence[float] | np.ndarray) -> tuple[int, int, int]:
    """Indices of the best, median and worst sample by error (N,); NaN entries (not scored) are
    skipped. The median is the lower middle one of the scored samples when their count is even."""
    errors = np.asarray(per_sample_errors, dtype=np.float64)
    if errors.ndim != 1:
        raise ValueError(f"per_sample_errors must have shape (N,), got {errors.shape}")
    scored = np.flatnonzero(~np.isnan(errors))
    if not len(scored):
        raise ValueError("no sample has an error to rank (empty, or all NaN)")
    ranked = scored[np.argsort(errors[scored], kind="stable")]
    return int(ranked[0]), int(ranked[(len(ranked) - 1) // 2]), int(ranked[-1])


def evaluate_arrays(
    pred_joints: np.ndarray,
    gt_joints: np.ndarray,
    pred_verts: np.ndarray | None,
    gt_verts: np.ndarray | None,
    has_mesh: np.ndarray | None,
    names: Sequence[str] | None,
    out_dir: str | Path,
    *,
    pred_keypoints2d: np.ndarray | None = None,
    gt_keypoints2d: np.ndarray | None = None,
    clip_length: int | None = None,
    config: MetricConfig = FREIHAND_PROTOCOL,
    extra: dict | None = None,
    groups: Mapping[str, np.ndarray] | None = None,
) -> dict:
    """Score N samples (see `metrics.evaluate` for shapes and units), write the four files into
    `out_dir`, and return the content of metrics.json. `names` (N strings) identify the samples
    in the CSV and the examples; None numbers them. `extra` entries (e.g. the time a method
    took) are stored in metrics.json beside the metrics. `groups` maps a name to an (N,) bool
    mask; metrics.json's "groups" holds each one's sample count and `GROUP_METRICS` means."""
    arrays = _arrays_to_store(
        pred_joints,
        gt_joints,
        pred_verts,
        gt_verts,
        has_mesh,
        pred_keypoints2d,
        gt_keypoints2d,
        clip_length,
    )
    sample_names = _sample_names(names, len(arrays["pred_joints"]))
    arrays.update(names=np.array(sample_names, dtype=str), config=_config_json(config))
    evaluation = _evaluate_stored(arrays, config)
    report = _report(evaluation, sample_names, config) | (extra or {})
    if groups:
        report["groups"] = group_means(evaluation.per_sample, groups)

    out = Path(out_dir)
    with atomic_open(out / PREDICTIONS_FILE) as file:
        np.savez(file, **arrays)
    atomic_write_bytes(out / PER_SAMPLE_FILE, _per_sample_csv(evaluation, sample_names, arrays))
    atomic_write_bytes(out / PCK_PLOT_FILE, _pck_png(evaluation))
    atomic_write_bytes(out / METRICS_FILE, json.dumps(report, indent=2).encode())
    return report


def recompute_from_npz(path: str | Path) -> dict:
    """Recompute metrics.json's content from a predictions.npz written by `evaluate_arrays`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"no predictions file at {path}; expected the {PREDICTIONS_FILE} that "
            "evaluate_arrays writes beside metrics.json"
        )
    with np.load(path, allow_pickle=False) as stored:
        arrays = {key: stored[key] for key in stored.files}
    missing = [key for key in REQUIRED_ARRAYS if key not in arrays]
    if missing:
        raise ValueError(
            f"{path} lacks arrays {missing}; a {PREDICTIONS_FILE} from evaluate_arrays holds "
            f"{list(REQUIRED_ARRAYS)} (+ verts and 2D keypoints when scored)"
        )
    config = MetricConfig(**_tuples(json.loads(str(arrays["config"]))))
    return _report(_evaluate_stored(arrays, config), arrays["names"].tolist(), config)


def _arrays_to_store(
    pred_joints: object,
    gt_joints: object,
    pred_verts: object | None,
    gt_verts: object | None,
    has_mesh: object | None,
    pred_keypoints2d: object | None,
    gt_keypoints2d: object | None,
    clip_length: int | None,
) -> dict[str, np.ndarray]:
    """The inputs as NumPy arrays in their own dtype (so the file holds exactly what is scored),
    with has_mesh made explicit and optional inputs left out."""
    arrays = {"pred_joints": _numpy(pred_joints), "gt_joints": _numpy(gt_joints)}
    optional = {
        "pred_verts": pred_verts,
        "gt_verts": gt_verts,
        "pred_keypoints2d": pred_keypoints2d,
        "gt_keypoints2d": gt_keypoints2d,
    }
    arrays.update({key: _numpy(value) for key, value in optional.items() if value is not None})
    count = len(arrays["pred_joints"])
    if has_mesh is None:
        has_mesh = np.full(count, pred_verts is not None)
    arrays["has_mesh"] = _numpy(has_mesh).astype(bool)
    arrays["clip_length"] = np.array(NO_CLIPS if clip_length is None else clip_length)
    return arrays


def _numpy(value: object) -> np.ndarray:
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def _sample_names(names: Sequence[str] | None, count: int) -> list[str]:
    if names is None:
        return [str(i) for i in range(count)]
    names = [str(name) for name in names]
    if len(names) != count:
        raise ValueError(f"names has {len(names)} entries but there are {count} samples")
    return names


def _config_json(config: MetricConfig) -> np.ndarray:
    return np.array(json.dumps(asdict(config)))


def _tuples(fields: dict) -> dict:
    """JSON lists back to the tuples MetricConfig holds."""
    return {
        key: tuple(value) if isinstance(value, list) else value for key, value in fields.items()
    }


def _evaluate_stored(arrays: dict[str, np.ndarray], config: MetricConfig) -> Evaluation:
    clip_length = int(arrays["clip_length"])
    return evaluate(
        arrays["pred_joints"],
        arrays["gt_joints"],
        arrays.get("pred_verts"),
        arrays.get("gt_verts"),
        arrays["has_mesh"],
        pred_keypoints2d=arrays.get("pred_keypoints2d"),
        gt_keypoints2d=arrays.get("gt_keypoints2d"),
        clip_length=None if clip_length == NO_CLIPS else clip_length,
        config=config,
    )


def _report(evaluation: Evaluation, names: list[str], config: MetricConfig) -> dict:
    """metrics.json's content, passed through JSON so the returned dict equals the file's."""
    errors = evaluation.per_sample[EXAMPLE_METRIC]
    examples = {
        role: {"index": index, "name": names[index], EXAMPLE_METRIC: float(errors[index])}
        for role, index in zip(("best", "median", "worst"), select_examples(errors), strict=True)
    }
    curves = {"thresholds_mm": evaluation.pck_thresholds_mm.tolist()}
    curves.update({key: curve.tolist() for key, curve in evaluation.pck_curves.items()})
    report = {
        **evaluation.summary,
        "pck_curves": curves,
        "examples": examples,
        "config": asdict(config),
    }
    return json.loads(json.dumps(report))


def group_means(
    per_sample: Mapping[str, np.ndarray], groups: Mapping[str, np.ndarray]
) -> dict[str, dict[str, float | int | None]]:
    """For each named (N,) bool mask: its sample count and the mean of each of
    `GROUP_METRICS` over its scored samples (None where it has none, or the metric is absent)."""
    result = {}
    for name, mask in groups.items():
        mask = np.asarray(mask, dtype=bool)
        means: dict[str, float | int | None] = {"count": int(mask.sum())}
        for key in GROUP_METRICS:
            values = np.asarray(per_sample.get(key, []), dtype=np.float64)
            if values.shape != mask.shape:
                means[key] = None
                continue
            scored = values[mask & ~np.isnan(values)]
            means[key] = float(scored.mean()) if len(scored) else None
        result[name] = means
    return result


def _per_sample_csv(
    evaluation: Evaluation, names: list[str], arrays: dict[str, np.ndarray]
) -> bytes:
    """One row per sample: index, name, has_mesh (0/1), then every per-sample metric."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    columns = list(evaluation.per_sample)
    writer.writerow(["index", "name", "has_mesh", *columns])
    for index, name in enumerate(names):
        values = [evaluation.per_sample[key][index] for key in columns]
        cells = [NOT_AVAILABLE if np.isnan(v) else f"{v:.6f}" for v in values]
        writer.writerow([index, name, int(arrays["has_mesh"][index]), *cells])
    return buffer.getvalue().encode()


def _pck_png(evaluation: Evaluation) -> bytes:
    """The 3D PCK curves (percent against threshold in mm), AUC in the legend, as PNG bytes."""
    figure = Figure(figsize=(5.5, 4.0), dpi=120)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    thresholds = evaluation.pck_thresholds_mm
    for key, curve in evaluation.pck_curves.items():
        label, colour, style = CURVE_STYLES[key]
        auc = area_under_curve(curve, thresholds)
        axes.plot(thresholds, 100 * curve, style, color=colour, label=f"{label} (AUC {auc:.3f})")
    axes.set(xlabel="threshold (mm)", ylabel="PCK (%)", title="3D PCK", ylim=(0, 100))
    axes.set_xlim(thresholds[0], thresholds[-1])
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
