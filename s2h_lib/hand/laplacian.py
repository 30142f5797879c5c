"""Cotangent Laplacian of triangle meshes as a torch sparse matrix.

For an edge (i, j) with opposite angles alpha and beta (one of them on a boundary edge),
    w_ij = (cot alpha + cot beta) / 2,     (L V)_i = sum_j w_ij (v_j - v_i),
i.e. L = W - diag(W 1). No mass matrix: S2HAND's "triangle" term uses the unnormalised
operator, so (L V) is in the mesh's length units. L reproduces linear functions, so on any
flat mesh (L V)_i = 0 at every interior vertex; on a curved surface it points along the normal
with a length that grows with the curvature.

A batch of meshes with shared faces gives one block-diagonal matrix of size (B V, B V): each
sample gets the weights of its own geometry (the original used the first sample's weights for
the whole batch and built them with scipy on the CPU). The sparsity pattern depends only on the
faces, so the entries are summed into it directly and the matrix is built already coalesced.
"""

from __future__ import annotations

import torch
from torch import Tensor

# Sines below this are raised to it when computing cotangents, so a collapsed triangle (all
# three corners on a line) gives |cot| <= 1 / MIN_SINE instead of inf.
MIN_SINE = 1e-3
# Corner k of a triangle is opposite the edge (EDGE_ENDS[k][0], EDGE_ENDS[k][1]).
EDGE_ENDS = ((1, 2), (2, 0), (0, 1))


def corner_cotangents(verts: Tensor, faces: Tensor) -> Tensor:
    """Cotangent of each triangle's angle at each of its corners.

    verts (B, V, 3), faces (F, 3) int64 -> (B, F, 3): entry k is the angle at corner k.
    With e_k the edge opposite corner k (e_0 = v2 - v1, e_1 = v0 - v2, e_2 = v1 - v0), the angle
    at corner k lies between -e_k+1 and e_k+2, so cot = -(e_k+1 . e_k+2) / |e_k+1 x e_k+2| and
    the cross product's length is twice the area at every corner.
    """
    corners = verts[:, faces]
    edges = torch.stack([corners[:, :, b] - corners[:, :, a] for a, b in EDGE_ENDS], dim=2)
    following, after = edges.roll(-1, dims=2), edges.roll(-2, dims=2)
    double_area = torch.linalg.cross(edges[:, :, 1], edges[:, :, 2]).norm(dim=-1, keepdim=True)
    lengths = edges.norm(dim=-1)
    floor = MIN_SINE * lengths.roll(-1, dims=2) * lengths.roll(-2, dims=2)
    sine_term = torch.maximum(double_area, floor).clamp_min(1e-30)
    return -(following * after).sum(-1) / sine_term


def _entries(faces: Tensor) -> tuple[Tensor, Tensor]:
    """Where each face corner's weight goes in one sample's matrix.

    Corner k of face f adds +w to (a, b) and (b, a) and -w to (a, a) and (b, b), with (a, b) the
    edge opposite it. Returns the unique (row, col) pairs (2, nnz), sorted row-major, and for
    each of the 4 x F x 3 contributions, ordered (sign block, face, corner), its slot among them.
    """
    ends_a = faces[:, [a for a, _ in EDGE_ENDS]]
    ends_b = faces[:, [b for _, b in EDGE_ENDS]]
    rows = torch.stack([ends_a, ends_b, ends_a, ends_b]).reshape(-1)
    cols = torch.stack([ends_b, ends_a, ends_a, ends_b]).reshape(-1)
    num_verts = int(faces.max()) + 1
    keys, slots = torch.unique(rows * num_verts + cols, sorted=True, return_inverse=True)
    return torch.stack([keys // num_verts, keys % num_verts]), slots


def cotangent_laplacian(verts: Tensor, faces: Tensor) -> Tensor:
    """Block-diagonal cotangent Laplacian of B meshes, weights from their current geometry.

    verts (B, V, 3) or (V, 3); faces (F, 3) int64 (shared by all samples). Returns a coalesced
    sparse COO tensor (B V, B V) in verts' dtype and device, with no gradient: the weights are
    constants for whoever multiplies by it.
    """
    if verts.dim() == 2:
        verts = verts.unsqueeze(0)
    if verts.dim() != 3 or verts.shape[-1] != 3:
        raise ValueError(f"verts must be (B, V, 3) or (V, 3), got {tuple(verts.shape)}")
    if faces.dim() != 2 or faces.shape[-1] != 3:
        raise ValueError(f"faces must be (F, 3), got {tuple(faces.shape)}")
    faces = faces.to(device=verts.device, dtype=torch.long)
    batch, num_verts = verts.shape[:2]
    with torch.no_grad():
        half_cot = 0.5 * corner_cotangents(verts.detach(), faces).reshape(batch, -1)
        contributions = torch.cat([half_cot, half_cot, -half_cot, -half_cot], dim=1)
        pattern, slots = _entries(faces)
        values = half_cot.new_zeros(batch, pattern.shape[1]).index_add(1, slots, contributions)
        offsets = torch.arange(batch, device=verts.device).repeat_interleave(pattern.shape[1])
        indices = pattern.repeat(1, batch) + offsets * num_verts
        size = batch * num_verts
        # row-major sorted and unique per block, and the blocks follow each other
        return torch.sparse_coo_tensor(
            indices,
            values.reshape(-1),
            (size, size),
            check_invariants=False,
            is_coalesced=True,
        )


def apply_laplacian(laplacian: Tensor, verts: Tensor) -> Tensor:
    """(L V) for a block-diagonal L (B V, B V) and verts (B, V, 3) -> (B, V, 3).

    Differentiable with respect to verts (L is a constant).
    """
    flat = verts.reshape(-1, verts.shape[-1])
    if laplacian.shape[1] != flat.shape[0]:
        raise ValueError(
            f"laplacian is {tuple(laplacian.shape)} but verts hold {flat.shape[0]} vertices"
        )
    return torch.sparse.mm(laplacian, flat).reshape(verts.shape)
