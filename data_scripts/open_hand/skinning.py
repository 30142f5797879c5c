"""Rig the open hand's surface: skinning weights, joint regressor and fingertip vertices.

Each vertex is attached to the digit chain (wrist -> 3 joints -> tip) nearest to it and read by
its arc length along that chain. Crossing a joint, its weight moves from the parent's bone to the
joint's own bone along a smoothstep, so the blend is smooth and each row sums to one. A few rounds
of averaging over the mesh then smooth the seams between neighbouring chains.
"""

from __future__ import annotations

import itertools

import numpy as np
import scipy.optimize
import scipy.sparse

from .skeleton import FINGER_ORDER, NUM_JOINTS, TIP_ORDER, Skeleton

# Width (metres, along the chain) over which a joint hands its vertices to the next bone.
BLEND_WIDTH = {"mcp": 0.016, "pip": 0.010, "dip": 0.008}
THUMB_BLEND_WIDTH = {"mcp": 0.020, "pip": 0.012, "dip": 0.010}
SEAM_SMOOTHING_ROUNDS = 6
REGRESSOR_NEIGHBOURS = 40
REGRESSOR_UNIFORM_PULL = 1e-6
REGRESSOR_HARD_ROWS = 1e3


def _closest_on_polyline(points: np.ndarray, chain: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distance `(N,)` from each point to the polyline `(K, 3)` and the arc length `(N,)` there."""
    best_d = np.full(len(points), np.inf)
    best_s = np.zeros(len(points))
    start = 0.0
    for a, b in itertools.pairwise(chain):
        ab = b - a
        length = np.linalg.norm(ab)
        t = np.clip((points - a) @ ab / length**2, 0.0, 1.0)
        d = np.linalg.norm(points - (a + t[:, None] * ab), axis=1)
        closer = d < best_d
        best_d = np.where(closer, d, best_d)
        best_s = np.where(closer, start + t * length, best_s)
        start += length
    return best_d, best_s


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def _chain_weights(arc: np.ndarray, chain: np.ndarray, widths: dict[str, float]) -> np.ndarray:
    """Weights `(N, 4)` of the chain's 4 bones (wrist, joint 1, 2, 3) at arc lengths `(N,)`."""
    joint_arc = np.cumsum(np.linalg.norm(np.diff(chain, axis=0), axis=1))[:3]
    handover = [
        _smoothstep((arc - (s - w / 2)) / w)
        for s, w in zip(joint_arc, widths.values(), strict=True)
    ]
    ones = np.ones_like(arc)
    zeros = np.zeros_like(arc)
    steps = np.stack([ones, *handover, zeros], axis=1)
    return steps[:, :-1] - steps[:, 1:]


def vertex_adjacency(faces: np.ndarray, num_verts: int) -> scipy.sparse.csr_matrix:
    """Row-normalised vertex adjacency `(V, V)` of a triangle mesh."""
    i = np.concatenate(
        [faces[:, 0], faces[:, 1], faces[:, 2], faces[:, 1], faces[:, 2], faces[:, 0]]
    )
    j = np.concatenate(
        [faces[:, 1], faces[:, 2], faces[:, 0], faces[:, 0], faces[:, 1], faces[:, 2]]
    )
    adj = scipy.sparse.coo_matrix((np.ones(len(i)), (i, j)), shape=(num_verts, num_verts)).tocsr()
    adj.data[:] = 1.0
    return scipy.sparse.diags(1.0 / np.asarray(adj.sum(axis=1)).ravel()) @ adj


def skinning_weights(verts: np.ndarray, faces: np.ndarray, skeleton: Skeleton) -> np.ndarray:
    """Linear-blend-skinning weights `(V, 16)`, non-negative, rows summing to one."""
    dists, arcs = zip(
        *(_closest_on_polyline(verts, skeleton.chain(f)) for f in FINGER_ORDER), strict=True
    )
    nearest = np.argmin(np.stack(dists, axis=1), axis=1)
    weights = np.zeros((len(verts), NUM_JOINTS))
    rows = np.arange(len(verts))
    for f, finger in enumerate(FINGER_ORDER):
        widths = THUMB_BLEND_WIDTH if finger == "thumb" else BLEND_WIDTH
        chain_w = _chain_weights(arcs[f], skeleton.chain(finger), widths)
        mine = nearest == f
        for k, joint in enumerate(skeleton.chain_joint_ids(finger)):
            weights[rows[mine], joint] += chain_w[mine, k]
    averaging = vertex_adjacency(faces, len(verts))
    for _ in range(SEAM_SMOOTHING_ROUNDS):
        weights = 0.5 * weights + 0.5 * (averaging @ weights)
    return weights / weights.sum(axis=1, keepdims=True)


def joint_regressor(verts: np.ndarray, joints: np.ndarray) -> np.ndarray:
    """Sparse convex weights `(16, V)` such that `regressor @ verts` reproduces `joints` `(16, 3)`.

    Each joint is a non-negative combination of its nearest surface vertices, as in MANO; a weak
    pull towards equal weights spreads it over the whole ring around the joint.
    """
    regressor = np.zeros((len(joints), len(verts)))
    pull = np.sqrt(REGRESSOR_UNIFORM_PULL)
    for j, joint in enumerate(joints):
        ids = np.argsort(np.linalg.norm(verts - joint, axis=1))[:REGRESSOR_NEIGHBOURS]
        n = len(ids)
        # Rows: reproduce the joint and sum to one (both weighted hard), stay near uniform.
        a = np.vstack([verts[ids].T, np.ones((1, n)), pull * np.eye(n)])
        b = np.concatenate([joint, [1.0], pull * np.full(n, 1.0 / n)])
        a[:4] *= REGRESSOR_HARD_ROWS
        b[:4] *= REGRESSOR_HARD_ROWS
        w, _ = scipy.optimize.nnls(a, b)
        regressor[j, ids] = w / w.sum()
    return regressor


def fingertip_vertices(verts: np.ndarray, skeleton: Skeleton) -> np.ndarray:
    """Ids `(5,)` of the vertex nearest each fingertip point, FreiHAND tip order."""
    return np.array(
        [
            int(np.argmin(np.linalg.norm(verts - tip, axis=1)))
            for tip in skeleton.tips[: len(TIP_ORDER)]
        ]
    )
