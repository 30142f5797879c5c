"""`s2h data detect`: a folder of photos to a resumable keypoints JSON file."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest

from s2h_lib.cli import main
from s2h_lib.data.image_io import read_rgb
from s2h_lib.data.photos.detect_folder import KEYPOINTS_FORMAT, detect_folder, load_keypoints_json
from s2h_lib.data.photos.detector import DetectorConfig, HandDetector
from s2h_lib.paths import SAMPLE_PHOTOS_DIR as PHOTOS
from s2h_lib.viz.figures import CONFIDENT_MARKER_SIZE, draw_skeleton_2d

pytest.importorskip(
    "mediapipe", reason="the detector extra is not installed (pip install -e .[detect])"
)

HAND_PHOTOS = (
    "call_044768ad-1709-44ba-b041-c2f8cbe4c166.jpg",
    "four_15a73593-b13e-4a1b-99bb-51775cfdfc42.jpg",
)
EXTRA_PHOTO = "four_06aa70cc-a12a-4b1e-85cf-e54d44c19a3a.jpg"


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    """Two photos with a hand, one corrupt 'photo' and a file that is no image at all."""
    images = tmp_path / "photos"
    images.mkdir()
    for name in HAND_PHOTOS:
        shutil.copy(PHOTOS / name, images / name)
    (images / "broken.jpg").write_bytes(b"\xff\xd8 this is not really a jpeg")
    (images / "notes.txt").write_text("not an image, not listed")
    return images


@pytest.fixture()
def detect_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records the image shape of each `HandDetector.detect` call; detection still runs."""
    calls = []
    real = HandDetector.detect

    def counting(self, rgb):
        calls.append(rgb.shape)
        return real(self, rgb)

    monkeypatch.setattr(HandDetector, "detect", counting)
    return calls


def test_cli_detects_the_photos_and_records_the_corrupt_one(folder: Path, tmp_path, capsys):
    out = tmp_path / "out" / "keypoints.json"
    assert main(["data", "detect", "--images", str(folder), "--out", str(out)]) == 0
    assert "broken.jpg" in capsys.readouterr().out
    record = json.loads(out.read_text())
    assert record["format"] == KEYPOINTS_FORMAT
    assert sorted(record["images"]) == sorted(HAND_PHOTOS)
    assert list(record["failures"]) == ["broken.jpg"]
    assert "cannot read image" in record["failures"]["broken.jpg"]
    loaded = load_keypoints_json(out)
    with HandDetector() as detector:
        for name in HAND_PHOTOS:
            rgb = read_rgb(folder / name)
            image = loaded.images[name]
            assert (image.height, image.width) == rgb.shape[:2]
            fresh = detector.detect(rgb)
            assert len(image.hands) == len(fresh) >= 1
            np.testing.assert_allclose(image.hands[0].keypoints, fresh[0].keypoints, atol=1e-4)
            np.testing.assert_allclose(image.hands[0].confidence, fresh[0].confidence, atol=1e-6)
            assert image.hands[0].handedness == fresh[0].handedness


def test_resume_skips_the_images_already_done(folder: Path, tmp_path, detect_calls):
    out = tmp_path / "keypoints.json"
    detect_folder(folder, out, progress=False)
    assert len(detect_calls) == 2, "the two readable photos; the corrupt one fails on reading"
    detect_calls.clear()
    again = detect_folder(folder, out, progress=False)
    assert detect_calls == [] and sorted(again.images) == sorted(HAND_PHOTOS)
    shutil.copy(PHOTOS / EXTRA_PHOTO, folder / EXTRA_PHOTO)
    more = detect_folder(folder, out, progress=False)
    assert len(detect_calls) == 1 and EXTRA_PHOTO in more.images
    assert EXTRA_PHOTO in load_keypoints_json(out).images


def test_an_interrupted_run_keeps_what_it_finished(folder: Path, tmp_path, monkeypatch):
    out = tmp_path / "keypoints.json"
    real, calls = HandDetector.detect, []

    def stop_on_second(self, rgb):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(self, rgb)

    monkeypatch.setattr(HandDetector, "detect", stop_on_second)
    with pytest.raises(KeyboardInterrupt):
        detect_folder(folder, out, save_every=1, progress=False)
    assert len(load_keypoints_json(out).images) == 1, "the first photo was saved"
    monkeypatch.setattr(HandDetector, "detect", real)
    finished = detect_folder(folder, out, progress=False)
    assert sorted(finished.images) == sorted(HAND_PHOTOS)


def test_other_settings_do_not_resume_silently(folder: Path, tmp_path, capsys):
    out = tmp_path / "keypoints.json"
    detect_folder(folder, out, progress=False)
    with pytest.raises(ValueError, match="--no-resume"):
        detect_folder(folder, out, DetectorConfig(max_hands=1), progress=False)
    args = ["data", "detect", "--images", str(folder), "--out", str(out), "--max-hands", "1"]
    assert main(args) == 2
    assert "other detector settings" in capsys.readouterr().err
    assert main([*args, "--no-resume"]) == 0
    assert load_keypoints_json(out).detector["max_hands"] == 1


def test_missing_folder_is_a_clear_error(tmp_path, capsys):
    missing = tmp_path / "nowhere"
    assert (
        main(["data", "detect", "--images", str(missing), "--out", str(tmp_path / "k.json")]) == 2
    )
    assert f"image folder not found: {missing}" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        (json.dumps([1, 2, 3]), "is not a keypoints file"),
        (json.dumps({"format": KEYPOINTS_FORMAT, "detector": {}}), "malformed"),
        (
            json.dumps(
                {
                    "format": KEYPOINTS_FORMAT,
                    "detector": {},
                    "failures": {},
                    "images": {
                        "a.jpg": {
                            "width": 4,
                            "height": 4,
                            "hands": [
                                {
                                    "keypoints": [[0, 0]] * 20,
                                    "confidence": [1] * 21,
                                    "score": 1,
                                    "handedness": "right",
                                }
                            ],
                        }
                    },
                }
            ),
            r"\(21, 2\)",
        ),
    ],
)
def test_malformed_keypoint_files_name_the_file(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=message) as error:
        load_keypoints_json(path)
    assert str(path) in str(error.value)


def test_missing_keypoint_file_says_how_to_make_one(tmp_path):
    with pytest.raises(FileNotFoundError, match="s2h data detect"):
        load_keypoints_json(tmp_path / "none.json")


def _detect_photos_script():
    path = Path(__file__).resolve().parents[1] / "data_scripts" / "detect_photos.py"
    spec = importlib.util.spec_from_file_location("detect_photos", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_script_draws_one_overlay_per_readable_photo_and_a_sheet(folder: Path, tmp_path):
    result = detect_folder(folder, progress=False)
    written = _detect_photos_script().write_pictures(folder, result, tmp_path / "detect")
    names = sorted(p.name for p in written)
    assert names == sorted([*(f"{Path(n).stem}.png" for n in HAND_PHOTOS), "contact_sheet.png"])
    overlay = plt.imread(written[0])
    assert overlay.shape[1] > overlay.shape[0], "the photo beside a close-up of its hand"


def test_overlay_markers_show_confidence():
    fig, ax = plt.subplots()
    confidence = np.linspace(0.0, 1.0, 21)
    draw_skeleton_2d(ax, np.random.default_rng(0).uniform(0, 50, (21, 2)), confidence=confidence)
    np.testing.assert_allclose(ax.collections[-1].get_sizes(), CONFIDENT_MARKER_SIZE * confidence)
    bone_alphas = [line.get_alpha() for line in ax.lines]
    assert bone_alphas[0] == pytest.approx(0.25) and bone_alphas[-1] == pytest.approx(
        0.25 + 0.75 * 0.95
    )
    plt.close(fig)
