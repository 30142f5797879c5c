"""Every worked solution in notebooks/solutions/ passes its check in `s2h_lib.lab.exercises`, every
check rejects a wrong answer and says "not yet" to a missing one, and every notebook ends with
its exercises (naming their checks and their solution file)."""

from __future__ import annotations

import importlib.util
import json
import re
from dataclasses import replace
from pathlib import Path
from types import ModuleType

import nbformat
import numpy as np
import pytest
import torch
from helpers.notebook_parameters import TINY_PARAMETERS
from helpers.tiny_training import build_tiny_synth

from s2h_lib.data.synth.dataset import SynthClips
from s2h_lib.data.synth.noise import NoiseParams
from s2h_lib.fit.fit_config import FitConfig, fit_loss_config
from s2h_lib.fit.silhouette_fit import make_scene
from s2h_lib.hand.hand_model import ManoLayer
from s2h_lib.lab import exercises as ex
from s2h_lib.lab.notebook import run_notebook

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
SOLUTIONS = NOTEBOOKS / "solutions"
EXERCISES_HEADING = "## Exercises"


def solution(notebook: str) -> ModuleType:
    """The solutions file of `notebook` (e.g. "00_tour"), imported from its path."""
    path = SOLUTIONS / f"{notebook}.py"
    spec = importlib.util.spec_from_file_location(f"solution_{notebook}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def unwritten(*args: object) -> None:
    raise NotImplementedError


def hand_keypoints(count: int, seed: int = 0) -> np.ndarray:
    """(count, 21, 2) pixel keypoints of the open hand model's rest pose, each hand moved and
    sized at random (60-120 px) in a 256 px image."""
    joints = ManoLayer(use_pca=False)(torch.zeros(1, 48))[1][0, :, :2].double().numpy()
    joints = (joints - joints.mean(0)) / np.ptp(joints, axis=0).max()
    rng = np.random.default_rng(seed)
    sizes = rng.uniform(60.0, 120.0, size=(count, 1, 1))
    return joints * sizes + rng.uniform(80.0, 176.0, size=(count, 1, 2))


def assert_correct(verdict: ex.Verdict) -> None:
    assert verdict.correct, str(verdict)
    assert str(verdict).startswith("correct: ")


def assert_rejected(verdict: ex.Verdict, *phrases: str) -> None:
    assert not verdict.correct and str(verdict).startswith("not yet: "), str(verdict)
    for phrase in phrases:
        assert phrase in verdict.message, verdict.message


@pytest.fixture(scope="module")
def tiny_synth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_synth(tmp_path_factory.mktemp("synth") / "s2h_synth")


# ---- 00 -----------------------------------------------------------------------------------


def test_00_projection():
    assert_correct(ex.check_projection(solution("00_tour").project))
    assert_rejected(ex.check_projection(lambda p, K: (p @ K.T)[:, :2]), "divide by the depth")
    assert_rejected(ex.check_projection(unwritten), "not written yet")


# ---- 01 -----------------------------------------------------------------------------------


def test_01_finger_length_beta():
    layer = ManoLayer(use_pca=False, flat_hand_mean=False)
    answer = solution("01_hand_model_explorer").finger_length_beta(layer)
    assert_correct(ex.check_finger_length_beta(answer))
    # beta 0 scales the whole hand: fingers and palm grow together
    assert answer != 0
    assert_rejected(ex.check_finger_length_beta(0), "changes finger/palm by only")
    assert_rejected(ex.check_finger_length_beta(answer + 1), "count from 0")
    assert_rejected(ex.check_finger_length_beta(None), "no answer yet")


def test_01_closing_component():
    layer = ManoLayer(use_pca=False, flat_hand_mean=False)
    index, sign = solution("01_hand_model_explorer").closing_component(layer)
    assert_correct(ex.check_closing_component(index, sign))
    assert_rejected(ex.check_closing_component(index, -sign), "opens the hand")
    assert_rejected(ex.check_closing_component(index + 1, sign), "moves the fingertips by")


# ---- 02 -----------------------------------------------------------------------------------


def test_02_soft_matches_hard():
    size = 48
    scene = make_scene(size)
    zero = torch.zeros(1, 3)
    sigma = solution("02_differentiable_rendering").largest_matching_sigma(
        scene, scene.place(zero, zero)
    )
    assert_correct(ex.check_soft_matches_hard(sigma, image_size=size))
    assert_rejected(ex.check_soft_matches_hard(4 * sigma, image_size=size), "make it smaller")
    assert_rejected(ex.check_soft_matches_hard(sigma / 4, image_size=size), "look for the largest")


def test_02_soft_iou():
    assert_correct(ex.check_soft_iou(solution("02_differentiable_rendering").soft_iou_loss))

    def summed_over_batch(pred, target):
        return 1 - (pred * target).sum() / (pred + target - pred * target).sum()

    assert_rejected(ex.check_soft_iou(summed_over_batch), "the library")


# ---- 03 -----------------------------------------------------------------------------------


def test_03_doubled_noise():
    truth = hand_keypoints(150)
    visible = np.ones(truth.shape[:2], dtype=bool)
    params, median = solution("03_data_and_keypoints").doubled_noise_median(truth, visible)
    assert_correct(ex.check_doubled_noise(params, median, truth, visible))
    calibrated = NoiseParams.load()
    assert_rejected(
        ex.check_doubled_noise(calibrated, median, truth, visible), "joint_sigma doubled"
    )
    assert_rejected(ex.check_doubled_noise(params, median / 2, truth, visible), "you give")


# ---- 04 -----------------------------------------------------------------------------------


def test_04_bone_blind_spots():
    keypoints = torch.from_numpy(hand_keypoints(2)).float()
    confidence = torch.full((2, 21), 0.9)
    blind = solution("04_losses").bone_blind_spots(keypoints, confidence)
    assert blind == {"shift", "grow", "shorten_tips"}
    assert_correct(ex.check_bone_blind_spots(blind, keypoints, confidence))
    assert_rejected(ex.check_bone_blind_spots(blind | {"turn"}, keypoints, confidence), "turn")
    assert_rejected(ex.check_bone_blind_spots({"shift"}, keypoints, confidence), "grow leaves")
    assert_rejected(ex.check_bone_blind_spots({"jump"}, keypoints, confidence), "unknown")


# ---- 05 -----------------------------------------------------------------------------------


def test_05_weak_run(tiny_synth: Path, tmp_path: Path):
    parameters = {
        **TINY_PARAMETERS["05_train.ipynb"],
        "data_root": str(tiny_synth),
        "interactive": False,
    }
    self_run = tmp_path / "self"
    run_notebook(
        NOTEBOOKS / "05_train.ipynb",
        self_run / "train.ipynb",
        {**parameters, "out_dir": str(self_run)},
    )
    assert_rejected(ex.check_weak_run(self_run, tmp_path / "weak"), "has not finished")
    weak = solution("05_train").weak_run(parameters, tmp_path / "weak")
    assert_correct(ex.check_weak_run(self_run, weak))
    assert_rejected(ex.check_weak_run(self_run, self_run), "not 'weak'")
    record = json.loads((weak / "metrics.json").read_text())
    (weak / "metrics.json").write_text(json.dumps({**record, "seed": 7}))
    assert_rejected(ex.check_weak_run(self_run, weak), "seed 0 vs 7")


# ---- 06 -----------------------------------------------------------------------------------


def test_06_acting_groups():
    answer = solution("06_ablations").acting_groups("synth-cpu-demo")
    assert answer == {"bone", "biomech"}  # the demo preset trains the 3D stage only
    assert_correct(ex.check_acting_groups("synth-cpu-demo", answer))
    assert_rejected(ex.check_acting_groups("synth-cpu-demo", answer | {"texture"}), "no term")
    assert_rejected(ex.check_acting_groups("synth-cpu-demo", {"bone"}), "biomech acts")


def test_06_grown_grid():
    grid, preset = ["bone", "biomech"], "synth-cpu-demo"
    new_grid, runs, acts = solution("06_ablations").grown_grid(grid, 2, preset, "texture")
    assert (runs, acts) == (8, False)
    assert_correct(ex.check_grown_grid(grid, 2, preset, new_grid, runs, acts))
    assert_rejected(ex.check_grown_grid(grid, 2, preset, new_grid, 6, acts), "makes 8 runs")
    assert_rejected(ex.check_grown_grid(grid, 2, preset, new_grid, runs, True), "has no term")
    assert_rejected(ex.check_grown_grid(grid, 2, preset, ["texture"], runs, acts), "plus one")


# ---- 07 -----------------------------------------------------------------------------------


def test_07_auc():
    assert_correct(ex.check_auc(solution("07_evaluate_and_browse").auc))

    def over_last_threshold(pck, thresholds):
        return np.trapezoid(pck, thresholds) / thresholds[-1]

    assert_rejected(ex.check_auc(over_last_threshold), "last - first threshold")


def test_07_procrustes():
    assert_correct(ex.check_procrustes(solution("07_evaluate_and_browse").procrustes_align))

    def centred_only(pred, gt):
        return pred - pred.mean(0) + gt.mean(0)

    assert_rejected(ex.check_procrustes(centred_only), "differs from the library")


# ---- 08 -----------------------------------------------------------------------------------


def test_08_smoothness_off(tiny_synth: Path):
    clip = SynthClips(tiny_synth)[0]
    config = FitConfig(steps=8, views=("palm",))
    off, measured = solution("08_video_and_motion").jitter_without_smoothness(clip, config)
    assert_correct(ex.check_smoothness_off(clip, off, measured))
    assert_rejected(ex.check_smoothness_off(clip, config, measured), "still has weight")
    both_off = replace(config, loss=fit_loss_config().without("motion_smooth", "motion_2d"))
    assert_rejected(ex.check_smoothness_off(clip, both_off, measured), "['motion_2d'")
    assert_rejected(ex.check_smoothness_off(clip, off, 2 * measured + 1), "you give")


# ---- 09 -----------------------------------------------------------------------------------


def test_09_crop_intrinsics():
    assert_correct(ex.check_crop_intrinsics(solution("09_fit_your_photo").crop_intrinsics))

    def centre_at_half_size(K, cx, cy, side, size):
        s = size / side
        return np.array([[s, 0, size / 2 - s * cx], [0, s, size / 2 - s * cy], [0, 0, 1]]) @ K

    assert_rejected(ex.check_crop_intrinsics(centre_at_half_size), "(size - 1) / 2")


# ---- the notebooks --------------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda p: p.stem)
def test_notebook_ends_with_its_exercises(path: Path):
    """After the summary cell: an Exercises section whose cells call checks that exist, and a
    pointer to the notebook's solutions file, which exists."""
    cells = nbformat.read(path, as_version=4).cells
    headings = [k for k, cell in enumerate(cells) if cell.source.startswith(EXERCISES_HEADING)]
    assert len(headings) == 1, f"{path.name}: expected one '{EXERCISES_HEADING}' cell"
    summary = max(k for k, cell in enumerate(cells) if cell.source.startswith("## Summary"))
    assert headings[0] > summary, f"{path.name}: the exercises come after the summary"
    tail = "\n".join(cell.source for cell in cells[headings[0] :])
    assert f"solutions/{path.stem}.py" in tail and (SOLUTIONS / f"{path.stem}.py").is_file()
    checks = set(re.findall(r"\b(check_\w+)\(", tail))
    assert 1 <= len(checks) <= 3, f"{path.name}: {sorted(checks)}"
    assert all(callable(getattr(ex, name, None)) for name in checks), sorted(checks)
