"""`render_mesh`: a batch of meshes in the camera frame to images, soft or hard."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from s2h_lib.render.blend import soft_alpha, soft_rgb
from s2h_lib.render.pytorch3d_backend import rasterize_pytorch3d
from s2h_lib.render.rasterize import Fragments, nearest_inside, rasterize
from s2h_lib.render.settings import RenderSettings
from s2h_lib.render.shading import Lights, corner_textures, shade_corners


@dataclass
class RenderOutput:
    """What `render_mesh` returns, at the settings' image size (H, W).

    rgb: (B, 3, H, W), the background where nothing is drawn.
    alpha: (B, 1, H, W) soft silhouette in soft mode, (anti-aliased) coverage in hard mode.
    depth: (B, 1, H, W) camera depth in metres of the front-most face whose interior covers the
        pixel centre (z-buffer, in both modes), 0 where none does; averaged over the covered
        sub-pixels when supersampling.
    face_index: (B, H, W) int64 index into faces of that front-most face, -1 where none;
        barycentrics: (B, H, W, 3) of the pixel centre in it, 0 where none. Both None when
        supersampling, since sub-pixels cannot be averaged into one face.
    num_pairs: pixel-face pairs evaluated (at the supersampled resolution).
    """

    rgb: Tensor
    alpha: Tensor
    depth: Tensor
    face_index: Tensor | None
    barycentrics: Tensor | None
    num_pairs: int


def rasterizer_for(settings: RenderSettings) -> Callable[..., Fragments]:
    """The backend's rasterizer; both take and return the same things."""
    return rasterize_pytorch3d if settings.backend == "pytorch3d" else rasterize


def supersampled_intrinsics(K: Tensor, factor: int) -> Tensor:
    """Intrinsics `(B, 3, 3)` of an image `factor` times larger in each direction.

    With pixel centres at integers, output pixel c covers sub-pixels whose centres are at
    factor * (c + 0.5) - 0.5 - k, so u' = factor * u + (factor - 1) / 2.
    """
    scale = K.new_tensor([factor, factor, 1.0]).unsqueeze(-1)
    shift = K.new_zeros(3, 3)
    shift[:2, 2] = (factor - 1) / 2.0
    return K * scale + shift


def background_image(
    background: Tensor | tuple[float, ...],
    batch_size: int,
    image_size: tuple[int, int],
    like: Tensor,
) -> Tensor:
    """Background `(B, 3, H, W)` from a colour `(3,)`, colours `(B, 3)` or images `(B, 3, H, W)`."""
    background = torch.as_tensor(background, device=like.device, dtype=like.dtype)
    if background.dim() < 4:
        background = background.reshape(-1, 3, 1, 1)
    return background.expand(batch_size, 3, *image_size)


def to_image(values: Tensor, batch_size: int, image_size: tuple[int, int]) -> Tensor:
    """Per-pixel values `(N, C)` to images `(B, C, H, W)`."""
    return values.reshape(batch_size, *image_size, -1).permute(0, 3, 1, 2)


def interpolate_colors(fragments: Fragments, corner_colors: Tensor, pairs: Tensor | None) -> Tensor:
    """Colours `(P, 3)` of the pairs (or of the subset `pairs`) from corners `(B, F, 3, 3)`."""
    face, bary = fragments.face, fragments.bary
    if pairs is not None:
        face, bary = face[pairs], bary[pairs]
    corners = corner_colors.reshape(-1, 3, 3).index_select(0, face)
    return torch.einsum("pk,pkc->pc", bary, corners)


def supersampled_size(settings: RenderSettings) -> tuple[int, int]:
    """(H, W) of the image rasterized before averaging down to `settings.image_size`."""
    factor = settings.supersample
    return settings.image_size[0] * factor, settings.image_size[1] * factor


def rasterize_supersampled(
    verts: Tensor,
    faces: Tensor,
    K: Tensor,
    settings: RenderSettings,
    with_barycentrics: bool = True,
) -> Fragments:
    """The settings' rasterizer at the supersampled size (K and the blur scaled to it)."""
    factor = settings.supersample
    return rasterizer_for(settings)(
        verts,
        faces,
        supersampled_intrinsics(K, factor),
        supersampled_size(settings),
        settings,
        settings.blur_threshold * factor**2,
        with_barycentrics,
    )


def render_mesh(
    verts: Tensor,
    faces: Tensor,
    K: Tensor,
    settings: RenderSettings | None = None,
    *,
    vertex_colors: Tensor | None = None,
    face_colors: Tensor | None = None,
    lights: Lights | None = None,
    background: Tensor | tuple[float, ...] | None = None,
) -> RenderOutput:
    """Render meshes given in the camera frame (OpenCV axes, metres).

    verts: (B, V, 3); faces: (F, 3) int64, counter-clockwise seen from outside; K: (B, 3, 3)
    intrinsics in pixels of the output image. Colours per vertex (B, V, 3) or per face (B, F, 3),
    white if neither; `lights=None` renders unlit. background: RGB (3,), per sample (B, 3) or
    images (B, 3, H, W); `settings.background` if None.
    """
    settings = settings or RenderSettings()
    factor = settings.supersample
    batch_size = verts.shape[0]
    size = supersampled_size(settings)
    num_pixels = batch_size * size[0] * size[1]
    sigma = settings.sigma * factor**2
    fragments = rasterize_supersampled(verts, faces, K, settings)
    winners = nearest_inside(fragments, num_pixels)
    winner_pixels = fragments.pixel[winners]
    covered = verts.new_zeros(num_pixels).index_fill(0, winner_pixels, 1.0)

    textures = corner_textures(faces, batch_size, vertex_colors, face_colors, verts)
    corner_colors = shade_corners(verts, faces, textures, lights, settings.shading)
    background = settings.background if background is None else background
    background = background_image(background, batch_size, settings.image_size, verts)
    background = background.repeat_interleave(factor, -2).repeat_interleave(factor, -1)
    background = background.permute(0, 2, 3, 1).reshape(num_pixels, 3)
    if settings.mode == "soft":
        alpha = soft_alpha(fragments, sigma, num_pixels)
        colors = interpolate_colors(fragments, corner_colors, None)
        rgb = soft_rgb(fragments, colors, background, sigma, settings.gamma, settings.zfar)
    else:
        alpha = covered
        colors = interpolate_colors(fragments, corner_colors, winners)
        rgb = background.index_put((winner_pixels,), colors)
    depth = verts.new_zeros(num_pixels).index_put((winner_pixels,), fragments.depth[winners])

    rgb, alpha, depth, covered = (
        to_image(values.reshape(num_pixels, -1), batch_size, size)
        for values in (rgb, alpha, depth, covered)
    )
    if factor > 1:
        coverage = F.avg_pool2d(covered, factor)
        depth = F.avg_pool2d(depth, factor) / coverage.clamp_min(1.0 / factor**2)
        rgb, alpha = F.avg_pool2d(rgb, factor), F.avg_pool2d(alpha, factor)
        return RenderOutput(rgb, alpha, depth, None, None, fragments.num_candidates)
    face_index = torch.full((num_pixels,), -1, dtype=torch.long, device=verts.device)
    face_index[winner_pixels] = fragments.face[winners] % faces.shape[0]
    bary = verts.new_zeros(num_pixels, 3).index_put((winner_pixels,), fragments.bary[winners])
    return RenderOutput(
        rgb,
        alpha,
        depth,
        face_index.reshape(batch_size, *size),
        bary.reshape(batch_size, *size, 3),
        fragments.num_candidates,
    )


def silhouette(
    verts: Tensor, faces: Tensor, K: Tensor, settings: RenderSettings | None = None
) -> Tensor:
    """Silhouette `(B, 1, H, W)` of meshes, soft or hard per the settings; no colour, no depth.

    Same alpha as `render_mesh`, with less work: no barycentrics, no z-buffer.
    """
    settings = settings or RenderSettings()
    factor = settings.supersample
    batch_size = verts.shape[0]
    size = supersampled_size(settings)
    num_pixels = batch_size * size[0] * size[1]
    fragments = rasterize_supersampled(verts, faces, K, settings, with_barycentrics=False)
    if settings.mode == "soft":
        alpha = soft_alpha(fragments, settings.sigma * factor**2, num_pixels)
    else:  # hard mode keeps only inside pairs
        alpha = verts.new_zeros(num_pixels).index_fill(0, fragments.pixel, 1.0)
    alpha = to_image(alpha.unsqueeze(-1), batch_size, size)
    return F.avg_pool2d(alpha, factor) if factor > 1 else alpha
