"""Benchmark pred.json files: FreiHAND's and HO3D's conventions, and `s2h eval --format`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.tiny_training import build_tiny_synth, tiny_config

from s2h_lib.cli import main
from s2h_lib.data.factory import make_dataset
from s2h_lib.evaluation.eval_model import load_trained_model, model_predictor
from s2h_lib.evaluation.submission import PRED_FILE, predict_all, to_benchmark, write_pred_json
from s2h_lib.hand.skeleton import ho3d_to_freihand
from s2h_lib.train.trainer import train

THUMB_TIP_FREIHAND, THUMB_TIP_HO3D = 4, 16  # HO3D lists MANO's 16 joints, then the tips


def random_hands(count: int = 3, verts: int = 50) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.normal(size=(count, 21, 3)), rng.normal(size=(count, verts, 3))


def test_freihand_is_the_librarys_own_convention():
    joints, verts = random_hands()
    out_joints, out_verts = to_benchmark(joints, verts, "freihand")
    assert np.array_equal(out_joints, joints) and np.array_equal(out_verts, verts)


def test_ho3d_reorders_the_joints_and_flips_to_opengl():
    joints, verts = random_hands()
    out_joints, out_verts = to_benchmark(joints, verts, "ho3d")
    flip = np.array([1.0, -1.0, -1.0])
    assert np.allclose(out_joints[:, 0], joints[:, 0] * flip), "the wrist stays first"
    assert np.allclose(out_joints[:, THUMB_TIP_HO3D], joints[:, THUMB_TIP_FREIHAND] * flip)
    back = ho3d_to_freihand(torch.from_numpy(out_joints * flip)).numpy()
    assert np.allclose(back, joints), "reading it back as data/ho3d.py does gives the input"
    assert np.allclose(out_verts, verts * flip)
    with pytest.raises(ValueError, match="benchmark must be one of"):
        to_benchmark(joints, verts, "stb")


def test_pred_json_is_two_lists_of_per_sample_arrays(tmp_path: Path):
    joints, verts = random_hands()
    xyz_list, verts_list = json.loads(
        write_pred_json(tmp_path / PRED_FILE, joints, verts).read_text()
    )
    assert np.allclose(np.array(xyz_list), joints, atol=1e-6)
    assert np.allclose(np.array(verts_list), verts, atol=1e-6)
    with pytest.raises(ValueError, match=r"\(N, 21, 3\)"):
        write_pred_json(tmp_path / PRED_FILE, joints[:, :20], verts)


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("submission")
    config = tiny_config(build_tiny_synth(root / "synth"))
    return train(config, root / "run", progress=False).model_path


def test_eval_format_freihand_writes_every_test_prediction(
    model_path: Path, tmp_path: Path, capsys
):
    out = tmp_path / "fh"
    command = f"eval --model {model_path} --format freihand --device cpu --out {out}"
    assert main(command.split()) == 0
    assert "pred.json format" in capsys.readouterr().out
    xyz_list, verts_list = json.loads((out / PRED_FILE).read_text())
    model, config = load_trained_model(model_path)
    dataset = make_dataset(config.data, "test", with_truth=False)
    joints, verts = predict_all(model_predictor(model), dataset, progress=False)
    assert len(xyz_list) == len(verts_list) == len(dataset)
    assert np.array(verts_list).shape == (len(dataset), model.hand_model.num_verts, 3)
    assert np.allclose(np.array(xyz_list), joints, atol=2e-6)
    assert np.allclose(np.array(verts_list), verts, atol=2e-6)
    assert not (out / "metrics.json").exists(), "the benchmark scores it, not s2h eval"


def test_eval_rejects_an_unknown_format(model_path: Path, tmp_path: Path, capsys):
    assert (
        main(["eval", "--model", str(model_path), "--format", "stb", "--out", str(tmp_path)]) == 2
    )
    assert "--format stb: choose metrics or one of" in capsys.readouterr().err
