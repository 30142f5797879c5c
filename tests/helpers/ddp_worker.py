"""Run under torchrun by tests/test_train.py: train a YAML config, save this rank's weights."""

import sys
from pathlib import Path

import torch
import torch.distributed as dist

from s2h_lib.config_io import from_dict, load_yaml
from s2h_lib.net.model import HandNet
from s2h_lib.train import trainer as train_module
from s2h_lib.train.train_config import TrainConfig


def main() -> None:
    config = from_dict(TrainConfig, load_yaml(sys.argv[1]))
    out = Path(sys.argv[2])
    kept = {}
    original_run = train_module.Trainer.run

    def run_and_keep(self):
        if self.info.is_main:
            out.mkdir(parents=True, exist_ok=True)
            torch.save(HandNet(config.model).state_dict(), out / "initial.pt")
        result = original_run(self)
        # parameters only: BatchNorm running statistics are per process (DDP broadcasts rank 0's
        # before each forward), so they differ after the last step by design
        kept["state"] = {n: p.detach().clone() for n, p in self.model.named_parameters()}
        kept["rank"] = self.info.rank
        dist.barrier()
        return result

    train_module.Trainer.run = run_and_keep
    train_module.train(config, out / "run", progress=False)
    torch.save(kept["state"], out / f"rank{kept['rank']}.pt")


if __name__ == "__main__":
    main()
