"""Training checkpoints: written atomically, carrying everything an exact resume needs.

A checkpoint holds the model, optimiser and LR-scheduler states, the random number generator
states (Python, NumPy, torch CPU and CUDA), the training position and the config that produced it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from s2h_lib.atomic import atomic_open

CHECKPOINT_FORMAT = "s2hand-lab-checkpoint-1"
LATEST_NAME = "last.pt"


class CheckpointError(RuntimeError):
    """A checkpoint is missing, unreadable or from an incompatible run."""


@dataclass
class TrainPosition:
    """Where training stands: stage index, step within the stage, and the global step."""

    stage: int = 0
    stage_step: int = 0
    global_step: int = 0
    bad_steps_in_a_row: int = 0
    skipped_steps: int = 0


@dataclass
class Checkpoint:
    """The content of one checkpoint file."""

    model: dict[str, Any]
    optimizer: dict[str, Any]
    scheduler: dict[str, Any]
    position: TrainPosition
    config: dict[str, Any]
    rng: dict[str, Any] = field(default_factory=dict)


def capture_rng_state() -> dict[str, Any]:
    """Every RNG the trainer draws from, as a picklable dict."""
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Put back the RNG states captured by `capture_rng_state`."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: str | Path, checkpoint: Checkpoint) -> Path:
    """Write `checkpoint` to `path` atomically: a crash leaves the previous file intact."""
    path = Path(path)
    payload = {
        "format": CHECKPOINT_FORMAT,
        "model": checkpoint.model,
        "optimizer": checkpoint.optimizer,
        "scheduler": checkpoint.scheduler,
        "position": vars(checkpoint.position),
        "config": checkpoint.config,
        "rng": checkpoint.rng,
    }
    with atomic_open(path) as file:
        torch.save(payload, file)
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> Checkpoint:
    """Read a checkpoint written by `save_checkpoint`; clear errors for missing or torn files."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        # weights_only=False: the file holds RNG states (tuples, numpy arrays) next to tensors,
        # and only files this package wrote are meant to be loaded here.
        payload = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as error:
        raise CheckpointError(f"cannot read checkpoint {path}: {error}") from error
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(
            f"{path} is not an s2hand-lab checkpoint (expected format {CHECKPOINT_FORMAT!r})"
        )
    return Checkpoint(
        model=payload["model"],
        optimizer=payload["optimizer"],
        scheduler=payload["scheduler"],
        position=TrainPosition(**payload["position"]),
        config=payload["config"],
        rng=payload["rng"],
    )


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    """The run's latest checkpoint, or None when the run has not written one yet."""
    path = Path(run_dir) / LATEST_NAME
    return path if path.is_file() else None
