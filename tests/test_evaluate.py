"""The evaluation writer: files written, metrics recomputable from predictions.npz, examples."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from s2h_lib.evaluation.evaluate import (
    METRICS_FILE,
    PCK_PLOT_FILE,
    PER_SAMPLE_FILE,
    PREDICTIONS_FILE,
    evaluate_arrays,
    recompute_from_npz,
    select_examples,
)
from s2h_lib.evaluation.metrics import NOT_AVAILABLE, MetricConfig, summary_keys

COUNT, VERTS, CLIP = 8, 40, 4
IN_FRONT = np.array([0.0, 0.0, 0.5])  # metres from the camera


def scene(seed: int) -> dict[str, np.ndarray]:
    """A small float32 evaluation set: 2 clips of 4 frames, meshes on 5 samples, 2D keypoints."""
    rng = np.random.default_rng(seed)
    gt_joints = rng.normal(scale=0.04, size=(COUNT, 21, 3)) + IN_FRONT
    gt_verts = rng.normal(scale=0.04, size=(COUNT, VERTS, 3)) + IN_FRONT
    gt_2d = rng.uniform(20, 200, size=(COUNT, 21, 2))
    has_mesh = np.array([1, 1, 0, 1, 0, 1, 0, 1], bool)
    gt_verts[~has_mesh] = 0.0
    return {
        "pred_joints": (gt_joints + rng.normal(scale=0.01, size=gt_joints.shape)).astype("f4"),
        "gt_joints": gt_joints.astype("f4"),
        "pred_verts": (gt_verts + rng.normal(scale=0.01, size=gt_verts.shape)).astype("f4"),
        "gt_verts": gt_verts.astype("f4"),
        "has_mesh": has_mesh,
        "pred_keypoints2d": (gt_2d + rng.normal(scale=6, size=gt_2d.shape)).astype("f4"),
        "gt_keypoints2d": gt_2d.astype("f4"),
    }


def run(data: dict[str, np.ndarray], out_dir: Path, **options) -> dict:
    return evaluate_arrays(
        data["pred_joints"],
        data["gt_joints"],
        data["pred_verts"],
        data["gt_verts"],
        data["has_mesh"],
        [f"clip{i // CLIP}/frame{i % CLIP}" for i in range(COUNT)],
        out_dir,
        pred_keypoints2d=data["pred_keypoints2d"],
        gt_keypoints2d=data["gt_keypoints2d"],
        **options,
    )


def test_writes_every_file_and_recompute_reproduces_metrics_json(tmp_path: Path) -> None:
    config = MetricConfig(pck_steps=50, fscore_thresholds_m=(0.01,))
    report = run(scene(0), tmp_path, clip_length=CLIP, config=config)
    written = json.loads((tmp_path / METRICS_FILE).read_text())
    assert written == report
    assert recompute_from_npz(tmp_path / PREDICTIONS_FILE) == written
    assert [k for k in written if k in summary_keys(config)] == summary_keys(config)
    assert written["num_with_mesh"] == 5 and written["num_clips"] == 2
    assert all(written[key] != NOT_AVAILABLE for key in summary_keys(config))
    assert len(written["pck_curves"]["thresholds_mm"]) == 50
    assert set(written["pck_curves"]) == {
        "thresholds_mm",
        "joints",
        "pa_joints",
        "verts",
        "pa_verts",
    }
    assert written["config"]["fscore_thresholds_m"] == [0.01]
    with Image.open(tmp_path / PCK_PLOT_FILE) as image:
        assert image.format == "PNG" and min(image.size) > 200
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [METRICS_FILE, PER_SAMPLE_FILE, PREDICTIONS_FILE, PCK_PLOT_FILE]
    )


def test_predictions_npz_holds_the_inputs_unchanged(tmp_path: Path) -> None:
    data = scene(1)
    run(data, tmp_path)
    with np.load(tmp_path / PREDICTIONS_FILE, allow_pickle=False) as stored:
        for key, value in data.items():
            np.testing.assert_array_equal(stored[key], value)
            assert stored[key].dtype == value.dtype
        assert stored["names"][5] == "clip1/frame1"
        assert int(stored["clip_length"]) == 0


def test_per_sample_csv_rows_match_the_summary(tmp_path: Path) -> None:
    data = scene(2)
    report = run(data, tmp_path)
    with (tmp_path / PER_SAMPLE_FILE).open() as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == COUNT
    assert rows[2]["name"] == "clip0/frame2" and rows[2]["has_mesh"] == "0"
    assert rows[2]["pa_mpvpe_mm"] == NOT_AVAILABLE and rows[3]["pa_mpvpe_mm"] != NOT_AVAILABLE
    for key in ("mpjpe_mm", "pa_mpjpe_mm", "rr_mpjpe_mm", "epe2d_px"):
        mean = np.mean([float(row[key]) for row in rows])
        assert mean == pytest.approx(report[key], abs=1e-6)
    scored = [float(row["mpvpe_mm"]) for row in rows if row["has_mesh"] == "1"]
    assert np.mean(scored) == pytest.approx(report["mpvpe_mm"], abs=1e-6)
    assert {"f_score_5mm", "pa_f_score_15mm"} <= set(rows[0])


def test_examples_are_best_median_worst_by_pa_mpjpe(tmp_path: Path) -> None:
    report = run(scene(3), tmp_path)
    with (tmp_path / PER_SAMPLE_FILE).open() as file:
        errors = [float(row["pa_mpjpe_mm"]) for row in csv.DictReader(file)]
    order = np.argsort(errors)
    assert report["examples"]["best"]["index"] == order[0]
    assert report["examples"]["median"]["index"] == order[(COUNT - 1) // 2]
    assert report["examples"]["worst"]["name"] == f"clip{order[-1] // CLIP}/frame{order[-1] % CLIP}"


def test_select_examples_skips_unscored_samples() -> None:
    assert select_examples([3.0, np.nan, 1.0, 2.0, 5.0]) == (2, 3, 4)
    assert select_examples([4.0]) == (0, 0, 0)
    with pytest.raises(ValueError, match="no sample has an error"):
        select_examples([np.nan, np.nan])


def test_joints_only_torch_inputs_and_no_names(tmp_path: Path) -> None:
    data = scene(4)
    report = evaluate_arrays(
        torch.from_numpy(data["pred_joints"]),
        torch.from_numpy(data["gt_joints"]),
        None,
        None,
        None,
        None,
        tmp_path,
    )
    assert report["mpvpe_mm"] == NOT_AVAILABLE and report["num_with_mesh"] == 0
    assert set(report["pck_curves"]) == {"thresholds_mm", "joints", "pa_joints"}
    assert recompute_from_npz(tmp_path / PREDICTIONS_FILE) == report
    assert (tmp_path / PCK_PLOT_FILE).stat().st_size > 0


def test_bad_inputs_and_files_are_explained(tmp_path: Path) -> None:
    data = scene(5)
    with pytest.raises(ValueError, match="names has 2 entries but there are 8 samples"):
        evaluate_arrays(
            data["pred_joints"], data["gt_joints"], None, None, None, ["a", "b"], tmp_path
        )
    with pytest.raises(FileNotFoundError, match=r"no predictions file at .*missing\.npz"):
        recompute_from_npz(tmp_path / "missing.npz")
    partial = tmp_path / "partial.npz"
    np.savez(partial, pred_joints=data["pred_joints"])
    with pytest.raises(ValueError, match="lacks arrays \\['gt_joints', 'has_mesh'"):
        recompute_from_npz(partial)
    assert not (tmp_path / METRICS_FILE).exists()


def test_group_means_are_the_means_of_their_per_sample_rows(tmp_path: Path) -> None:
    data = scene(4)
    first_clip = np.arange(COUNT) < CLIP
    report = run(data, tmp_path, groups={"first": first_clip, "none": np.zeros(COUNT, bool)})
    with (tmp_path / PER_SAMPLE_FILE).open() as file:
        rows = list(csv.DictReader(file))
    first = report["groups"]["first"]
    assert first["count"] == CLIP
    for key in ("pa_mpjpe_mm", "epe2d_px", "projected_size_ratio"):
        expected = np.mean([float(rows[i][key]) for i in range(CLIP)])
        assert first[key] == pytest.approx(expected, abs=1e-6)
    # samples 2 has no mesh: the vertex mean is over 0, 1 and 3 only
    expected = np.mean([float(rows[i]["pa_mpvpe_mm"]) for i in (0, 1, 3)])
    assert first["pa_mpvpe_mm"] == pytest.approx(expected, abs=1e-6)
    assert report["groups"]["none"] == {
        "count": 0,
        "pa_mpjpe_mm": None,
        "pa_mpvpe_mm": None,
        "epe2d_px": None,
        "projected_size_ratio": None,
    }
    assert json.loads((tmp_path / METRICS_FILE).read_text())["groups"] == report["groups"]
