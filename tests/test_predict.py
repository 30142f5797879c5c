"""`s2h predict` on the real photos shipped in s2h_lib/assets/photos, with a tiny trained model:
the files per photo, the camera frame they are in, left hands, refinement and clear errors."""

from __future__ import annotations

import json
import shlex
import shutil
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.tiny_training import build_tiny_synth, tiny_config

import s2h_lib.fit.fit_photos as fit_photos_module
from s2h_lib.cli import main
from s2h_lib.data.sample import collate_samples
from s2h_lib.evaluation.eval_model import load_trained_model
from s2h_lib.fit.fit_config import FitConfig
from s2h_lib.paths import SAMPLE_PHOTOS_DIR
from s2h_lib.predict import (
    OVERLAY_SUFFIX,
    PREDICT_FORMAT,
    crop_reprojection_px,
    detect_photo,
    photo_crops,
    predict_hand,
)
from s2h_lib.train.trainer import train

pytest.importorskip("mediapipe")

TWO_HANDS = "call_17d804b5-7118-462d-8191-58d764f591b8.jpg"  # a left and a right hand
NO_HAND = "call_143f8b21-1dc3-4383-bf36-0a54244dfbc0.jpg"  # the detector finds none
ONE_HAND = "four_06aa70cc-a12a-4b1e-85cf-e54d44c19a3a.jpg"


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model.pt as `s2h train` writes it: a tiny network with the keypoint-anchored camera
    (the presets'), trained a few steps (it is not accurate: the tests check geometry)."""
    root = tmp_path_factory.mktemp("predict")
    config = tiny_config(build_tiny_synth(root / "synth"))
    config = replace(config, model=replace(config.model, camera="keypoints"))
    return train(config, root / "run", progress=False).model_path


def read_obj(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Vertices (V, 3) and 0-based triangles (F, 3) of an OBJ file."""
    lines = path.read_text().splitlines()
    verts = [list(map(float, line.split()[1:])) for line in lines if line.startswith("v ")]
    faces = [list(map(int, line.split()[1:])) for line in lines if line.startswith("f ")]
    return np.array(verts), np.array(faces) - 1


def test_predict_writes_overlay_mesh_and_json_in_the_photos_camera_frame(
    model_path: Path, tmp_path: Path, capsys
):
    out = tmp_path / "out"
    photo = SAMPLE_PHOTOS_DIR / TWO_HANDS
    argv = ["predict", str(photo), "--model", str(model_path), "--out", str(out)]
    assert main([*argv, "--device", "cpu"]) == 0
    stem = Path(TWO_HANDS).stem
    assert f"{TWO_HANDS}: {stem}.json" in capsys.readouterr().out
    result = json.loads((out / f"{stem}.json").read_text())
    assert result["format"] == PREDICT_FORMAT and not result["refined"]
    assert (out / result["overlay"]).stat().st_size > 10_000 and result["overlay"].endswith(
        OVERLAY_SUFFIX
    )
    assert sorted(hand["side"] for hand in result["hands"]) == ["left", "right"]
    K = np.array(result["K"])
    width, height = result["image_size"]
    net, _ = load_trained_model(model_path)
    faces = net.faces.numpy()
    for hand in result["hands"]:
        joints = np.array(hand["joints3d"])
        projected = joints @ K.T
        projected = projected[:, :2] / projected[:, 2:]
        # 3D is in the photo's camera frame: its joints project onto its photo keypoints
        assert np.abs(projected - np.array(hand["keypoints2d"])).max() < 0.05
        assert joints[:, 2].min() > 0, "in front of the camera"
        box = hand["camera"]["crop"]
        assert abs(projected[:, 0].mean() - box["cx"]) < box["side"] / 2
        assert abs(projected[:, 1].mean() - box["cy"]) < box["side"] / 2
        assert 0 <= box["cx"] < width and 0 <= box["cy"] < height
        verts, mesh_faces = read_obj(out / hand["mesh"])
        assert verts.shape == (net.hand_model.num_verts, 3)
        # the mesh is in metres in the same frame as the joints: the hand is about 0.1-0.3 m
        assert 0.05 < np.ptp(verts, axis=0).max() < 0.4
        assert np.linalg.norm(verts.mean(0) - joints.mean(0)) < 0.05
        expected = faces[:, ::-1] if hand["side"] == "left" else faces
        assert np.array_equal(mesh_faces, expected), "a mirrored (left) mesh's winding flips"
        assert len(hand["pose"]["pose_coeffs"]) == net.config.ncomps
        assert np.array(hand["pose"]["joint_angles"]).shape == (16, 3)


def test_a_left_hand_goes_through_the_mirror(model_path: Path):
    net, config = load_trained_model(model_path)
    photo = detect_photo(SAMPLE_PHOTOS_DIR / TWO_HANDS)
    left = next(h for h in photo_crops(photo, config.data.image_size) if h.side == "left")
    pred = predict_hand(net, left)
    with torch.no_grad():  # the right-hand network on the mirrored crop, mirrored back by hand
        seen = net.predict(collate_samples([left.to_fit]))
    assert torch.allclose(pred.joints, seen.joints * torch.tensor([-1.0, 1.0, 1.0]), atol=1e-6)


def test_refine_brings_the_joints_to_the_detector(model_path: Path):
    net, config = load_trained_model(model_path)
    photo = detect_photo(SAMPLE_PHOTOS_DIR / ONE_HAND)
    (hand,) = photo_crops(photo, config.data.image_size)
    before = crop_reprojection_px(predict_hand(net, hand), hand)
    after = crop_reprojection_px(predict_hand(net, hand, refine=True), hand)
    assert after < 0.7 * before, (before, after)


def test_refine_and_ply_through_the_command(model_path: Path, tmp_path: Path):
    photo = SAMPLE_PHOTOS_DIR / ONE_HAND
    argv = ["predict", str(photo), "--model", str(model_path), "--out", str(tmp_path)]
    assert main([*argv, "--refine", "--mesh", "ply"]) == 0
    result = json.loads((tmp_path / f"{photo.stem}.json").read_text())
    assert result["refined"]
    ply = (tmp_path / result["hands"][0]["mesh"]).read_text().splitlines()
    assert ply[0] == "ply" and result["hands"][0]["mesh"].endswith(".ply")
    net, _ = load_trained_model(model_path)
    assert f"element vertex {net.hand_model.num_verts}" in ply


def test_a_folder_skips_photos_without_a_hand_and_broken_files(
    model_path: Path, tmp_path: Path, capsys
):
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in (ONE_HAND, NO_HAND):
        shutil.copy(SAMPLE_PHOTOS_DIR / name, folder / name)
    (folder / "broken.jpg").write_bytes(b"not an image")
    out = tmp_path / "out"
    assert main(["predict", str(folder), "--model", str(model_path), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "hands in 1 photo(s)" in printed
    assert "skipped broken.jpg: cannot read image" in printed
    assert f"skipped {NO_HAND}: no hand found in" in printed
    assert sorted(p.name for p in out.glob("*.json")) == [f"{Path(ONE_HAND).stem}.json"]


@pytest.mark.parametrize(
    ("photo", "model", "message"),
    [
        (NO_HAND, "model", "s2h: no hand found in"),
        ("missing.jpg", "model", "no such photo or folder of photos"),
        (ONE_HAND, "missing", "model file not found"),
    ],
    ids=["no-hand", "missing-photo", "missing-model"],
)
def test_clear_errors(model_path: Path, tmp_path: Path, capsys, photo, model, message):
    model = model_path if model == "model" else tmp_path / "model.pt"
    argv = ["predict", str(SAMPLE_PHOTOS_DIR / photo), "--model", str(model)]
    assert main([*argv, "--out", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err
    assert message in error and "Traceback" not in error
    assert not list(tmp_path.glob("out/*.json")), "nothing is written for a failed photo"


def test_without_mediapipe_the_command_names_the_extra(
    model_path: Path, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setitem(sys.modules, "mediapipe", None)
    argv = ["predict", str(SAMPLE_PHOTOS_DIR / ONE_HAND), "--model", str(model_path)]
    assert main([*argv, "--out", str(tmp_path)]) == 2
    assert 'pip install -e ".[detect]"' in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message where there is no GPU")
def test_cuda_without_a_gpu_is_a_clear_error(model_path: Path, tmp_path: Path, capsys):
    argv = ["predict", str(SAMPLE_PHOTOS_DIR / ONE_HAND), "--model", str(model_path)]
    assert main([*argv, "--out", str(tmp_path), "--device", "cuda"]) == 2
    assert "no CUDA device" in capsys.readouterr().err


def test_notebook_09s_fit_takes_the_crops_it_was_given(tmp_path: Path, monkeypatch):
    """Notebook 09 detects once (`detect_photo`) and hands the crops to `fit_photos`, which
    then must not run the detector again."""
    photo = detect_photo(SAMPLE_PHOTOS_DIR / ONE_HAND)
    hands = photo_crops(photo, 64)

    def no_second_detection(*args, **kwargs):
        raise AssertionError("the detector ran a second time")

    monkeypatch.setattr(fit_photos_module, "HandDetector", no_second_detection)
    monkeypatch.setattr(fit_photos_module, "PhotoFolder", no_second_detection)
    report = fit_photos_module.fit_photos(
        photo.path, tmp_path, FitConfig(steps=3, views=("palm",)), size=64, found=hands
    )
    assert [hand["side"] for hand in report["hands"]] == [hands[0].side]
    assert report["hands"][0]["crop"]["side"] == pytest.approx(hands[0].box.side)


def test_the_readmes_predict_command_as_written(model_path: Path, tmp_path: Path, monkeypatch):
    """The README's `s2h predict ...` line, run from a folder laid out as the repository root
    after `make demo` (its model.pt, two of the shipped photos to keep it short)."""
    readme = (Path(__file__).parents[1] / "README.md").read_text().splitlines()
    (command,) = [line for line in readme if line.startswith("s2h predict s2h_lib/assets/")]
    photos = tmp_path / "s2h_lib" / "assets" / "photos"
    photos.mkdir(parents=True)
    for name in (ONE_HAND, NO_HAND):
        shutil.copy(SAMPLE_PHOTOS_DIR / name, photos / name)
    (tmp_path / "runs" / "demo" / "train").mkdir(parents=True)
    shutil.copy(model_path, tmp_path / "runs" / "demo" / "train" / "model.pt")
    monkeypatch.chdir(tmp_path)
    assert main(shlex.split(command)[1:]) == 0
    result = json.loads((tmp_path / "runs" / "predict" / f"{Path(ONE_HAND).stem}.json").read_text())
    assert (tmp_path / "runs" / "predict" / result["hands"][0]["mesh"]).is_file()
