"""Shape blend shapes of the open hand: a PCA of plausibly varied hands.

A varied hand is the template deformed bone by bone: each bone keeps its direction but is scaled
along itself (length) and across itself (width), the palm is scaled in length, width and
thickness, and the whole hand in size. Bone deformations are blended with the skinning weights,
so the surface stays smooth, and joints follow their parents, so the skeleton stays connected.
The principal components of many such hands, scaled by their standard deviations, become
`shapedirs`: unit-variance betas then give plausible hands, as with MANO.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .skeleton import FINGER_ORDER, NUM_JOINTS, PARENTS

NUM_BETAS = 10
NUM_SHAPE_SAMPLES = 2000


@dataclass(frozen=True)
class ShapeVariation:
    """Standard deviations (relative) of the proportions a hand can vary in."""

    size: float = 0.07
    finger_length: float = 0.05
    finger_length_common: float = 0.04
    finger_width: float = 0.08
    palm_length: float = 0.05
    palm_width: float = 0.06
    thickness: float = 0.08


def _bone_directions(joints: np.ndarray, tips: np.ndarray) -> np.ndarray:
    """Unit direction `(16, 3)` of the bone each joint drives; the wrist's points along the palm."""
    last_bone_ends = tips_by_joint(tips)
    child_end = np.zeros_like(joints)
    for j in range(1, NUM_JOINTS):
        children = np.flatnonzero(j == PARENTS)
        child_end[j] = joints[children[0]] if len(children) else last_bone_ends[j]
    child_end[0] = joints[[1, 4, 7, 10]].mean(axis=0)
    d = child_end - joints
    return d / np.linalg.norm(d, axis=1, keepdims=True)


def tips_by_joint(tips: np.ndarray) -> dict[int, np.ndarray]:
    """The fingertip point beyond each last joint (3, 6, 9, 12, 15), keyed by MANO joint id."""
    tip_order = ("thumb", "index", "middle", "ring", "pinky")
    return {3 * (FINGER_ORDER.index(name) + 1): tips[k] for k, name in enumerate(tip_order)}


def _bone_affines(
    directions: np.ndarray, length: np.ndarray, width: np.ndarray, palm: np.ndarray
) -> np.ndarray:
    """Linear parts `(16, 3, 3)`: scale by length along each bone and by width across it."""
    outer = directions[:, :, None] * directions[:, None, :]
    affines = length[:, None, None] * outer + width[:, None, None] * (np.eye(3) - outer)
    affines[0] = np.diag(palm)
    return affines


def deform(
    verts: np.ndarray,
    joints: np.ndarray,
    weights: np.ndarray,
    directions: np.ndarray,
    length: np.ndarray,
    width: np.ndarray,
    palm: np.ndarray,
    size: float,
) -> np.ndarray:
    """One varied hand: vertices `(V, 3)` for per-bone scales `(16,)` and palm scales `(3,)`."""
    affines = _bone_affines(directions, length, width, palm)
    new_joints = joints.copy()
    for j in range(1, NUM_JOINTS):
        p = PARENTS[j]
        new_joints[j] = new_joints[p] + affines[p] @ (joints[j] - joints[p])
    local = verts[:, None, :] - joints[None]  # (V, 16, 3)
    moved = new_joints[None] + np.einsum("jab,vjb->vja", affines, local)
    return size * (weights[:, :, None] * moved).sum(axis=1)


def sample_hands(
    verts: np.ndarray,
    joints: np.ndarray,
    tips: np.ndarray,
    weights: np.ndarray,
    rng: np.random.Generator,
    variation: ShapeVariation = ShapeVariation(),
) -> np.ndarray:
    """Vertices `(N, V, 3)` of `NUM_SHAPE_SAMPLES` randomly proportioned hands."""
    directions = _bone_directions(joints, tips)
    samples = np.empty((NUM_SHAPE_SAMPLES, *verts.shape))
    for n in range(NUM_SHAPE_SAMPLES):
        common = rng.normal(0.0, variation.finger_length_common)
        per_finger_length = 1.0 + common + rng.normal(0.0, variation.finger_length, 5)
        per_finger_width = 1.0 + rng.normal(0.0, variation.finger_width) + rng.normal(0.0, 0.02, 5)
        length = np.ones(NUM_JOINTS)
        width = np.ones(NUM_JOINTS)
        for f in range(5):
            length[1 + 3 * f : 4 + 3 * f] = per_finger_length[f]
            width[1 + 3 * f : 4 + 3 * f] = per_finger_width[f]
        palm = 1.0 + np.array(
            [
                rng.normal(0.0, variation.palm_length),
                rng.normal(0.0, variation.thickness),
                rng.normal(0.0, variation.palm_width),
            ]
        )
        size = 1.0 + rng.normal(0.0, variation.size)
        samples[n] = deform(verts, joints, weights, directions, length, width, palm, size)
    return samples


def shape_blend_shapes(verts: np.ndarray, samples: np.ndarray) -> np.ndarray:
    """`shapedirs` `(V, 3, 10)`: the leading principal directions times their standard deviations.

    Each component's sign is fixed so that a positive beta makes the hand larger on average,
    which keeps the result deterministic across linear-algebra back ends.
    """
    offsets = (samples - verts[None]).reshape(len(samples), -1)
    offsets = offsets - offsets.mean(axis=0)
    _, singular, vt = np.linalg.svd(offsets, full_matrices=False)
    std = singular[:NUM_BETAS] / np.sqrt(len(samples) - 1)
    dirs = vt[:NUM_BETAS] * std[:, None]  # (10, V*3)
    outward = (verts - verts.mean(axis=0)).reshape(-1)
    dirs *= np.where(dirs @ outward < 0, -1.0, 1.0)[:, None]
    return dirs.reshape(NUM_BETAS, *verts.shape).transpose(1, 2, 0)
