"""An evaluation folder is reused only for the request it was made for (notebook 07)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from s2h_lib.evaluation.eval_cache import cached_report, eval_request, remember_request
from s2h_lib.evaluation.evaluate import METRICS_FILE


def finished_eval(folder: Path, request: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / METRICS_FILE).write_text(json.dumps({"pa_mpjpe_mm": 12.5}))
    remember_request(folder, request)


def test_the_same_request_reuses_the_report(tmp_path: Path):
    model = tmp_path / "model.pt"
    model.write_bytes(b"weights")
    request = eval_request(model, tmp_path / "data", "test", None)
    finished_eval(tmp_path / "eval", request)
    assert cached_report(tmp_path / "eval", request) == {"pa_mpjpe_mm": 12.5}


def test_another_split_count_data_or_model_is_not_reused(tmp_path: Path):
    model = tmp_path / "model.pt"
    model.write_bytes(b"weights")
    request = eval_request(model, tmp_path / "data", "test", None)
    finished_eval(tmp_path / "eval", request)
    for changed in (
        eval_request(model, tmp_path / "data", "val", None),
        eval_request(model, tmp_path / "data", "test", 4),
        eval_request(model, tmp_path / "other", "test", None),
    ):
        assert cached_report(tmp_path / "eval", changed) is None
    model.write_bytes(b"retrained weights")  # the same path, a new model
    os.utime(model, ns=(1, 1))
    assert (
        cached_report(tmp_path / "eval", eval_request(model, tmp_path / "data", "test", None))
        is None
    )


def test_a_folder_without_its_request_or_metrics_is_not_reused(tmp_path: Path):
    model = tmp_path / "model.pt"
    model.write_bytes(b"weights")
    request = eval_request(model, tmp_path / "data", "test", None)
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / METRICS_FILE).write_text("{}")  # written before requests were kept
    assert cached_report(tmp_path / "old", request) is None
    remember_request(tmp_path / "unfinished", request)
    assert cached_report(tmp_path / "unfinished", request) is None
