"""Differentiable mesh renderer in pure PyTorch: soft (SoftRas / pytorch3d) and hard modes.

    from s2h_lib.render import RenderSettings, Lights, render_mesh, silhouette
    out = render_mesh(verts, faces, K, RenderSettings(image_size=(224, 224)),
                      face_colors=colors, lights=Lights.from_vector(lights11))
    out.rgb, out.alpha, out.depth   # (B, 3, H, W), (B, 1, H, W), (B, 1, H, W)

Only pixel-face pairs inside each face's blur-grown bounding box are evaluated, and reduced per
pixel with scatter operations; autograd differentiates the pair geometry.
"""

from s2h_lib.render.renderer import RenderOutput, render_mesh, silhouette, supersampled_intrinsics
from s2h_lib.render.settings import (
    MIN_PROBABILITY,
    RenderSettings,
    gamma_from_pytorch3d,
    sigma_from_pytorch3d,
)
from s2h_lib.render.shading import Lights, face_normals, vertex_normals

__all__ = [
    "MIN_PROBABILITY",
    "Lights",
    "RenderOutput",
    "RenderSettings",
    "face_normals",
    "gamma_from_pytorch3d",
    "render_mesh",
    "sigma_from_pytorch3d",
    "silhouette",
    "supersampled_intrinsics",
    "vertex_normals",
]
