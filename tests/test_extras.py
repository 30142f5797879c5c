"""A command that needs the `detect` extra (mediapipe) and finds it missing says which extra
to install, instead of failing with a bare ImportError (mediapipe is hidden by monkeypatching)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from s2h_lib.cli import main
from s2h_lib.data.photos.detector import HandDetector
from s2h_lib.extras import MissingExtraError, require_extra
from s2h_lib.paths import SAMPLE_PHOTOS_DIR

INSTALL_COMMAND = 'pip install -e ".[detect]"'
PHOTO = "four_06aa70cc-a12a-4b1e-85cf-e54d44c19a3a.jpg"


@pytest.fixture()
def no_mediapipe(monkeypatch: pytest.MonkeyPatch) -> None:
    """`import mediapipe` fails as it does where the extra is not installed."""
    monkeypatch.setitem(sys.modules, "mediapipe", None)


@pytest.fixture()
def photos(tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    shutil.copy(SAMPLE_PHOTOS_DIR / PHOTO, folder / PHOTO)
    return folder


def test_the_detector_names_the_extra(no_mediapipe):
    with pytest.raises(MissingExtraError) as error:
        HandDetector()
    message = str(error.value)
    assert "the hand detector needs mediapipe" in message
    assert "'detect' extra" in message and INSTALL_COMMAND in message
    assert isinstance(error.value, ImportError)  # code catching ImportError still does


@pytest.mark.parametrize(
    "command",
    [
        ["data", "detect", "--images", "{photos}", "--out", "{out}/keypoints.json"],
        ["fit", "--images", "{photos}", "--out", "{out}/fit", "--steps", "2"],
    ],
    ids=["data-detect", "fit"],
)
def test_commands_that_need_the_detector_say_which_extra(
    no_mediapipe, photos: Path, tmp_path: Path, capsys, command: list[str]
):
    argv = [part.format(photos=photos, out=tmp_path / "out") for part in command]
    assert main(argv) == 2
    message = capsys.readouterr().err
    assert message.startswith("s2h: the hand detector needs mediapipe")
    assert INSTALL_COMMAND in message and "Traceback" not in message


def test_an_installed_module_is_returned():
    assert require_extra("json", "detect", "a test") is sys.modules["json"]
