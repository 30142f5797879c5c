"""The staged trainer: one process, or N under `torchrun --nproc-per-node N`, same code.

`train(config, run_dir)` runs the config's stages in order (method notes section 4). Each step:
forward, `compute_losses`, a non-finite guard, backward, gradient clipping, Adam, MultiStepLR.
Rank 0 writes `last.pt` atomically every `checkpoint_every` steps and at every stage end, a JSONL
log of every loss term, TensorBoard scalars and overlay pictures; `resume=True` continues from
`last.pt` exactly where it stopped (same data order, same augmentations, same RNG states).

Run layout: run_dir/{config.yaml, last.pt, model.pt, log.jsonl, tb/, overlays/}.
"""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from s2h_lib.atomic import atomic_open, atomic_write_bytes
from s2h_lib.config_io import dump_yaml, to_dict
from s2h_lib.data.factory import make_dataset
from s2h_lib.data.sample import HandSample, collate_samples
from s2h_lib.losses.objective import LossResult, compute_losses
from s2h_lib.net.model import HandNet
from s2h_lib.train.checkpoint import (
    LATEST_NAME,
    Checkpoint,
    CheckpointError,
    TrainPosition,
    capture_rng_state,
    latest_checkpoint,
    load_checkpoint,
    restore_rng_state,
    save_checkpoint,
)
from s2h_lib.train.distributed import (
    ProcessInfo,
    ResumableSampler,
    all_reduce_mean,
    setup_process,
    teardown_process,
)
from s2h_lib.train.train_config import StageConfig, TrainConfig
from s2h_lib.viz.overlays import save_training_overlay

MODEL_NAME = "model.pt"
LOG_NAME = "log.jsonl"
LR_DECAY = 0.5  # MultiStepLR gamma of the original schedule


class TrainingDivergedError(RuntimeError):
    """Too many non-finite steps in a row; the last checkpoint is left untouched."""


@dataclass(frozen=True)
class TrainResult:
    """Where a finished run left its files, and how it went."""

    run_dir: Path
    model_path: Path
    global_step: int
    skipped_steps: int
    last_losses: dict[str, float]


def _amp_context(device: torch.device, enabled: bool) -> contextlib.AbstractContextManager:
    """bfloat16 autocast on CUDA (no loss scaling needed); nothing on other devices."""
    if enabled and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _unwrap(model: nn.Module) -> HandNet:
    return model.module if isinstance(model, DistributedDataParallel) else model


def _frames(batch: HandSample) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (N, 3, H, W) and K (N, 3, 3) with any clip axis folded into the batch axis."""
    return batch.image.flatten(0, -4), batch.K.flatten(0, -3)


def _anchors(model: HandNet, batch: HandSample) -> tuple[torch.Tensor, ...]:
    """The detector keypoints (N, 21, 2) and confidences (N, 21) for a model that reads anchor
    keypoints (clip axis folded), else nothing: they are inputs, never the truth."""
    if not model.uses_anchors:
        return ()
    return batch.keypoints.flatten(0, -3), batch.confidence.flatten(0, -2)


def starting_weights(path: str | Path, model: HandNet) -> dict[str, torch.Tensor]:
    """The weights of the model file `path` (read safely, `eval_model.read_model_file`) for
    `model`. ValueError naming the tensors that differ when the file's network has other
    parameters than `model`."""
    # eval_model imports the train package (its configs): imported here, not at the top
    from s2h_lib.evaluation.eval_model import read_model_file

    weights = read_model_file(path, next(model.parameters()).device)["model"]
    expected = model.state_dict()
    differ = sorted(
        name
        for name in weights.keys() | expected.keys()
        if name not in weights
        or name not in expected
        or weights[name].shape != expected[name].shape
    )
    if differ:
        raise ValueError(
            f"init_from={path}: that network's parameters differ from this config's model in "
            f"{len(differ)} tensors (e.g. {differ[:3]}); start from a model trained with the same "
            "model config"
        )
    return weights


class Trainer:
    """Holds the run's state; `run()` trains every remaining stage."""

    def __init__(self, config: TrainConfig, run_dir: Path, info: ProcessInfo, progress: bool):
        self.config = config
        self.run_dir = run_dir
        self.info = info
        self.progress = progress and info.is_main
        self.losses = config.effective_losses
        torch.manual_seed(config.seed + info.rank)
        self.model = HandNet(config.model).to(info.device)
        if config.init_from is not None:
            self.model.load_state_dict(starting_weights(config.init_from, self.model))
        self.position = TrainPosition()
        self.resume_state: Checkpoint | None = None
        self.last_losses: dict[str, float] = {}
        self.writer = None

    # ---- files -----------------------------------------------------------------------------

    def load_resume_point(self) -> None:
        """Load `last.pt` if there is one; refuse to resume under a different config."""
        path = latest_checkpoint(self.run_dir)
        if path is None:
            return
        checkpoint = load_checkpoint(path, map_location=self.info.device)
        if checkpoint.config != to_dict(self.config):
            raise CheckpointError(
                f"{path} was written by a different config; resume with the run's own "
                f"config ({self.run_dir / 'config.yaml'}) or use a new output folder"
            )
        self.model.load_state_dict(checkpoint.model)
        restore_rng_state(checkpoint.rng)
        self.position = checkpoint.position
        self.resume_state = checkpoint

    def _save(self, optimizer: torch.optim.Optimizer, scheduler) -> None:
        if not self.info.is_main:
            return
        checkpoint = Checkpoint(
            model=self.model.state_dict(),
            optimizer=optimizer.state_dict(),
            scheduler=scheduler.state_dict(),
            position=self.position,
            config=to_dict(self.config),
            rng=capture_rng_state(),
        )
        save_checkpoint(self.run_dir / LATEST_NAME, checkpoint)

    def _log(self, stage: StageConfig, result: LossResult, lr: float, seconds: float) -> None:
        if not self.info.is_main:
            return
        terms = {name: float(value.detach()) for name, value in result.terms.items()}
        self.last_losses = {"total": sum(terms.values()), **terms}
        record = {
            "step": self.position.global_step,
            "stage": stage.name,
            "stage_step": self.position.stage_step,
            "lr": lr,
            "seconds_per_step": seconds,
            "skipped_steps": self.position.skipped_steps,
            **{f"loss/{k}": v for k, v in self.last_losses.items()},
            **{f"raw/{k}": float(v) for k, v in result.unweighted.items()},
        }
        with (self.run_dir / LOG_NAME).open("a") as file:
            file.write(json.dumps(record) + "\n")
        if self.writer is not None:
            for key, value in record.items():
                if isinstance(value, float):
                    self.writer.add_scalar(key, value, self.position.global_step)

    # ---- data ----------------------------------------------------------------------------------

    def _loader(self, stage: StageConfig) -> tuple[DataLoader, ResumableSampler]:
        dataset = make_dataset(
            self.config.data,
            split="train",
            with_truth=self.config.supervision != "self",
            clips=stage.uses_clips,
            augment=True,
            seed=self.config.seed,
            detected_only=self.config.data.detected_only,
        )
        sampler = ResumableSampler(dataset, self.info, seed=self.config.seed)
        if len(sampler) < stage.batch_size:
            raise ValueError(
                f"stage {stage.name}: batch size {stage.batch_size} is larger than the "
                f"{len(sampler)} training samples this process gets"
            )
        loader = DataLoader(
            dataset,
            batch_size=stage.batch_size,
            sampler=sampler,
            num_workers=self.config.data.workers,
            collate_fn=collate_samples,
            drop_last=True,
            pin_memory=self.info.device.type == "cuda",
            # its own generator: creating an iterator must not draw from the global RNG, or a
            # resumed run (which creates one mid-epoch) would drift from an uninterrupted one
            generator=torch.Generator().manual_seed(self.config.seed),
        )
        return loader, sampler

    # ---- one step ------------------------------------------------------------------------------

    def _forward_losses(
        self, model: nn.Module, batch: HandSample, stage: StageConfig
    ) -> LossResult:
        images, K = _frames(batch)
        with _amp_context(self.info.device, self.config.amp):
            pred = model(images, K, *_anchors(self.model, batch))
        return compute_losses(
            pred,
            batch,
            self.model.faces,
            self.losses,
            stage=stage.name,
            render_settings=self.config.render,
            supervision=self.config.supervision,
        )

    def _all_finite(self, result: LossResult, params: list[nn.Parameter]) -> bool:
        """True when the loss and every gradient are finite on every process."""
        finite = bool(torch.isfinite(result.total)) and all(
            p.grad is None or bool(torch.isfinite(p.grad).all()) for p in params
        )
        flag = torch.tensor(float(finite), device=self.info.device)
        return bool(all_reduce_mean(flag, self.info) == 1.0)

    def _step(self, model, batch, stage, optimizer, params) -> LossResult:
        optimizer.zero_grad(set_to_none=True)
        result = self._forward_losses(model, batch.to(self.info.device), stage)
        if result.total.requires_grad:
            result.total.backward()
        if not self._all_finite(result, params):
            optimizer.zero_grad(set_to_none=True)
            self.position.bad_steps_in_a_row += 1
            self.position.skipped_steps += 1
            if self.position.bad_steps_in_a_row >= self.config.max_bad_steps:
                raise TrainingDivergedError(
                    f"{self.position.bad_steps_in_a_row} steps in a row gave a non-finite loss or "
                    f"gradient (stage {stage.name}, step {self.position.stage_step}); stopped. "
                    f"The last good checkpoint is {self.run_dir / LATEST_NAME}. Lower the "
                    "learning rate or check the data for NaN."
                )
            return result
        self.position.bad_steps_in_a_row = 0
        if self.config.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(params, self.config.grad_clip)
        optimizer.step()
        return result

    # ---- stages --------------------------------------------------------------------------------

    def _optimiser(self, stage: StageConfig, resuming: bool):
        self.model.set_trainable(stage.groups)
        params = [p for p in self.model.parameters() if p.requires_grad]
        if not params:
            raise ValueError(
                f"stage {stage.name} trains {sorted(stage.groups)}, which this model does not "
                "have (a kp stage needs ModelConfig.keypoint_branch=True); drop the stage or "
                "build the model with them"
            )
        optimizer = torch.optim.Adam(params, lr=stage.lr)
        if stage.schedule == "cosine":
            scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, max(stage.steps, 1))
        else:
            scheduler = torch.optim.lr_scheduler.MultiStepLR(
                optimizer, list(stage.milestones), gamma=LR_DECAY
            )
        if resuming and self.resume_state is not None:
            optimizer.load_state_dict(self.resume_state.optimizer)
            scheduler.load_state_dict(self.resume_state.scheduler)
            self.resume_state = None
        return params, optimizer, scheduler

    def _wrapped(self) -> nn.Module:
        if not self.info.distributed:
            return self.model
        device_ids = [self.info.device.index] if self.info.device.type == "cuda" else None
        return DistributedDataParallel(
            self.model, device_ids=device_ids, find_unused_parameters=True
        )

    def _run_stage(self, index: int, stage: StageConfig, bar: tqdm | None) -> None:
        resuming = self.position.stage == index and self.position.stage_step > 0
        params, optimizer, scheduler = self._optimiser(stage, resuming)
        model = self._wrapped()
        model.train()
        loader, sampler = self._loader(stage)
        steps_per_epoch = len(sampler) // stage.batch_size
        while self.position.stage_step < stage.steps:
            epoch, offset = divmod(self.position.stage_step, steps_per_epoch)
            sampler.set_position(epoch, offset * stage.batch_size)
            loader.dataset.set_epoch(epoch)
            for batch in loader:
                started = time.perf_counter()
                result = self._step(model, batch, stage, optimizer, params)
                scheduler.step()
                self.position.stage_step += 1
                self.position.global_step += 1
                self._after_step(stage, batch, result, optimizer, scheduler, started, bar)
                if self.position.stage_step >= stage.steps:
                    break
        self.position.stage, self.position.stage_step = index + 1, 0
        self._save(optimizer, scheduler)

    def _after_step(self, stage, batch, result, optimizer, scheduler, started, bar) -> None:
        step = self.position.global_step
        if step % self.config.log_every == 0 or self.position.stage_step == stage.steps:
            lr = optimizer.param_groups[0]["lr"]
            self._log(stage, result, lr, time.perf_counter() - started)
            if bar is not None:
                bar.set_postfix(stage=stage.name, loss=f"{self.last_losses['total']:.4g}")
        if (
            self.config.overlay_every
            and step % self.config.overlay_every == 0
            and self.info.is_main
        ):
            batch = batch.to(self.info.device)
            images, K = _frames(batch)
            anchors = [anchor[:8] for anchor in _anchors(self.model, batch)]
            self.model.eval()
            with torch.no_grad():
                pred = self.model(images[:8], K[:8], *anchors)
            self.model.train()
            save_training_overlay(
                self.run_dir / "overlays" / f"step_{step:07d}.png",
                images[:8],
                pred,
                batch.keypoints.flatten(0, -3)[:8],
                self.model.faces,
                K[:8],
            )
        # a step skipped as non-finite is not a state worth keeping: the last good one stays
        if step % self.config.checkpoint_every == 0 and self.position.bad_steps_in_a_row == 0:
            self._save(optimizer, scheduler)
        if bar is not None:
            bar.update(1)

    def run(self) -> TrainResult:
        if self.info.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(self.run_dir / "config.yaml", dump_yaml(self.config).encode())
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(self.run_dir / "tb"))
        bar = None
        if self.progress:
            bar = tqdm(
                total=self.config.total_steps,
                initial=self.position.global_step,
                desc="train",
                unit="step",
            )
        try:
            for index, stage in enumerate(self.config.stages):
                if index >= self.position.stage:
                    self._run_stage(index, stage, bar)
        finally:
            if bar is not None:
                bar.close()
            if self.writer is not None:
                self.writer.close()
        model_path = self.run_dir / MODEL_NAME
        if self.info.is_main:
            save_model(model_path, self.model, self.config)
        return TrainResult(
            self.run_dir,
            model_path,
            self.position.global_step,
            self.position.skipped_steps,
            self.last_losses,
        )


def save_model(path: Path, model: HandNet, config: TrainConfig) -> None:
    """The trained weights with the config that made them (what `s2h eval` loads)."""
    with atomic_open(path) as file:
        torch.save({"model": model.state_dict(), "config": to_dict(config)}, file)


def train(
    config: TrainConfig, run_dir: str | Path, *, resume: bool = False, progress: bool = True
) -> TrainResult:
    """Train `config` into `run_dir`; with `resume`, continue from `run_dir/last.pt` if present.

    Without `resume`, a run folder that already holds a checkpoint is an error (nothing is
    overwritten by accident).
    """
    run_dir = Path(run_dir)
    if not resume and latest_checkpoint(run_dir) is not None:
        raise FileExistsError(
            f"{run_dir} already holds a run ({LATEST_NAME}); pass resume=True (--resume) to "
            "continue it, or choose another output folder"
        )
    info = setup_process(config.device)
    try:
        trainer = Trainer(config, run_dir, info, progress)
        if resume:
            trainer.load_resume_point()
        return trainer.run()
    finally:
        teardown_process()
