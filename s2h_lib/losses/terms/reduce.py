"""Reductions and checks shared by the loss terms: every normalising sum of weights is clamped,
so an all-zero weight gives 0, not NaN."""

from __future__ import annotations

from torch import Tensor

# Floor of every normalising sum of weights.
WEIGHT_SUM_EPS = 1e-12


def weighted_mean(values: Tensor, weights: Tensor) -> Tensor:
    """sum(w v) / sum(w), 0 when all weights are 0 (shapes broadcast)."""
    weights = weights.expand_as(values)
    return (weights * values).sum() / weights.sum().clamp_min(WEIGHT_SUM_EPS)


def mean_or_zero(values: Tensor) -> Tensor:
    """Mean of `values`, 0 (with a graph) when empty, e.g. a clip too short for the term."""
    return values.sum() / max(values.numel(), 1)


def check_trailing(name: str, tensor: Tensor, trailing: tuple[int, ...]) -> None:
    if tuple(tensor.shape[-len(trailing) :]) != trailing:
        dims = ", ".join(str(d) for d in trailing)
        raise ValueError(f"{name} must be (..., {dims}), got {tuple(tensor.shape)}")
