"""One entry point for one process and for `torchrun --nproc-per-node N`.

torchrun sets RANK, WORLD_SIZE and LOCAL_RANK; without them the trainer runs as a single process
with the same code path (world size 1, no process group). gloo on CPU, nccl on CUDA.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch.utils.data import Dataset, DistributedSampler


@dataclass(frozen=True)
class ProcessInfo:
    """This process's place in the job, and the device it computes on."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        """Rank 0 alone logs, writes checkpoints and saves pictures."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def _pick_device(requested: str, local_rank: int) -> torch.device:
    if requested == "auto":
        requested = "cuda" if torch.cuda.is_available() else "cpu"
    if requested == "cuda":
        if not torch.cuda.is_available():
            raise ValueError("device 'cuda' was requested but no CUDA device is available")
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    return torch.device(requested)


def setup_process(device: str = "auto") -> ProcessInfo:
    """Read torchrun's environment, pick the device, and join the process group if there is one."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    chosen = _pick_device(device, local_rank)
    if world_size > 1 and not dist.is_initialized():
        if chosen.type == "cuda":
            torch.cuda.set_device(chosen)
        dist.init_process_group(backend="nccl" if chosen.type == "cuda" else "gloo")
    return ProcessInfo(rank, world_size, local_rank, chosen)


def teardown_process() -> None:
    """Leave the process group (no-op for a single process)."""
    if dist.is_initialized():
        dist.destroy_process_group()


def barrier(info: ProcessInfo) -> None:
    """Wait for every process (no-op for a single process)."""
    if info.distributed:
        dist.barrier()


def all_reduce_mean(value: torch.Tensor, info: ProcessInfo) -> torch.Tensor:
    """Mean of a tensor over processes (for logging; the input is not modified)."""
    if not info.distributed:
        return value
    total = value.detach().clone()
    dist.all_reduce(total)
    return total / info.world_size


class ResumableSampler(DistributedSampler):
    """`DistributedSampler` that can start part-way into an epoch, for an exact resume.

    The order depends only on (seed, epoch), as in `DistributedSampler`; `skip` drops this
    rank's first indices so a resumed run sees exactly the batches the interrupted run had left.
    """

    def __init__(self, dataset: Dataset, info: ProcessInfo, seed: int, shuffle: bool = True):
        super().__init__(
            dataset,
            num_replicas=info.world_size,
            rank=info.rank,
            shuffle=shuffle,
            seed=seed,
            drop_last=True,
        )
        self.skip = 0

    def set_position(self, epoch: int, skip: int) -> None:
        """Start the next iteration at `epoch`, past this rank's first `skip` indices."""
        self.set_epoch(epoch)
        self.skip = skip

    def __iter__(self) -> Iterator[int]:
        indices = list(super().__iter__())[self.skip :]
        self.skip = 0
        return iter(indices)

    def __len__(self) -> int:
        return self.num_samples - self.skip
