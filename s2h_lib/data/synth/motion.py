"""Smooth trajectories for synthetic clips: splines through a few random keyframes.

A clip of T frames moves every scene quantity (articulation, global rotation, placement in the
image, background pan) along a C2 path through K keyframes spread evenly over the clip, so the
velocity changes smoothly too and there are no jumps between frames.
"""

from __future__ import annotations

import numpy as np
from scipy.interpolate import CubicSpline
from scipy.spatial.transform import Rotation, RotationSpline


def keyframe_times(count: int) -> np.ndarray:
    """`(count,)` keyframe times spread evenly over [0, 1]."""
    if count < 2:
        raise ValueError(f"a path needs at least 2 keyframes, got {count}")
    return np.linspace(0.0, 1.0, count)


def frame_times(length: int) -> np.ndarray:
    """`(length,)` frame times spread evenly over [0, 1] (a single frame sits at 0)."""
    if length < 1:
        raise ValueError(f"a clip needs at least 1 frame, got {length}")
    return np.linspace(0.0, 1.0, length) if length > 1 else np.zeros(1)


def smooth_path(keyframes: np.ndarray, length: int) -> np.ndarray:
    """Vectors `(K, D)` at evenly spaced keyframes to a C2 path `(length, D)`.

    A 'natural' cubic spline: it passes through every keyframe and its second derivative is zero
    at both ends, so the motion starts and ends without a kick.
    """
    keyframes = np.asarray(keyframes, dtype=np.float64)
    spline = CubicSpline(keyframe_times(len(keyframes)), keyframes, axis=0, bc_type="natural")
    return spline(frame_times(length))


def rotation_path(keyframes: np.ndarray, length: int) -> np.ndarray:
    """Axis-angle rotations `(K, 3)` at evenly spaced keyframes to a C2 path `(length, 3)`."""
    rotations = Rotation.from_rotvec(np.asarray(keyframes, dtype=np.float64))
    spline = RotationSpline(keyframe_times(len(keyframes)), rotations)
    return spline(frame_times(length)).as_rotvec()


def wander(
    rng: np.random.Generator,
    start: np.ndarray,
    end: np.ndarray,
    count: int,
    jitter: float | np.ndarray,
) -> np.ndarray:
    """`count` keyframes `(K, D)` from `start` to `end` `(D,)`, the inner ones pushed off the
    straight line by Gaussian noise of standard deviation `jitter` (a number, or one per
    dimension `(D,)`), so the path curves."""
    t = keyframe_times(count)[:, None]
    keyframes = (1 - t) * start + t * end
    keyframes[1:-1] += rng.normal(scale=jitter, size=keyframes[1:-1].shape)
    return keyframes


def turn(
    rng: np.random.Generator, start_rotvec: np.ndarray, angle: float, count: int
) -> np.ndarray:
    """`count` rotation keyframes `(K, 3)`: from `start_rotvec` the hand turns by `angle`
    radians in all about a random axis (in the camera frame), in equal steps."""
    axis = rng.normal(size=3)
    axis /= np.linalg.norm(axis)
    steps = keyframe_times(count)[:, None] * angle * axis  # (K, 3)
    start = Rotation.from_rotvec(start_rotvec)
    return (Rotation.from_rotvec(steps) * start).as_rotvec()
