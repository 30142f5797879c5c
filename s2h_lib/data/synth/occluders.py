"""Occluders of a synthetic hand photo: random smooth blobs in front of the hand, each painted
with a flat colour or a background-like texture, that hide some of its joints.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from s2h_lib.data.synth.backgrounds import random_colour, sample_background

OCCLUDER_PROBABILITY = 0.3
OCCLUDER_SECOND_PROBABILITY = 0.25
OCCLUDER_RADIUS = (0.06, 0.16)  # fraction of the image side
OCCLUDER_HARMONICS = 4
OCCLUDER_WOBBLE = 0.4  # largest amplitude of the first harmonic, fraction of the radius
OCCLUDER_SHADING = 0.3


@dataclass(frozen=True)
class Blob:
    """A random smooth closed shape in front of the hand, painted with a texture.

    centre (2,) pixels; radius pixels; harmonics (K, 2) amplitude and phase of the radial
    wobble; fill (H, W, 3) the texture seen through the shape (a flat colour, a photo crop or a
    procedural pattern) with a soft shading across it.
    """

    centre: np.ndarray
    radius: float
    harmonics: np.ndarray
    fill: np.ndarray


def _blob_fill(
    rng: np.random.Generator, height: int, width: int, centre: np.ndarray, radius: float
) -> np.ndarray:
    """Texture `(height, width, 3)` of an occluder: flat colour or a background-like pattern,
    brighter on one side as if lit."""
    if rng.uniform() < 0.5:
        fill = np.broadcast_to(random_colour(rng), (height, width, 3))
    else:
        fill = sample_background(rng, height, width)
    angle = rng.uniform(0, 2 * math.pi)
    ys, xs = np.mgrid[0:height, 0:width]
    along = (xs - centre[0]) * math.cos(angle) + (ys - centre[1]) * math.sin(angle)
    shade = 1 + OCCLUDER_SHADING * np.clip(along / radius, -1, 1)
    return np.clip(fill * shade[..., None], 0.0, 1.0)


def sample_occluders(
    rng: np.random.Generator,
    image_size: int,
    keypoints: np.ndarray,
    probability: float = OCCLUDER_PROBABILITY,
) -> list[Blob]:
    """Zero, one or two blobs, each centred near a random keypoint of `(21, 2)` so it hides
    some joints."""
    if rng.uniform() >= probability:
        return []
    blobs = []
    for _ in range(1 + int(rng.uniform() < OCCLUDER_SECOND_PROBABILITY)):
        anchor = keypoints[rng.integers(len(keypoints))]
        radius = rng.uniform(*OCCLUDER_RADIUS) * image_size
        orders = np.arange(1, OCCLUDER_HARMONICS + 1)
        amplitudes = rng.uniform(0, OCCLUDER_WOBBLE, size=OCCLUDER_HARMONICS) / orders
        phases = rng.uniform(0, 2 * math.pi, size=OCCLUDER_HARMONICS)
        centre = anchor + rng.normal(scale=0.5 * radius, size=2)
        blobs.append(
            Blob(
                centre=centre,
                radius=radius,
                harmonics=np.stack([amplitudes, phases], axis=1),
                fill=_blob_fill(rng, image_size, image_size, centre, radius),
            )
        )
    return blobs


def blob_coverage(blob: Blob, height: int, width: int) -> np.ndarray:
    """Antialiased coverage `(height, width)` in [0, 1] of one blob (one-pixel soft edge)."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    dx, dy = xs - blob.centre[0], ys - blob.centre[1]
    theta = np.arctan2(dy, dx)
    orders = np.arange(1, len(blob.harmonics) + 1)
    phases = orders * theta[..., None] + blob.harmonics[:, 1]
    boundary = blob.radius * (1 + (blob.harmonics[:, 0] * np.cos(phases)).sum(-1))
    return np.clip(boundary - np.hypot(dx, dy) + 0.5, 0.0, 1.0)


def paint_occluders(image: np.ndarray, blobs: list[Blob]) -> tuple[np.ndarray, np.ndarray]:
    """Draw `blobs` over `image` `(H, W, 3)`; returns the new image and their union coverage
    `(H, W)` in [0, 1]."""
    height, width = image.shape[:2]
    covered = np.zeros((height, width))
    for blob in blobs:
        coverage = blob_coverage(blob, height, width)[..., None]
        image = (1 - coverage) * image + coverage * blob.fill
        covered = np.maximum(covered, coverage[..., 0])
    return image, covered
