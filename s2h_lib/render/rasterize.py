"""Sparse rasterization: every pixel-face pair that can matter, and its geometry.

Instead of testing each of the H·W pixels against each of the F faces, each face lists the pixels
of its screen bounding box, grown by the blur radius, and only those pairs are evaluated. The
enumeration is integer bookkeeping under no_grad; the geometry of the pairs (signed distance,
barycentrics, depth) is plain tensor math that autograd differentiates.

Pixel convention (DESIGN.md): OpenCV camera, u = K X / Z, pixel (row r, column c) has its centre
at (u, v) = (c, r). On screen a face wound counter-clockwise seen from outside (outward normal
cross(v1 - v0, v2 - v0)) that faces the camera has a positive edge function (see `edge_function`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from s2h_lib.render.settings import RenderSettings

# Faces with twice their projected area below this (in pixels²) are skipped: they have no
# interior, and their barycentrics divide by nearly zero.
MIN_FACE_AREA = 1e-6
# Guards the projection of a pixel onto a zero-length edge (in pixels²).
MIN_EDGE_LENGTH_SQ = 1e-12


@dataclass
class Fragments:
    """The P pixel-face pairs kept after the blur test, flattened over the batch.

    pixel: (P,) int64 index into the flattened (B, H, W) image.
    face: (P,) int64 index into the flattened (B, F) faces.
    inside: (P,) bool, the pixel centre is inside the face or on its boundary.
    signed_dist_sq: (P,) squared pixel distance to the face boundary, negative inside; None in
        hard mode, which needs no distances.
    bary: (P, 3) barycentrics, perspective-correct if asked, clipped to the face and renormalised
        (so a pixel outside the face gets the weights of a point on its boundary); None when not
        asked for.
    depth: (P,) camera depth in metres of the surface point with those barycentrics, or None.
    num_candidates: number of pairs enumerated before the blur test (the work done).
    """

    pixel: Tensor
    face: Tensor
    inside: Tensor
    signed_dist_sq: Tensor | None
    bary: Tensor | None
    depth: Tensor | None
    num_candidates: int


def project(verts: Tensor, K: Tensor, znear: float) -> tuple[Tensor, Tensor]:
    """Pixel coordinates `(B, V, 2)` and depths `(B, V)` of camera-frame points `(B, V, 3)`.

    Depths below znear are clamped before the division so nothing is infinite; faces that touch
    such vertices are dropped later, so the clamp never changes a drawn face.
    """
    depth = verts[..., 2]
    xy = verts[..., :2] / depth.clamp_min(znear).unsqueeze(-1)
    uv = torch.einsum("bij,bvj->bvi", K[:, :2, :2], xy) + K[:, None, :2, 2]
    return uv, depth


def edge_function(p: Tensor, a: Tensor, b: Tensor) -> Tensor:
    """Twice the signed area of triangle (p, a, b) on screen.  (..., 2) x3 -> (...).

    Zero on the line ab; for a triangle (a, b, c), edge_function(c, a, b) > 0 means the
    triangle faces the camera (with image y pointing down).
    """
    return (p[..., 0] - a[..., 0]) * (b[..., 1] - a[..., 1]) - (p[..., 1] - a[..., 1]) * (
        b[..., 0] - a[..., 0]
    )


def squared_distance_to_segment(p: Tensor, a: Tensor, b: Tensor) -> Tensor:
    """Squared distance from points p to segments ab.  (..., 2) x3 -> (...).

    No square root, so the gradient is finite everywhere, even on the segment.
    """
    ab = b - a
    ap = p - a
    t = (ap * ab).sum(-1) / (ab * ab).sum(-1).clamp_min(MIN_EDGE_LENGTH_SQ)
    offset = ap - t.clamp(0.0, 1.0).unsqueeze(-1) * ab
    return (offset * offset).sum(-1)


def drawable_faces(tri_uv: Tensor, tri_z: Tensor, settings: RenderSettings) -> Tensor:
    """Which faces take part: inside the depth range, not degenerate, not culled.  -> (B, F) bool.

    tri_uv: (B, F, 3, 2) pixel coordinates; tri_z: (B, F, 3) depths.
    """
    in_range = ((tri_z >= settings.znear) & (tri_z <= settings.zfar)).all(-1)
    area = edge_function(tri_uv[..., 0, :], tri_uv[..., 1, :], tri_uv[..., 2, :])
    drawable = in_range & (area.abs() > MIN_FACE_AREA)
    if not settings.double_sided:
        drawable &= area > 0
    return drawable


def enumerate_pairs(
    tri_uv: Tensor, drawable: Tensor, radius: float, image_size: tuple[int, int]
) -> tuple[Tensor, Tensor, Tensor]:
    """Every (face, pixel) pair whose pixel centre lies in the face's grown bounding box.

    tri_uv: (B, F, 3, 2) pixel coordinates; drawable: (B, F) bool; radius in pixels.
    Returns face (P,) into the flattened (B, F), and pixel column x (P,) and row y (P,).
    """
    H, W = image_size
    low = tri_uv.amin(-2) - radius
    high = tri_uv.amax(-2) + radius
    # Clamp to just outside the image before rounding, so faces far off screen give small ints.
    limit = torch.tensor([W, H], device=tri_uv.device, dtype=tri_uv.dtype)
    first = torch.minimum(low.clamp_min(-1.0), limit).ceil().long().clamp_min(0)
    last = torch.minimum(high.clamp_min(-1.0), limit).floor().long()
    last = torch.minimum(last, limit.long() - 1)
    extent = (last - first + 1).clamp_min(0) * drawable.unsqueeze(-1)
    width, height = extent.reshape(-1, 2).unbind(-1)
    counts = width * height
    face = torch.repeat_interleave(torch.arange(counts.numel(), device=counts.device), counts)
    start = torch.cumsum(counts, 0) - counts
    local = torch.arange(face.numel(), device=face.device) - start[face]
    first = first.reshape(-1, 2)[face]
    x = first[:, 0] + local % width[face]
    y = first[:, 1] + local // width[face]
    return face, x, y


def barycentrics_and_depth(
    oriented_edges: Tensor, tri_z: Tensor, settings: RenderSettings
) -> tuple[Tensor, Tensor]:
    """Clipped (perspective-correct) barycentrics `(P, 3)` and depth `(P,)` of pairs.

    oriented_edges: (P, 3) edge functions signed so that they are >= 0 inside; the barycentrics
    are their normalised positive parts, which is pytorch3d's "perspective-correct, then clip to
    the face" without dividing by the face area. Dividing by depth makes them perspective-correct.
    """
    weights = oriented_edges.clamp_min(0.0)
    if settings.perspective_correct:
        weights = weights / tri_z
    # The weights of a drawable face sum to at least MIN_FACE_AREA / zfar.
    bary = weights / weights.sum(-1, keepdim=True).clamp_min(MIN_FACE_AREA / settings.zfar)
    return bary, (bary * tri_z).sum(-1)


def rasterize(
    verts: Tensor,
    faces: Tensor,
    K: Tensor,
    image_size: tuple[int, int],
    settings: RenderSettings,
    blur_threshold: float,
    with_barycentrics: bool = True,
) -> Fragments:
    """Pixel-face pairs of a batch of meshes and their geometry.

    verts: (B, V, 3) camera frame, metres; faces: (F, 3) int64; K: (B, 3, 3) pixels for this
    image_size (H, W). blur_threshold: squared pixel distance within which outside pixels are
    kept (0 keeps only inside pixels, and skips the distance computation). Silhouettes need no
    barycentrics or depths: `with_barycentrics=False` skips them.
    """
    uv, z = project(verts, K, settings.znear)
    tri_uv, tri_z = uv[:, faces], z[:, faces]
    with torch.no_grad():
        drawable = drawable_faces(tri_uv, tri_z, settings)
        face, x, y = enumerate_pairs(tri_uv, drawable, blur_threshold**0.5, image_size)
    return pair_geometry(
        tri_uv, tri_z, face, x, y, image_size, settings, blur_threshold, with_barycentrics
    )


def pair_geometry(
    tri_uv: Tensor,
    tri_z: Tensor,
    face: Tensor,
    x: Tensor,
    y: Tensor,
    image_size: tuple[int, int],
    settings: RenderSettings,
    blur_threshold: float,
    with_barycentrics: bool = True,
) -> Fragments:
    """The geometry of candidate pairs, keeping those inside their face or within the blur.

    tri_uv: (B, F, 3, 2) pixel coordinates; tri_z: (B, F, 3) depths; face: (P,) into the
    flattened (B, F); x, y: (P,) pixel column and row. Differentiable w.r.t. tri_uv and tri_z.
    """
    H, W = image_size
    with torch.no_grad():
        pixel = (face // tri_uv.shape[1] * H + y) * W + x
        orientation = torch.sign(
            edge_function(tri_uv[..., 0, :], tri_uv[..., 1, :], tri_uv[..., 2, :])
        ).reshape(-1)[face]
    num_candidates = face.numel()
    a, b, c = tri_uv.reshape(-1, 3, 2)[face].unbind(1)
    p = torch.stack([x, y], -1).to(tri_uv.dtype)
    edges = torch.stack(
        [edge_function(p, b, c), edge_function(p, c, a), edge_function(p, a, b)], -1
    )
    oriented_edges = edges * orientation.unsqueeze(-1)
    inside = (oriented_edges >= 0).all(-1)
    signed_dist_sq = None
    if blur_threshold > 0:
        dist_sq = torch.minimum(
            squared_distance_to_segment(p, a, b),
            torch.minimum(
                squared_distance_to_segment(p, b, c), squared_distance_to_segment(p, c, a)
            ),
        )
        keep = (inside | (dist_sq < blur_threshold)).nonzero().squeeze(1)
        signed_dist_sq = torch.where(inside, -dist_sq, dist_sq)[keep]
    else:
        keep = inside.nonzero().squeeze(1)
    face = face[keep]
    bary = depth = None
    if with_barycentrics:
        bary, depth = barycentrics_and_depth(
            oriented_edges[keep], tri_z.reshape(-1, 3)[face], settings
        )
    return Fragments(
        pixel=pixel[keep],
        face=face,
        inside=inside[keep],
        signed_dist_sq=signed_dist_sq,
        bary=bary,
        depth=depth,
        num_candidates=num_candidates,
    )


@torch.no_grad()
def nearest_inside(fragments: Fragments, num_pixels: int) -> Tensor:
    """Indices into the fragments of the front-most inside pair of each covered pixel.  -> (M,)

    Ties in depth go to the smaller face index, so the result does not depend on pair order.
    """
    candidates = fragments.inside.nonzero().squeeze(1)
    pixel = fragments.pixel[candidates]
    depth = fragments.depth[candidates]
    nearest = depth.new_full((num_pixels,), torch.inf).scatter_reduce(0, pixel, depth, "amin")
    candidates = candidates[depth == nearest[pixel]]
    pixel = fragments.pixel[candidates]
    face = fragments.face[candidates]
    no_face = torch.iinfo(torch.long).max
    first_face = torch.full((num_pixels,), no_face, device=face.device)
    first_face = first_face.scatter_reduce(0, pixel, face, "amin")
    return candidates[face == first_face[pixel]]
