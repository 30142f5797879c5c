"""Loading a trained model: from anywhere (its relative data root is found again), and
safely (a model file is read as tensors and plain types only)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from helpers.tiny_training import tiny_config

from s2h_lib.evaluation.eval_model import ModelFileError, load_trained_model, locate_data_root
from s2h_lib.net.model import HandNet
from s2h_lib.train.train_config import TrainConfig
from s2h_lib.train.trainer import save_model


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


# ---- model.pt: tensors and plain types only, read with weights_only=True --------------------


class RunsOnLoad:
    """Unpickling this calls `_record_load`: what a malicious model file would do."""

    def __reduce__(self):
        return (_record_load, ())


LOADS: list[str] = []


def _record_load() -> str:
    LOADS.append("ran")
    return "ran"


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, TrainConfig]:
    folder = tmp_path_factory.mktemp("model")
    config = tiny_config(folder / "synth")
    save_model(folder / "model.pt", HandNet(config.model), config)
    return folder / "model.pt", config


def test_a_saved_model_holds_only_tensors_and_plain_types(saved_model):
    path, config = saved_model
    payload = torch.load(path, weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in payload["model"].values())
    assert json.loads(json.dumps(payload["config"])) == payload["config"]
    model, loaded = load_trained_model(path)
    assert loaded == config
    for name, tensor in HandNet(config.model).state_dict().items():
        assert model.state_dict()[name].shape == tensor.shape


def test_a_model_file_that_would_run_code_is_refused_unrun(saved_model, tmp_path: Path):
    path, _ = saved_model
    payload = torch.load(path, weights_only=True)
    payload["config"]["name"] = RunsOnLoad()
    evil = tmp_path / "model.pt"
    torch.save(payload, evil)
    with pytest.raises(ModelFileError, match="more than tensors and plain types"):
        load_trained_model(evil)
    assert LOADS == []


def test_a_model_file_from_before_eval_split_was_removed_still_loads(saved_model, tmp_path):
    path, config = saved_model
    payload = torch.load(path, weights_only=True)
    payload["config"]["data"]["eval_split"] = "evaluation"
    old = tmp_path / "model.pt"
    torch.save(payload, old)
    assert load_trained_model(old)[1] == config
