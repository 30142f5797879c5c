"""Every notebook in notebooks/ runs headlessly through papermill with tiny parameters, writes
finite results into its `out_dir`, and is committed clean (no outputs, a `parameters` cell).

They run in a copy of the repository as a fresh clone holds it, with nothing beside it (no
shared folder), after what `make demo` leaves there (a tiny S2H-Synth in data/s2h_synth, a
2-step model in runs/demo/train): the notebooks' default paths are their own, so each run also
checks that a clone alone runs notebooks 00-09 (issue 13) and that each writes to runs/nbNN."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from helpers.clone import copy_clone
from helpers.notebook_parameters import TINY_PARAMETERS
from helpers.tiny_training import build_tiny_synth, tiny_config
from PIL import Image

from s2h_lib.lab.notebook import NotebookRunError, notebook_problems, run_notebook
from s2h_lib.train.train_config import StageConfig
from s2h_lib.train.trainer import train

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOK_PATHS = sorted(NOTEBOOKS.glob("*.ipynb"))
CELL_TIMEOUT_S = 120
# Parameters whose value is a pytest fixture (a path made for the test): name -> fixture. The
# official MANO files are the one input a user brings from outside the clone; the benchmark and
# the model (05-09) are the clone's own, at the notebooks' default paths.
FIXTURE_PARAMETERS: dict[str, dict[str, str]] = {
    "01_hand_model_explorer.ipynb": {"mano_root": "mano_dir"},
}
# Where `make demo` leaves the benchmark and the trained model, in the clone.
DEMO_DATA = Path("data/s2h_synth")
DEMO_MODEL_RUN = Path("runs/demo/train")


@pytest.fixture(scope="session")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repository copied alone into an empty folder, with a tiny S2H-Synth (16/8/8 images,
    4 clips of 4 frames, 64 px) and a 2-step model where `make demo` puts the real ones."""
    clone = copy_clone(tmp_path_factory.mktemp("alone"))
    synth = build_tiny_synth(clone / DEMO_DATA)
    stages = (StageConfig("shape", 1, batch_size=4), StageConfig("finetune", 1, batch_size=4))
    config = tiny_config(synth, stages=stages, checkpoint_every=10)
    train(config, clone / DEMO_MODEL_RUN, progress=False)
    return clone


def finite_numbers(value: object) -> list[float]:
    """Every number inside a JSON value."""
    if isinstance(value, dict):
        return [n for item in value.values() for n in finite_numbers(item)]
    if isinstance(value, list):
        return [n for item in value for n in finite_numbers(item)]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return [value]
    return []


def check_outputs(out_dir: Path) -> dict[str, dict]:
    """Every JSON record in `out_dir`: its numbers finite, the files it lists present and
    readable (PNG/GIF as images). Returns the records by file name."""
    records = {path.name: json.loads(path.read_text()) for path in out_dir.glob("*.json")}
    assert records, f"the notebook wrote no JSON record into {out_dir}"
    for name, record in records.items():
        assert all(math.isfinite(n) for n in finite_numbers(record)), f"{name}: {record}"
        for file in record.get("files", []):
            path = out_dir / file
            assert path.is_file() and path.stat().st_size > 0, f"{name} lists missing {file}"
            if path.suffix in (".png", ".gif"):
                with Image.open(path) as image:
                    assert min(image.size) >= 16, f"{file} is {image.size}"
    return records


@pytest.mark.parametrize("path", NOTEBOOK_PATHS, ids=lambda path: path.stem)
def test_committed_notebook_is_clean(path: Path):
    assert notebook_problems(path) == []


@pytest.mark.parametrize("path", NOTEBOOK_PATHS, ids=lambda path: path.stem)
def test_notebook_runs_headless_with_tiny_parameters(
    path: Path,
    clone: Path,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
):
    if path.name not in TINY_PARAMETERS:
        pytest.fail(
            f"{path.name} has no tiny parameters: add an entry for it to TINY_PARAMETERS in "
            "tests/helpers/notebook_parameters.py (values that make it run in a few seconds on CPU)"
        )
    assert [p.name for p in clone.parent.iterdir()] == [clone.name], "nothing beside the clone"
    monkeypatch.setenv("PYTHONPATH", str(clone))  # the kernel imports the clone's package
    parameters = {**TINY_PARAMETERS[path.name], "interactive": False}
    for name, fixture in FIXTURE_PARAMETERS.get(path.name, {}).items():
        parameters[name] = str(request.getfixturevalue(fixture))
    notebook = clone / "notebooks" / path.name
    run_notebook(notebook, tmp_path / path.name, parameters, timeout_s=CELL_TIMEOUT_S)
    records = check_outputs(clone / "runs" / f"nb{path.name[:2]}")  # its default out_dir
    check_specific = SPECIFIC_CHECKS.get(path.name)
    if check_specific is not None:
        check_specific(records)


def check_explorer(records: dict[str, dict]) -> None:
    summary = records["summary.json"]
    assert summary["vertices"] > 0 and summary["faces"] > 0
    # run with the fake official model, so the comparison branch ran too
    assert summary["comparison"]["official_vertices"] > 0
    assert "open_vs_mano.png" in summary["files"]
    assert {"pca1_sweep.html", "named_poses.png", "joint_limits.png"} <= set(summary["files"])


def check_rendering(records: dict[str, dict]) -> None:
    metrics = records["metrics.json"]
    assert metrics["final_iou"] > metrics["initial_iou"] + 0.1, metrics
    assert {"fit.gif", "gradients.png", "sigma_gamma_grid.png"} <= set(metrics["files"])


def check_data(records: dict[str, dict]) -> None:
    summary = records["summary.json"]
    assert summary["counts"]["train"] > 0 and summary["photos"] == 3
    assert 0.0 < summary["test_found_rate"] <= 1.0 and summary["detector_found_rate"] > 0.0
    calibrated, measured = summary["noise_check"]["mean joint_sigma"]
    assert abs(measured - calibrated) < 0.3 * calibrated, summary["noise_check"]
    assert {"contact_sheet.png", "truth_vs_noisy.png", "clip_strip.png"} <= set(summary["files"])


def check_losses(records: dict[str, dict]) -> None:
    summary = records["summary.json"]
    terms = summary["terms"]
    assert {"keypoints_2d", "bone_direction", "photometric"} <= set(terms)
    assert abs(sum(t["weighted"] for t in terms.values()) - summary["total"]) < 1e-9
    # the keypoint term moves the camera; the shape prior only the betas
    assert terms["keypoints_2d"]["output_grad"]["trans"] > 0
    assert terms["shape_prior"]["output_grad"]["trans"] == 0
    assert summary["vanished"]["texture"] == ["mean_colour", "photometric", "texture_outliers"]
    # the photometric panel: one value per image of the batch, under the batch's own term
    per_image = summary["photometric_per_image"]
    assert len(per_image) == summary["batch"][0] and "appearance.png" in summary["files"]
    assert max(per_image) > 0 and terms["photometric"]["value"] <= max(per_image) + 1e-6


def check_photo_fit(records: dict[str, dict]) -> None:
    summary = records["summary.json"]
    assert summary["hands_found"] >= 1 and len(summary["hands"]) == summary["hands_found"]
    # the fit explains the detector's keypoints to within a few crop pixels (128 px crop)
    assert all(hand["reprojection_px"] < 10.0 for hand in summary["hands"]), summary
    assert {"detections.png", "fits.json", "mesh_views.png", "mesh_hand0.html"} <= set(
        summary["files"]
    )
    # run with a trained model: its three answers per hand, each with its pictures
    network = summary["network"]
    assert network["model"] and len(network["reprojection_px"]) == summary["hands_found"]
    labels = ["network", "network + refinement", "per-image fit"]
    assert all(list(hand) == labels for hand in network["reprojection_px"]), network
    assert {"network_vs_fit_hand0.png", "network_vs_fit_views_hand0.png"} <= set(summary["files"])


def check_training(records: dict[str, dict]) -> None:
    assert "meshes.png" in records["metrics.json"]["files"]


def check_video(records: dict[str, dict]) -> None:
    record = records["metrics.json"]
    networks = record["networks"]
    assert set(networks["models"]) == {"image-trained", "video-trained"}
    for name in networks["models"]:
        # the tiny benchmark's detector misses no hand: every 4-frame clip is one run
        scores = networks[name]
        assert scores["runs"] == networks["clips"] == 4, scores
        assert scores["jitter_mm_per_frame3"] > scores["truth_jitter_mm_per_frame3"] >= 0
    assert {"network_playback.gif", "network_strip.png", "playback.gif"} <= set(record["files"])


def check_ablation(records: dict[str, dict]) -> None:
    rows = records["ablation.json"]["rows"]
    assert list(rows) == ["baseline", "no_biomech"], rows
    assert all(row["n"] == 1 and row["pa_mpjpe_mm_mean"] > 0 for row in rows.values())


SPECIFIC_CHECKS = {
    "01_hand_model_explorer.ipynb": check_explorer,
    "05_train.ipynb": check_training,
    "08_video_and_motion.ipynb": check_video,
    "02_differentiable_rendering.ipynb": check_rendering,
    "06_ablations.ipynb": check_ablation,
    "03_data_and_keypoints.ipynb": check_data,
    "04_losses.ipynb": check_losses,
    "09_fit_your_photo.ipynb": check_photo_fit,
}


def test_bad_parameters_stop_the_run_with_a_clear_message(tmp_path: Path):
    path = NOTEBOOKS / "01_hand_model_explorer.ipynb"
    parameters = {"out_dir": str(tmp_path / "out"), "sed": 1, "dpi": "high"}
    with pytest.raises(NotebookRunError) as error:
        run_notebook(path, tmp_path / "failed.ipynb", parameters, timeout_s=CELL_TIMEOUT_S)
    message = str(error.value)
    assert "NotebookParameterError" in message
    assert "unknown parameter 'sed'" in message and "did you mean 'seed'?" in message
    assert "parameter 'dpi' must be int, got str 'high'" in message
    assert not (tmp_path / "out").exists(), "the run went past the parameter check"
