"""A self-contained HTML report of a run: metrics table, curves, overlays and a 3D mesh view.

Everything is embedded (PNG as base64, plotly.js inline), so the file opens offline and can be
mailed or archived beside the run it describes.
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from s2h_lib.atomic import atomic_write_bytes
from s2h_lib.evaluation.eval_model import DETECTED, MISSED
from s2h_lib.viz.figures import mesh_figure

TABLE_METRICS = (
    ("pa_mpjpe_mm", "PA-MPJPE (mm)"),
    ("pa_mpvpe_mm", "PA-MPVPE (mm)"),
    ("pa_auc_joints_0_50mm", "PA-AUC joints"),
    ("pa_f_score_5mm", "F@5 mm"),
    ("pa_f_score_15mm", "F@15 mm"),
    ("rr_mpjpe_mm", "root-rel. MPJPE (mm)"),
    ("mpjpe_mm", "MPJPE (mm)"),
    ("epe2d_px", "2D error (px)"),
    ("projected_size_ratio", "projected size / true"),
)
# Below this projected-size ratio a method's hands have collapsed towards a point.
COLLAPSE_RATIO = 0.25
# A network whose projected hands are within this range of their true size has not collapsed.
SIZE_RATIO_RANGE = (0.8, 1.25)


def _png(figure: Figure) -> str:
    buffer = io.BytesIO()
    FigureCanvasAgg(figure)
    figure.savefig(buffer, format="png", dpi=100)
    return base64.b64encode(buffer.getvalue()).decode()


def _img_file(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img src="data:image/png;base64,{data}" style="max-width:100%">'


def _cell(value: object) -> str:
    return f"{value:.3f}" if isinstance(value, float) else html.escape(str(value))


def metrics_table(rows: dict[str, dict]) -> str:
    """HTML table: one row per method (name -> metrics.json content)."""
    head = "".join(f"<th>{html.escape(label)}</th>" for _, label in TABLE_METRICS)
    body = ""
    for name, metrics in rows.items():
        cells = "".join(f"<td>{_cell(metrics.get(key, 'n/a'))}</td>" for key, _ in TABLE_METRICS)
        body += f"<tr><th>{html.escape(name)}</th>{cells}</tr>"
    return f"<table><tr><th>method</th>{head}</tr>{body}</table>"


def collapse_warnings(rows: dict[str, dict]) -> str:
    """An HTML warning for each method whose projected hands are under COLLAPSE_RATIO of
    their true size, saying what that means; empty when none is."""
    warnings = []
    for name, metrics in rows.items():
        ratio = metrics.get("projected_size_ratio")
        if isinstance(ratio, float) and ratio < COLLAPSE_RATIO:
            warnings.append(
                f"<p><b>{html.escape(name)}: its 2D projections have collapsed</b> to "
                f"{ratio:.1%} of the hands' true size. It has not learned where the hand "
                "is in the image, so it predicts the average position, the crop's centre, by "
                "placing the hand far away. The absolute metrics (MPJPE, MPVPE, their AUC and "
                "F-scores) are then meaningless; the PA metrics still score the articulation. "
                "This is S2HAND's known collapse of an encoder that has not learned yet: train "
                "longer (a GPU preset) or from pretrained encoder weights.</p>"
            )
    return "".join(warnings)


def _verdict(passed: bool) -> str:
    return "<b>yes</b>" if passed else "<b>no</b>"


def findings(rows: dict[str, dict], network: str, refined: str, fitting: str, mean: str) -> str:
    """An HTML list of what this run shows, with its numbers: whether the `network` beats the
    `mean` pose (PA-MPJPE, PA-MPVPE, 2D error), whether its projections keep the hands' size
    (within `SIZE_RATIO_RANGE`), and whether the network and `refined` each beat per-image
    `fitting` and in what share of its time (metrics.json's seconds_per_sample, where both
    have one)."""
    net, ref, fit, base = rows[network], rows[refined], rows[fitting], rows[mean]
    low, high = SIZE_RATIO_RANGE
    ratio = net["projected_size_ratio"]
    items = [
        f"The network beats the mean pose: {_verdict(net['pa_mpjpe_mm'] < base['pa_mpjpe_mm'])}"
        f" (PA-MPJPE {net['pa_mpjpe_mm']:.2f} mm against {base['pa_mpjpe_mm']:.2f} mm; "
        f"PA-MPVPE {net['pa_mpvpe_mm']:.2f} mm against {base['pa_mpvpe_mm']:.2f} mm; 2D error "
        f"{net['epe2d_px']:.1f} px against {base['epe2d_px']:.1f} px).",
        f"Its projections keep the hands' size: {_verdict(low <= ratio <= high)} (projected "
        f"size {ratio:.2f} of the true one{_detected_size(net, ref)}; {low:g} to {high:g} is "
        "no collapse).",
        _against_fitting("The network alone", net, fit),
        _against_fitting("Network + refinement", ref, fit),
    ]
    if _has_groups(net, base):
        items.append(_detection_finding(net, base, fit))
    return "<h2>What this run shows</h2><ul>" + "".join(f"<li>{i}</li>" for i in items) + "</ul>"


def _detected_size(net: dict, ref: dict) -> str:
    """`, X on the hands the detector found (with refinement Y)` where the rows have that
    group: the hands given where it found none sit at a default depth and move the overall
    ratio."""
    sizes = [
        row.get("groups", {}).get(DETECTED, {}).get("projected_size_ratio") for row in (net, ref)
    ]
    if sizes[0] is None:
        return ""
    text = f", {sizes[0]:.2f} on the hands the detector found"
    return text + ("" if sizes[1] is None else f" (with refinement {sizes[1]:.2f})")


def _against_fitting(method: str, row: dict, fit: dict) -> str:
    """Whether `row` beats per-image fitting (PA-MPJPE), in what share of its time."""
    text = (
        f"{method} beats per-image fitting: {_verdict(row['pa_mpjpe_mm'] < fit['pa_mpjpe_mm'])}"
        f" (PA-MPJPE {row['pa_mpjpe_mm']:.2f} mm against {fit['pa_mpjpe_mm']:.2f} mm"
    )
    if "seconds_per_sample" in row and "seconds_per_sample" in fit:
        text += f", in {row['seconds_per_sample'] / fit['seconds_per_sample']:.0%} of its time"
    return text + ")."


def _has_groups(*rows: dict) -> bool:
    return all(DETECTED in row.get("groups", {}) and MISSED in row["groups"] for row in rows)


def _detection_finding(net: dict, base: dict, fit: dict) -> str:
    """Where the detector found the hand and where it did not: the network against the mean
    pose on each (PA-MPJPE), and against per-image fitting where its row has the groups too,
    so the report says which images a lead over fitting comes from."""

    def error(row: dict, group: str) -> str:
        value = row["groups"][group]["pa_mpjpe_mm"]
        return "n/a" if value is None else f"{value:.2f} mm"

    def against(group: str) -> str:
        text = f"{error(net, group)} against the mean pose's {error(base, group)}"
        return text + (f" and per-image fitting's {error(fit, group)}" if _has_groups(fit) else "")

    found, missed = net["groups"][DETECTED]["count"], net["groups"][MISSED]["count"]
    return (
        f"The detector found the hand in {found} of {found + missed} images. There the network "
        f"scores PA-MPJPE {against(DETECTED)}; on the {missed} others it has no keypoints, only "
        f"the image, and scores {against(MISSED)}."
    )


def pck_figure(rows: dict[str, dict]) -> Figure:
    """Procrustes-aligned 3D PCK of joints for every method on one plot."""
    figure = Figure(figsize=(5, 3.5))
    ax = figure.add_subplot()
    for name, metrics in rows.items():
        curves = metrics["pck_curves"]
        auc = metrics.get("pa_auc_joints_0_50mm")
        label = f"{name} (AUC {auc:.3f})" if isinstance(auc, float) else name
        ax.plot(curves["thresholds_mm"], curves["pa_joints"], label=label)
    ax.set_xlabel("threshold (mm)")
    ax.set_ylabel("PCK, aligned joints")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    figure.tight_layout()
    return figure


def loss_figure(log_path: Path) -> Figure:
    """The total training loss per step, one colour per stage."""
    records = [json.loads(line) for line in log_path.read_text().splitlines() if line]
    figure = Figure(figsize=(5, 3.5))
    ax = figure.add_subplot()
    for stage in dict.fromkeys(r["stage"] for r in records):
        steps = [r["step"] for r in records if r["stage"] == stage]
        totals = [r["loss/total"] for r in records if r["stage"] == stage]
        ax.plot(steps, totals, label=stage)
    ax.set_xlabel("step")
    ax.set_ylabel("total loss")
    ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    figure.tight_layout()
    return figure


def mesh_view(predictions: Path, faces: np.ndarray, index: int) -> str:
    """Interactive plotly view of one sample: predicted and true mesh, aligned at the wrist."""
    arrays = np.load(predictions)
    pred = arrays["pred_verts"][index] - arrays["pred_joints"][index, :1]
    figure = mesh_figure(
        pred,
        faces,
        arrays["pred_joints"][index] - arrays["pred_joints"][index, :1],
        title=f"predicted hand: {arrays['names'][index]} (mm, wrist at 0)",
    )
    return figure.to_html(full_html=False, include_plotlyjs=True)


def write_report(
    path: Path,
    title: str,
    rows: dict[str, dict],
    eval_dirs: dict[str, Path],
    log_path: Path | None,
    faces: np.ndarray,
    notes: str = "",
    summary: str = "",
) -> Path:
    """Write the HTML report. `rows` and `eval_dirs` are keyed by method name; the first method
    is the main one (its median sample gets the 3D view). `summary`: HTML shown above the
    table (e.g. `findings`)."""
    main = next(iter(rows))
    parts = [
        f"<h1>{html.escape(title)}</h1>",
        f"<p>{notes}</p>",
        summary,
        "<h2>Test-split metrics</h2>",
        metrics_table(rows),
        collapse_warnings(rows),
        "<h2>PCK curves</h2>",
        f'<img src="data:image/png;base64,{_png(pck_figure(rows))}">',
    ]
    if log_path is not None and log_path.is_file():
        parts += [
            "<h2>Training loss</h2>",
            f'<img src="data:image/png;base64,{_png(loss_figure(log_path))}">',
        ]
    for name, folder in eval_dirs.items():
        parts += [
            f"<h2>{html.escape(name)}: best, median and worst samples</h2>",
            _img_file(folder / "examples.png"),
        ]
    median = rows[main]["examples"]["median"]["index"]
    parts += [
        "<h2>3D view (drag to rotate)</h2>",
        mesh_view(eval_dirs[main] / "predictions.npz", faces, median),
    ]
    style = (
        "body{font-family:sans-serif;max-width:1100px;margin:auto}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px}"
    )
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
        f"</title><style>{style}</style></head><body>{''.join(parts)}</body></html>"
    )
    atomic_write_bytes(path, page.encode())
    return path
