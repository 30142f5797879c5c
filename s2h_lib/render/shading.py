"""Lights and shading: the colour of each face corner before rasterization.

All lighting is done on the mesh, once per face corner (B, F, 3); the rasterizer then only
interpolates colours. 'flat' shading uses one face normal per face (S2HAND / neural_renderer);
'gouraud' uses area-weighted vertex normals, lighting each corner.

The light model is S2HAND's (s2hand_method.md, 2.6), with the direction normalised:
    colour = texture * (I_a c_a + I_d c_d max(0, n . l)) [+ specular]
with n the outward normal turned towards the camera and l = -direction the unit vector towards
the light. `direction` is the way the light travels (neural_renderer's meaning, under which its
inward-pointing face normal gives the same result); pytorch3d's `DirectionalLights.direction`
is the opposite vector.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

# Squared-length floor when normalising normals and directions (metres² for normals: faces of
# 10 µm² and up keep exact unit normals), so a zero vector gives a zero normal, not NaN.
NORMALIZE_EPS_SQ = 1e-20
# Components of S2HAND's 11-number light vector, in order.
LIGHT_VECTOR_SPLIT = (1, 1, 3, 3, 3)


def safe_normalize(x: Tensor) -> Tensor:
    """Unit vectors along the last axis, zero for zero vectors, finite gradient everywhere."""
    return x * torch.rsqrt((x * x).sum(-1, keepdim=True) + NORMALIZE_EPS_SQ)


@dataclass
class Lights:
    """Ambient light plus one directional light, per sample (B of them).

    ambient_intensity, directional_intensity: (B,); ambient_color, directional_color: (B, 3);
    direction: (B, 3) the way the light travels, normalised at use (camera frame: (0, 0, 1)
    shines from the camera into the scene). specular_intensity: (B,) or None for no specular
    highlight, shininess its Phong exponent.
    """

    ambient_intensity: Tensor
    directional_intensity: Tensor
    ambient_color: Tensor
    directional_color: Tensor
    direction: Tensor
    specular_intensity: Tensor | None = None
    shininess: float = 32.0

    @classmethod
    def from_vector(cls, lights: Tensor) -> Lights:
        """S2HAND's (B, 11) light vector: I_a, I_d, ambient RGB, directional RGB, direction."""
        if lights.shape[-1] != sum(LIGHT_VECTOR_SPLIT):
            raise ValueError(f"expected (B, 11) lights, got {tuple(lights.shape)}")
        i_a, i_d, c_a, c_d, direction = lights.split(LIGHT_VECTOR_SPLIT, dim=-1)
        return cls(i_a.squeeze(-1), i_d.squeeze(-1), c_a, c_d, direction)

    @classmethod
    def headlight(
        cls,
        batch_size: int,
        ambient: float = 0.5,
        directional: float = 0.5,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> Lights:
        """White light shining from the camera along +z (neural_renderer's default intensities)."""

        def full(value: float, *shape: int) -> Tensor:
            return torch.full((batch_size, *shape), value, device=device, dtype=dtype)

        direction = torch.tensor([0.0, 0.0, 1.0], device=device, dtype=dtype)
        return cls(
            full(ambient),
            full(directional),
            full(1.0, 3),
            full(1.0, 3),
            direction.expand(batch_size, 3),
        )


def face_normals(verts: Tensor, faces: Tensor) -> Tensor:
    """Outward face normals scaled by twice the face area.  (B, V, 3), (F, 3) -> (B, F, 3)."""
    v0, v1, v2 = verts[:, faces].unbind(-2)
    return torch.linalg.cross(v1 - v0, v2 - v0)


def vertex_normals(verts: Tensor, faces: Tensor) -> Tensor:
    """Unit area-weighted vertex normals.  (B, V, 3), (F, 3) -> (B, V, 3)."""
    per_face = face_normals(verts, faces).repeat_interleave(3, dim=1)
    summed = torch.zeros_like(verts).index_add(1, faces.reshape(-1), per_face)
    return safe_normalize(summed)


def corner_textures(
    faces: Tensor,
    batch_size: int,
    vertex_colors: Tensor | None,
    face_colors: Tensor | None,
    like: Tensor,
) -> Tensor:
    """Colour of each face corner `(B, F, 3, 3)` from per-vertex `(B, V, 3)` or per-face
    `(B, F, 3)` colours; white when neither is given (`like` gives device and dtype)."""
    if vertex_colors is not None and face_colors is not None:
        raise ValueError("give vertex_colors or face_colors, not both")
    if vertex_colors is not None:
        return vertex_colors[:, faces]
    if face_colors is not None:
        return face_colors.unsqueeze(2).expand(-1, -1, 3, -1)
    return like.new_ones(batch_size, faces.shape[0], 3, 3)


def shade_corners(
    verts: Tensor, faces: Tensor, textures: Tensor, lights: Lights | None, shading: str
) -> Tensor:
    """Lit colour of each face corner.  verts (B, V, 3), faces (F, 3), textures (B, F, 3, 3)
    -> (B, F, 3, 3). `lights=None` is unlit: the textures unchanged."""
    if lights is None:
        return textures
    normals_f = face_normals(verts, faces)
    centroids = verts[:, faces].mean(-2)
    # Light the side the camera sees: faces seen from behind (double-sided) flip their normal.
    facing = torch.where((normals_f * centroids).sum(-1, keepdim=True) > 0, -1.0, 1.0).detach()
    if shading == "flat":
        normals = safe_normalize(normals_f * facing).unsqueeze(2)
        points = centroids.unsqueeze(2)
    else:
        normals = vertex_normals(verts, faces)[:, faces] * facing.unsqueeze(-1)
        points = verts[:, faces]
    to_light = -safe_normalize(lights.direction)[:, None, None, :]
    cos_incidence = (normals * to_light).sum(-1, keepdim=True)
    light = lights.ambient_intensity[:, None, None, None] * lights.ambient_color[:, None, None, :]
    directional = (
        lights.directional_intensity[:, None, None, None] * lights.directional_color[:, None, None]
    )
    colors = textures * (light + directional * cos_incidence.clamp_min(0.0))
    if lights.specular_intensity is None:
        return colors
    reflected = 2.0 * cos_incidence * normals - to_light
    to_camera = safe_normalize(-points)
    highlight = (to_camera * reflected).sum(-1, keepdim=True).clamp_min(0.0) ** lights.shininess
    highlight = highlight * (cos_incidence > 0)
    return colors + lights.specular_intensity[:, None, None, None] * directional * highlight
