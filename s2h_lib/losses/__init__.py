"""The self-supervised objective: each loss term (`terms`), their weights (`loss_config`), and the
function that renders a prediction and sums the weighted terms (`objective`).

Builds on hand/, render/, data/ and net/; imports nothing from the packages above it.
"""

from s2h_lib.losses.loss_config import LossConfig
from s2h_lib.losses.objective import LossResult, compute_losses

__all__ = ["LossConfig", "LossResult", "compute_losses"]
