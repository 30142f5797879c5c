"""Single-process set-up and the resumable distributed sampler."""

import torch

from s2h_lib.train.distributed import ProcessInfo, ResumableSampler, setup_process


def _info(rank: int, world: int) -> ProcessInfo:
    return ProcessInfo(rank=rank, world_size=world, local_rank=rank, device=torch.device("cpu"))


def test_single_process_without_torchrun_environment(monkeypatch) -> None:
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    info = setup_process("cpu")
    assert (info.rank, info.world_size, info.is_main, info.distributed) == (0, 1, True, False)


def test_ranks_split_an_epoch_without_overlap() -> None:
    data = list(range(10))
    parts = []
    for rank in range(2):
        sampler = ResumableSampler(data, _info(rank, 2), seed=5)
        sampler.set_epoch(3)
        parts.append(list(sampler))
    assert set(parts[0]).isdisjoint(parts[1])
    assert len(parts[0]) == len(parts[1]) == 5


def test_skip_resumes_the_same_order_and_only_once() -> None:
    data = list(range(12))
    sampler = ResumableSampler(data, _info(0, 1), seed=1)
    sampler.set_epoch(2)
    full = list(sampler)
    sampler.set_position(epoch=2, skip=5)
    assert len(sampler) == 7
    assert list(sampler) == full[5:]
    assert list(sampler) == full  # the skip applies to one iteration only
    sampler.set_epoch(3)
    assert list(sampler) != full
