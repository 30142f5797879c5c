"""Checkpoints round-trip every state an exact resume needs, and fail clearly when broken."""

import random
from pathlib import Path

import numpy as np
import pytest
import torch

from s2h_lib.train.checkpoint import (
    Checkpoint,
    CheckpointError,
    TrainPosition,
    capture_rng_state,
    latest_checkpoint,
    load_checkpoint,
    restore_rng_state,
    save_checkpoint,
)


def _draws() -> tuple[float, float, float]:
    return random.random(), float(np.random.rand()), float(torch.rand(()))


def test_rng_state_restores_the_same_draws() -> None:
    state = capture_rng_state()
    first = _draws()
    restore_rng_state(state)
    assert _draws() == first


def test_checkpoint_round_trip(tmp_path: Path) -> None:
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model(torch.ones(1, 3)).sum().backward()
    optimizer.step()
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, [5], 0.5)
    position = TrainPosition(stage=1, stage_step=7, global_step=19, skipped_steps=2)
    checkpoint = Checkpoint(
        model.state_dict(),
        optimizer.state_dict(),
        scheduler.state_dict(),
        position,
        config={"seed": 3},
        rng=capture_rng_state(),
    )
    assert latest_checkpoint(tmp_path) is None
    save_checkpoint(tmp_path / "last.pt", checkpoint)
    assert latest_checkpoint(tmp_path) == tmp_path / "last.pt"
    loaded = load_checkpoint(tmp_path / "last.pt")
    assert loaded.position == position
    assert loaded.config == {"seed": 3}
    for name, value in model.state_dict().items():
        assert torch.equal(loaded.model[name], value)
    assert loaded.optimizer["state"][0]["exp_avg"].equal(
        optimizer.state_dict()["state"][0]["exp_avg"]
    )


def test_missing_and_foreign_files_raise_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "nope.pt")
    torn = tmp_path / "torn.pt"
    torn.write_bytes(b"\x80\x04 not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot read"):
        load_checkpoint(torn)
    foreign = tmp_path / "weights.pt"
    torch.save({"state_dict": {}}, foreign)
    with pytest.raises(CheckpointError, match="not an s2hand-lab checkpoint"):
        load_checkpoint(foreign)
