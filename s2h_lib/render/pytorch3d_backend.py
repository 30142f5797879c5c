"""pytorch3d's rasterizer behind `render_mesh` (`RenderSettings(backend="pytorch3d")`).

pytorch3d searches the pixel-face pairs (its CUDA kernels on GPU, its C++ ones on CPU): for each
pixel, the nearest faces within the blur radius. The geometry of those pairs (signed distance,
barycentrics, depth) is then computed by `pair_geometry`, the native backend's differentiable
code, so shading, blending, the z-buffer and the gradients are the native backend's. pytorch3d's
own backward is not used: for a pixel outside a face it differentiates the clipped barycentrics
and depth wrongly (README, "The renderer and pytorch3d"). pytorch3d is optional: it is imported
at render time, and its absence raises an ImportError that says what to do.

Conventions bridged here:
- pixel centres: pytorch3d's screen space puts pixel (r, c)'s centre at (c + 0.5, r + 0.5),
  ours at (c, r), so its camera gets the principal point shifted by half a pixel;
- distances: its blur radius is a squared NDC distance (NDC spans 2 units over the shorter image
  side), ours squared pixels;
- culling: it draws back faces unless `cull_backfaces`; ours culls them unless `double_sided`;
- depth range: it draws every face in front of the camera; faces with a vertex outside
  [znear, zfar] are dropped here, as the native backend drops them;
- faces per pixel: it keeps the `faces_per_pixel` nearest in depth, ours every face in reach;
  a warning says when some pixel's list is full, since faces may then be missing there.
"""

from __future__ import annotations

import warnings

import torch
from torch import Tensor

from s2h_lib.render.rasterize import (
    Fragments,
    candidates_at,
    drawable_faces,
    pair_geometry,
    screen_triangles,
)
from s2h_lib.render.settings import RenderSettings, pixels_per_ndc

INSTALL_HINT = (
    "RenderSettings(backend='pytorch3d') needs pytorch3d, which cannot be imported here ({error}). "
    "Install it for your torch and CUDA (conda's pytorch3d channel, or from source: "
    "https://github.com/facebookresearch/pytorch3d/blob/main/INSTALL.md), "
    "or use backend='native', which needs nothing else."
)


def require_pytorch3d() -> None:
    """Raise ImportError with install advice unless pytorch3d's renderer imports."""
    try:
        import pytorch3d.renderer  # noqa: F401
    except ImportError as error:
        raise ImportError(INSTALL_HINT.format(error=error)) from error


def opencv_cameras(K: Tensor, image_size: tuple[int, int]):
    """pytorch3d `PerspectiveCameras` for OpenCV intrinsics `(B, 3, 3)` with pixel centres at
    integers, looking from the origin along +z (our camera frame)."""
    from pytorch3d.utils import cameras_from_opencv_projection

    batch_size = K.shape[0]
    shifted = K.clone()
    shifted[:, :2, 2] += 0.5
    eye = torch.eye(3, dtype=K.dtype, device=K.device).expand(batch_size, 3, 3)
    size = torch.tensor([image_size], device=K.device).expand(batch_size, 2)
    return cameras_from_opencv_projection(eye, K.new_zeros(batch_size, 3), shifted, size)


def rasterize_pytorch3d(
    verts: Tensor,
    faces: Tensor,
    K: Tensor,
    image_size: tuple[int, int],
    settings: RenderSettings,
    blur_threshold: float,
    with_barycentrics: bool = True,
) -> Fragments:
    """`rasterize`'s contract, with the pairs found by pytorch3d (in float32, without gradient).

    verts: (B, V, 3) camera frame, metres; faces: (F, 3) int64; K: (B, 3, 3) pixels for this
    image_size (H, W); blur_threshold: squared pixel distance within which outside pixels are
    kept. `num_candidates` is the number of pairs pytorch3d returned.
    """
    require_pytorch3d()
    tri_uv, tri_z = screen_triangles(verts, faces, K, settings.znear)
    with torch.no_grad():
        pix_to_face = search_pairs(verts, faces, K, image_size, settings, blur_threshold)
        drawable = drawable_faces(tri_uv, tri_z, settings).reshape(-1)
        valid = (pix_to_face >= 0) & drawable[pix_to_face.clamp_min(0)]
        image, row, column, _ = valid.nonzero().unbind(1)
        candidates = candidates_at(
            tri_uv, pix_to_face[valid], image, row, column, blur_threshold**0.5, image_size
        )
    return pair_geometry(tri_uv, tri_z, candidates, settings, blur_threshold, with_barycentrics)


def search_pairs(
    verts: Tensor,
    faces: Tensor,
    K: Tensor,
    image_size: tuple[int, int],
    settings: RenderSettings,
    blur_threshold: float,
) -> Tensor:
    """pytorch3d's `pix_to_face` `(B, H, W, faces_per_pixel)`: the nearest faces within the blur
    of each pixel, as indices into the flattened (B, F) faces, -1 where there are fewer."""
    from pytorch3d.renderer import MeshRasterizer, RasterizationSettings
    from pytorch3d.structures import Meshes

    batch_size = verts.shape[0]
    raster = RasterizationSettings(
        image_size=image_size,
        blur_radius=blur_threshold / pixels_per_ndc(image_size) ** 2,
        faces_per_pixel=settings.faces_per_pixel,
        perspective_correct=settings.perspective_correct,
        clip_barycentric_coords=True,
        cull_backfaces=not settings.double_sided,
    )
    mesh = Meshes(verts.detach().float(), faces.expand(batch_size, -1, -1))
    rasterizer = MeshRasterizer(opencv_cameras(K.detach().float(), image_size), raster)
    pix_to_face = rasterizer(mesh).pix_to_face
    if (pix_to_face[..., -1] >= 0).any():
        warnings.warn(
            f"pytorch3d filled all faces_per_pixel={settings.faces_per_pixel} slots at some "
            "pixels and may have dropped faces there; raise RenderSettings.faces_per_pixel",
            stacklevel=4,
        )
    return pix_to_face
