"""Loading a trained model from anywhere: its relative data root is found again."""

from __future__ import annotations

from pathlib import Path

from s2h_lib.eval_model import locate_data_root


def _layout(tmp_path: Path) -> tuple[Path, Path]:
    """repo/data/synth and repo/runs/demo/train/model.pt, as `make demo` leaves them."""
    repo = tmp_path / "repo"
    (repo / "data" / "synth").mkdir(parents=True)
    (repo / "notebooks").mkdir()
    model = repo / "runs" / "demo" / "train" / "model.pt"
    model.parent.mkdir(parents=True)
    model.write_bytes(b"")
    return repo, model


def test_a_root_relative_to_where_training_ran_is_found_from_another_folder(tmp_path, monkeypatch):
    repo, model = _layout(tmp_path)
    monkeypatch.chdir(repo / "notebooks")
    found = locate_data_root("data/synth", Path("..") / model.relative_to(repo))
    assert Path(found) == (repo / "data" / "synth").resolve()


def test_a_root_that_exists_from_here_or_nowhere_is_left_as_it_is(tmp_path, monkeypatch):
    repo, model = _layout(tmp_path)
    monkeypatch.chdir(repo)
    assert locate_data_root("data/synth", model) == "data/synth"
    assert locate_data_root("data/missing", model) == "data/missing"
    absolute = str(tmp_path / "elsewhere")
    assert locate_data_root(absolute, model) == absolute
