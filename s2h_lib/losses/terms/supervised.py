"""The fully supervised upper bound (labelled runs only): 3D joints and the skin's vertices."""

from __future__ import annotations

import torch
from torch import Tensor

from s2h_lib.losses.terms.reduce import weighted_mean


def joints3d_loss(joints: Tensor, true_joints: Tensor) -> Tensor:
    """Fully supervised 3D joints: mean_bj ||J_bj - J*_bj|| in metres. (B, 21, 3) each."""
    return torch.linalg.vector_norm(joints - true_joints, dim=-1).mean()


def verts3d_loss(verts: Tensor, true_verts: Tensor, has_mesh: Tensor) -> Tensor:
    """Fully supervised vertices: mean |V - V*| (L1 per coordinate, metres) over samples with
    a mesh. verts, true_verts: (B, V, 3); has_mesh: (B,) bool."""
    if verts.shape != true_verts.shape:
        raise ValueError(
            f"predicted verts {tuple(verts.shape)} and true verts {tuple(true_verts.shape)} "
            "differ: the dataset's meshes come from another hand model"
        )
    per_sample = (verts - true_verts).abs().mean((1, 2))
    return weighted_mean(per_sample, has_mesh.to(per_sample))
