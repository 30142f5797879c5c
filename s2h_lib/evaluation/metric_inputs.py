"""The checks every metric runs on its inputs: float64 NumPy, shapes with named axes, finite.

Torch tensors on any device are accepted and copied to the CPU. Non-finite values (NaN, inf)
raise ValueError naming the array and the samples: a NaN prediction means a diverged model or a
bug upstream, and silently dropping such samples would flatter the numbers.
"""

from __future__ import annotations

import numpy as np


def to_numpy(array: object) -> np.ndarray:
    """`array` as a float64 NumPy array; torch tensors on any device are copied to the CPU."""
    if hasattr(array, "detach"):
        array = array.detach().cpu().numpy()
    return np.asarray(array, dtype=np.float64)


def checked_shape(
    name: str, values: np.ndarray, spec: tuple[int | str, ...], sizes: dict[str, int]
) -> np.ndarray:
    """`values` if its shape is `spec`; a named axis (a string) must match every earlier input
    that used the same name (`sizes` remembers them)."""
    expected = "(" + ", ".join(map(str, spec)) + ")"
    if values.ndim != len(spec):
        raise ValueError(f"{name} must have shape {expected}, got {values.shape}")
    for want, got in zip(spec, values.shape, strict=True):
        if isinstance(want, int) and got != want:
            raise ValueError(f"{name} must have shape {expected}, got {values.shape}")
        if isinstance(want, str) and sizes.setdefault(want, got) != got:
            raise ValueError(
                f"{name} has shape {values.shape} ({want}={got}), but an earlier input has "
                f"{want}={sizes[want]}; expected {expected} with matching sizes"
            )
    return values


def require_finite(name: str, values: np.ndarray) -> np.ndarray:
    """`values` if it holds no NaN or inf; else ValueError naming the first bad entries."""
    bad = ~np.isfinite(values).all(axis=tuple(range(1, values.ndim)))
    if bad.any():
        rows = np.flatnonzero(bad)
        raise ValueError(
            f"{name} contains NaN or inf in {len(rows)} of {len(values)} entries along its first "
            f"axis (first: {rows[:5].tolist()}); fix the model or the data before scoring"
        )
    return values


def checked(
    name: str, array: object, spec: tuple[int | str, ...], sizes: dict[str, int]
) -> np.ndarray:
    """`array` as float64, shape-checked against `spec` (see `checked_shape`) and finite."""
    return require_finite(name, checked_shape(name, to_numpy(array), spec, sizes))


def mesh_mask(has_mesh: object, count: int, verts_given: bool) -> np.ndarray:
    """(N,) bool: which samples have a ground-truth mesh to score vertices against."""
    if has_mesh is None:
        return np.full(count, verts_given)
    mask = np.asarray(has_mesh.detach().cpu() if hasattr(has_mesh, "detach") else has_mesh)
    if mask.shape != (count,):
        raise ValueError(f"has_mesh must have shape (N,) = ({count},), got {mask.shape}")
    mask = mask.astype(bool)
    if mask.any() and not verts_given:
        raise ValueError("has_mesh marks samples with a mesh, but no vertices were given")
    return mask


def require_pair(name_a: str, a: object | None, name_b: str, b: object | None) -> None:
    """ValueError unless `a` and `b` are both given or both None."""
    if (a is None) != (b is None):
        given, missing = (name_a, name_b) if b is None else (name_b, name_a)
        raise ValueError(f"{given} was given without {missing}; pass both or neither")
