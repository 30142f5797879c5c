"""The `--device` of the commands: "auto" (CUDA when there is one, else CPU), "cpu" or "cuda".

DESIGN.md: nothing assumes CUDA and nothing assumes the CPU. A command given `--device cuda` on a
machine without CUDA says so in one line rather than failing deep inside torch.
"""

from __future__ import annotations

import torch

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def choose_device(requested: str = "auto") -> torch.device:
    """The torch device for a `--device` value (`DEVICE_CHOICES`, or e.g. "cuda:1").

    Raises ValueError for an unknown name, or for CUDA when torch sees no CUDA device."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(requested)
    except RuntimeError as error:
        raise ValueError(f"unknown device {requested!r}; choose from {DEVICE_CHOICES}") from error
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"unsupported device {requested!r}; choose from {DEVICE_CHOICES}")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device {requested!r} was requested but torch sees no CUDA device (torch "
            f"{torch.__version__}, built for CUDA {torch.version.cuda}); use --device cpu"
        )
    return device
