"""The forearm of an S2H-Synth hand: a tube leaving the wrist, widening towards the elbow, bent
at the wrist, bare or in a sleeve. It hides what a real arm hides and gives the detector the
context it expects."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

ARM_LENGTH = 0.35  # metres
ARM_RINGS, ARM_SEGMENTS = 10, 16
ARM_OVERLAP = 0.03  # the tube starts this far inside the hand's wrist end (the arm is at +x)
WRIST_SLAB = 0.02  # the hand's last this-many metres towards the arm give the tube's section
MIN_SLAB_VERTS = 3
ARM_INSET = 0.95  # the tube starts just inside the wrist's surface
ARM_WIDENING = 0.35
WRIST_FLEXION_DEG, WRIST_DEVIATION_DEG = 40.0, 15.0
ARM_TOWARD_CAMERA = -0.5  # arms pointing at the camera more than this would hide the hand
SLEEVE_PROBABILITY = 0.5
SLEEVE_START = (0.03, 0.2)  # metres from the wrist
ARM_OWNER = 16  # face owner id of the forearm (MANO joints are 0-15)


@dataclass(frozen=True)
class Forearm:
    """wrist: (2,) flexion and deviation in radians; sleeve_start metres from the wrist where a
    sleeve of colour sleeve_colour (3,) begins, or None for a bare arm."""

    wrist: np.ndarray
    sleeve_start: float | None
    sleeve_colour: np.ndarray


def sample_forearm(rng: np.random.Generator) -> Forearm:
    wrist = np.deg2rad(rng.uniform(-1, 1, 2) * [WRIST_FLEXION_DEG, WRIST_DEVIATION_DEG])
    sleeve = rng.uniform(*SLEEVE_START) if rng.uniform() < SLEEVE_PROBABILITY else None
    colour = rng.uniform(0.05, 0.9, 3) ** rng.uniform(0.8, 1.6)
    return Forearm(wrist, sleeve, colour)


def _tube_faces(rings: int, segments: int) -> np.ndarray:
    """Triangles `(2 (rings - 1) segments, 3)` of a tube of `rings` rings of `segments`."""
    ring = np.arange(rings - 1)[:, None] * segments
    j = np.arange(segments)[None]
    a, b = ring + j, ring + (j + 1) % segments
    c, d = a + segments, b + segments
    return np.concatenate([np.stack([a, c, b], -1), np.stack([b, c, d], -1)]).reshape(-1, 3)


ARM_FACES = _tube_faces(ARM_RINGS, ARM_SEGMENTS)


def forearm_tube(
    verts_root: np.ndarray, forearm: Forearm
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The forearm in the root frame (the wrist joint at the origin, rest orientation).

    verts_root: the posed hand's vertices `(V, 3)` in that frame; the tube's elliptic section
    is fitted to those in the last WRIST_SLAB towards the arm (for the official MANO mesh:
    around its open wrist). Returns vertices `(R S, 3)`, outward normals `(R S, 3)` (before
    bending; for the skin pattern) and the distance past the hand's wrist end `(R S,)`.
    """
    wrist_end = verts_root[:, 0].max()
    order = np.argsort(-verts_root[:, 0])
    in_slab = max(MIN_SLAB_VERTS, int((verts_root[:, 0] >= wrist_end - WRIST_SLAB).sum()))
    slab = verts_root[order[:in_slab]]
    low, high = slab[:, 1:].min(axis=0), slab[:, 1:].max(axis=0)
    centre, radii = (low + high) / 2, ARM_INSET * (high - low) / 2
    theta = np.linspace(0, 2 * math.pi, ARM_SEGMENTS, endpoint=False)
    along = np.linspace(0, 1, ARM_RINGS)
    scale = 1 + ARM_WIDENING * along[:, None]
    ring = np.stack([np.cos(theta), np.sin(theta)], axis=-1)  # (S, 2)
    section = centre + scale[..., None] * radii * ring  # (R, S, 2)
    distance = along * ARM_LENGTH - ARM_OVERLAP  # past the wrist end
    x = np.broadcast_to((wrist_end + distance)[:, None, None], (*section.shape[:2], 1))
    verts = np.concatenate([x, section], axis=-1).reshape(-1, 3)
    normals = np.concatenate([np.zeros((ARM_SEGMENTS, 1)), ring / radii], axis=-1)
    normals = np.tile(normals / np.linalg.norm(normals, axis=1, keepdims=True), (ARM_RINGS, 1))
    pivot = np.array([wrist_end, *centre])
    # Flexion swings the arm towards the palm (-y) or back, deviation towards thumb or pinky.
    bend = Rotation.from_euler("zy", forearm.wrist)
    verts = bend.apply(verts - pivot) + pivot
    return verts, normals, np.repeat(distance, ARM_SEGMENTS)
