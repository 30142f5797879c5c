"""Reuse an evaluation folder only when it was made for the same request.

Notebook 07 evaluates into `out_dir/eval` and loads that folder on the next run instead of
scoring again. A folder written for another model file, dataset, split or sample count must not
be reused: its numbers and its per-sample table would describe something else. So the request
is written beside the evaluation (`request.json`) and compared before reuse. The model file is
identified by its path, size and modification time, so retraining into the same path counts as
a new model.
"""

from __future__ import annotations

import json
from pathlib import Path

from s2h_lib.atomic import atomic_write_bytes
from s2h_lib.evaluation.evaluate import METRICS_FILE

REQUEST_FILE = "request.json"


def eval_request(
    model_path: str | Path, data_root: str | Path, split: str, eval_samples: int | None
) -> dict:
    """What an evaluation folder was made for: the model file, the data, split and count."""
    model = Path(model_path).resolve()
    stat = model.stat()
    return {
        "model_path": str(model),
        "model_bytes": stat.st_size,
        "model_mtime_ns": stat.st_mtime_ns,
        "data_root": str(Path(data_root).resolve()),
        "split": split,
        "eval_samples": eval_samples,
    }


def cached_report(folder: str | Path, request: dict) -> dict | None:
    """The evaluation report in `folder` (its metrics.json) if it is complete and was made for
    `request`; None otherwise (missing, unfinished, or made for something else)."""
    folder = Path(folder)
    metrics, made_for = folder / METRICS_FILE, folder / REQUEST_FILE
    if not (metrics.is_file() and made_for.is_file()):
        return None
    if json.loads(made_for.read_text()) != request:
        return None
    return json.loads(metrics.read_text())


def remember_request(folder: str | Path, request: dict) -> None:
    """Write `request` beside the evaluation in `folder`, after the evaluation finished."""
    atomic_write_bytes(Path(folder) / REQUEST_FILE, json.dumps(request, indent=1).encode())
