"""Cotangent Laplacian: flat meshes, a dense reference written independently, batching."""

import math

import numpy as np
import pytest
import torch

from s2h_lib.hand.laplacian import apply_laplacian, cotangent_laplacian

GRID = 6


def grid_mesh(n: int = GRID, jitter: float = 0.0, bumps: float = 0.0, seed: int = 0):
    """An n x n grid of vertices (spacing 1 cm) split into triangles; interior flags (n*n,)."""
    rng = np.random.default_rng(seed)
    ys, xs = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    verts = np.stack([xs, ys, np.zeros_like(xs)], -1).reshape(-1, 3).astype(float) * 0.01
    interior = ((xs > 0) & (xs < n - 1) & (ys > 0) & (ys < n - 1)).reshape(-1)
    verts[interior, :2] += rng.uniform(-jitter, jitter, (interior.sum(), 2)) * 0.01
    verts[:, 2] += rng.uniform(-bumps, bumps, n * n) * 0.01
    faces = []
    for row in range(n - 1):
        for col in range(n - 1):
            a, b = row * n + col, row * n + col + 1
            c, d = a + n, b + n
            faces += [(a, b, d), (a, d, c)]
    return torch.tensor(verts), torch.tensor(faces), torch.from_numpy(interior)


def dense_reference(verts: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """L with w_ij = (cot alpha + cot beta) / 2 from angles via arccos, one triangle at a time."""
    n = len(verts)
    weights = np.zeros((n, n))
    for face in faces:
        for k in range(3):
            apex, i, j = face[k], face[(k + 1) % 3], face[(k + 2) % 3]
            a, b = verts[i] - verts[apex], verts[j] - verts[apex]
            angle = math.acos(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))
            weights[i, j] += 0.5 / math.tan(angle)
            weights[j, i] += 0.5 / math.tan(angle)
    return weights - np.diag(weights.sum(1))


def test_flat_regular_grid_interior_is_zero():
    verts, faces, interior = grid_mesh()
    lv = apply_laplacian(cotangent_laplacian(verts, faces), verts[None])[0]
    assert lv[interior].abs().max() < 1e-15
    assert lv[~interior].norm(dim=-1).min() > 1e-4  # the boundary is not in equilibrium


def test_flat_irregular_grid_interior_is_zero():
    """The cotangent Laplacian reproduces linear functions on any planar triangulation."""
    verts, faces, interior = grid_mesh(jitter=0.3, seed=3)
    lv = apply_laplacian(cotangent_laplacian(verts, faces), verts[None])[0]
    assert lv[interior].abs().max() < 1e-15


def test_matches_dense_reference_on_curved_mesh():
    verts, faces, _ = grid_mesh(jitter=0.3, bumps=0.5, seed=1)
    sparse = cotangent_laplacian(verts, faces).to_dense().numpy()
    np.testing.assert_allclose(sparse, dense_reference(verts.numpy(), faces.numpy()), atol=1e-12)
    np.testing.assert_allclose(sparse, sparse.T)
    np.testing.assert_allclose(sparse.sum(1), 0.0, atol=1e-12)


def test_batch_is_block_diagonal_with_each_samples_weights():
    first, faces, _ = grid_mesh(jitter=0.3, bumps=0.5, seed=1)
    second, _, _ = grid_mesh(jitter=0.2, bumps=0.8, seed=2)
    n = len(first)
    dense = cotangent_laplacian(torch.stack([first, second]), faces).to_dense()
    torch.testing.assert_close(dense[:n, :n], cotangent_laplacian(first, faces).to_dense())
    torch.testing.assert_close(dense[n:, n:], cotangent_laplacian(second, faces).to_dense())
    assert dense[:n, n:].abs().max() == 0 and dense[n:, :n].abs().max() == 0


def test_weights_are_constants_and_product_is_differentiable():
    verts, faces, _ = grid_mesh(jitter=0.3, bumps=0.5, seed=1)
    laplacian = cotangent_laplacian(verts, faces)
    assert not laplacian.requires_grad
    x = verts[None].clone().requires_grad_()
    assert torch.autograd.gradcheck(lambda v: apply_laplacian(laplacian, v), (x,))


def test_degenerate_triangle_gives_finite_weights():
    verts = torch.tensor([[0.0, 0, 0], [1, 0, 0], [2, 0, 0], [1, 1, 0]], dtype=torch.float64)
    faces = torch.tensor([[0, 1, 2], [0, 2, 3]])
    assert torch.isfinite(cotangent_laplacian(verts, faces).to_dense()).all()


def test_bad_shapes_raise():
    verts, faces, _ = grid_mesh()
    with pytest.raises(ValueError, match="verts must be"):
        cotangent_laplacian(verts[:, :2], faces)
    with pytest.raises(ValueError, match="faces must be"):
        cotangent_laplacian(verts, faces[:, :2])
    with pytest.raises(ValueError, match="vertices"):
        apply_laplacian(cotangent_laplacian(verts, faces), verts[None, :-1])
