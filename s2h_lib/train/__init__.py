"""Training: the staged trainer (`trainer`), its configs and presets (`train_config`), running a
config file (`train_run`), checkpoints, and DDP under torchrun (`distributed`).
"""

from s2h_lib.train.train_config import TrainConfig, load_config
from s2h_lib.train.trainer import TrainResult, train

__all__ = ["TrainConfig", "TrainResult", "load_config", "train"]
