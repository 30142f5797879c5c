"""The repository root that notebook paths hang from, and `repo_path()` notebook parameters."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from s2h_lib.lab.notebook import parameters_from_namespace, repo_path
from s2h_lib.paths import PACKAGE_DIR, SAMPLE_PHOTOS_DIR, in_repo, is_repo_root, repo_root

REPO = Path(__file__).resolve().parent.parent


def make_clone(folder: Path) -> Path:
    """An empty folder with the repository's top-level markers."""
    (folder / "notebooks").mkdir(parents=True)
    (folder / "s2h_lib").mkdir()
    (folder / "pyproject.toml").write_text("[project]\n")
    return folder


def test_this_checkout_is_a_repo_root():
    assert is_repo_root(REPO)
    assert not is_repo_root(REPO / "notebooks")


def test_the_root_is_found_from_the_root_and_from_notebooks(tmp_path: Path, monkeypatch):
    clone = make_clone(tmp_path / "clone")
    monkeypatch.chdir(clone)
    assert repo_root() == clone
    monkeypatch.chdir(clone / "notebooks")
    assert repo_root() == clone
    assert in_repo("runs/nb05") == clone / "runs" / "nb05"


def test_outside_any_clone_the_package_clone_then_the_folder_itself(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # this package is an editable install inside a clone: that clone is the root
    assert repo_root() == PACKAGE_DIR.parent == REPO
    monkeypatch.setattr("s2h_lib.paths.PACKAGE_DIR", tmp_path / "site-packages" / "s2h_lib")
    assert repo_root() == tmp_path


def test_absolute_and_home_paths_are_kept(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert in_repo(tmp_path / "x") == tmp_path / "x"
    assert in_repo("~/me.jpg") == tmp_path / "home" / "me.jpg"


def test_the_sample_photos_ship_with_their_licence():
    photos = sorted(SAMPLE_PHOTOS_DIR.glob("*.jpg"))
    assert len(photos) >= 10
    notice = (SAMPLE_PHOTOS_DIR / "NOTICE.md").read_text()
    assert "Apache" in notice and "google-ai-edge/mediapipe" in notice
    licence = (SAMPLE_PHOTOS_DIR / "LICENSE-APACHE-2.0.txt").read_text()
    assert "Apache License" in licence and "Version 2.0" in licence


@dataclass(frozen=True)
class PathParams:
    out_dir: str = repo_path()
    model_path: str | None = repo_path()
    label: str


@pytest.mark.parametrize("where", ["root", "notebooks"])
def test_repo_path_parameters_mean_the_same_folder_wherever_the_kernel_runs(
    tmp_path: Path, monkeypatch, where: str
):
    clone = make_clone(tmp_path / "clone")
    monkeypatch.chdir(clone if where == "root" else clone / "notebooks")
    namespace = {"out_dir": "runs/nb05", "model_path": None, "label": "runs/x"}
    params = parameters_from_namespace(PathParams, namespace)
    assert params.out_dir == str(clone / "runs" / "nb05")
    assert params.model_path is None
    assert params.label == "runs/x"  # not a path field: left alone
    absolute = str(tmp_path / "elsewhere" / "model.pt")
    params = parameters_from_namespace(PathParams, {**namespace, "model_path": absolute})
    assert params.model_path == absolute
