"""The detector noise model checked against its own output (notebook 03): the calibrated
parameters next to what a sample of simulated detections measures."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from s2h_lib.data.synth.noise import NoiseModel, NoiseParams, measure, simulate


@dataclass(frozen=True)
class NoiseCheck:
    """The noise model's parameters next to what a sample of its own output measures.

    table: rows (name, calibrated value, measured value); joint_sigma: (21,) calibrated and
    (21,) measured per-joint error scales (hand sizes); hands: how many hands were drawn.
    """

    table: list[tuple[str, float, float]]
    joint_sigma: np.ndarray
    measured_sigma: np.ndarray
    hands: int


def noise_check(
    params: NoiseParams, truth: np.ndarray, visible: np.ndarray, hands: int, seed: int
) -> NoiseCheck:
    """Draw `hands` detections from `NoiseModel(params)` on true keypoints (N, 21, 2) with
    visibility (N, 21) (cycled through when hands > N) and measure them as a real detector is
    measured for calibration (`noise.measure`)."""
    if hands < 1 or len(truth) == 0:
        raise ValueError(f"need at least one hand and one truth, got {hands} and {len(truth)}")
    index = np.arange(hands) % len(truth)
    rng = np.random.default_rng(seed)
    stats = measure(simulate(NoiseModel(params), truth[index], visible[index], rng))
    table = [
        ("hand_miss_rate", params.hand_miss_rate, stats.hand_miss_rate),
        ("joint_miss_rate", params.joint_miss_rate, stats.joint_miss_rate),
        ("flip_rate", params.flip_rate, stats.flip_rate),
        ("finger_swap_rate", params.finger_swap_rate, stats.finger_swap_rate),
        ("outlier_rate", params.outlier_rate, stats.outlier_rate()),
        ("hidden_scale", params.hidden_scale, stats.hidden_scale()),
        ("mean joint_sigma", float(np.mean(params.joint_sigma)), float(stats.joint_sigma().mean())),
    ]
    return NoiseCheck(table, np.asarray(params.joint_sigma), stats.joint_sigma(), hands)


def noise_figure(check: NoiseCheck) -> Figure:
    """Per-joint error scale: the calibrated table against the sample's measurement."""
    figure = Figure(figsize=(9.0, 2.8))
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    joints = np.arange(len(check.joint_sigma))
    ax.bar(joints - 0.2, check.joint_sigma, width=0.4, label="calibrated (detector_noise.json)")
    ax.bar(joints + 0.2, check.measured_sigma, width=0.4, label=f"measured on {check.hands} draws")
    ax.set_xticks(joints)
    ax.set_xlabel("keypoint (FreiHAND order: 0 wrist, 1-4 thumb, ..., 17-20 pinky)")
    ax.set_ylabel("error scale / hand size")
    ax.legend(fontsize=8)
    figure.tight_layout()
    return figure
