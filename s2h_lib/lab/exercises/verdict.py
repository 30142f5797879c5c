"""What every exercise check shares: the `Verdict` it returns ("correct" or "not yet" and why),
the decorator that turns a missing answer into "not yet", and comparisons of arrays.

An answer that is still missing (None, or a function that raises NotImplementedError, as the
notebooks' templates do) gets "not yet" and a hint, so a notebook with its exercises untouched
still runs headlessly.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

TOLERANCE = 1e-4  # relative, for answers the library computes exactly
MEASURE_TOLERANCE = 0.1  # relative, for measurements of random draws (another seed is fine)
CHECK_SEED = 0


@dataclass(frozen=True)
class Verdict:
    """A check's answer: `correct`, and a message saying why (or what is off)."""

    correct: bool
    message: str

    def __str__(self) -> str:
        return f"{'correct' if self.correct else 'not yet'}: {self.message}"

    __repr__ = __str__


class MissingAnswerError(Exception):
    """The answer is missing; the message is the hint."""


def exercise_check(check: Callable[..., Verdict]) -> Callable[..., Verdict]:
    """Turn a missing answer (`MissingAnswerError`) inside `check` into a "not yet" verdict."""

    @functools.wraps(check)
    def wrapped(*args: Any, **kwargs: Any) -> Verdict:
        try:
            return check(*args, **kwargs)
        except MissingAnswerError as missing:
            return Verdict(False, str(missing))

    return wrapped


def given(answer: Any, hint: str) -> Any:
    if answer is None:
        raise MissingAnswerError(f"no answer yet: {hint}")
    return answer


def call_answer(function: Callable | None, *args: Any) -> Any:
    """The learner's function applied to `args`; a stub that raises NotImplementedError (or no
    function at all) is a missing answer."""
    if function is None:
        raise MissingAnswerError("no function given yet")
    try:
        return function(*args)
    except NotImplementedError:
        raise MissingAnswerError(
            f"{getattr(function, '__name__', 'the function')} is not written yet"
        ) from None


def as_array(value: Any) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=np.float64)


def arrays_close(answer: np.ndarray, expected: np.ndarray, tolerance: float = TOLERANCE) -> bool:
    return answer.shape == expected.shape and np.allclose(
        answer, expected, rtol=tolerance, atol=tolerance * float(np.abs(expected).max() + 1e-12)
    )


def compare_arrays(name: str, answer: Any, expected: np.ndarray) -> Verdict:
    """Whether a learner's array matches the library's, with the first difference if not."""
    answer = as_array(answer)
    if answer.shape != expected.shape:
        return Verdict(False, f"{name} has shape {answer.shape}, expected {expected.shape}")
    if arrays_close(answer, expected):
        return Verdict(True, f"{name} matches the library")
    worst = np.unravel_index(np.abs(answer - expected).argmax(), expected.shape)
    return Verdict(
        False,
        f"{name} differs from the library: at index {tuple(int(i) for i in worst)} you give "
        f"{answer[worst]:.6g}, the library {expected[worst]:.6g}",
    )
