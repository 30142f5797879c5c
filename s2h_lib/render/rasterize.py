"""Sparse rasterization: every pixel-face pair that can matter, and its geometry.

Instead of testing each of the H·W pixels against each of the F faces, each face lists the pixels
of its screen bounding box, grown by the blur radius, and only those pairs are evaluated. The
enumeration is integer bookkeeping under no_grad; the geometry of the pairs (signed distance,
barycentrics, depth) is plain tensor math that autograd differentiates.

The geometry is linear in the pixel position, so it is set up once per face (`EdgeLines`: the
coefficients of each edge's line, in the face's own pixel frame) and evaluated per pair on flat
(P,) tensors, one gathered coefficient at a time: with tens of pairs per face, the per-pair work
is what costs.

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
# Guards the division by an edge's squared length (in pixels²). Faces are never drawn with such
# an edge in practice: it takes a needle under 1e-6 px wide and over 1 px long to pass
# MIN_FACE_AREA, and for it the distances to that edge would come out too small.
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


@dataclass
class Candidates:
    """Pixel-face pairs to evaluate, flattened over the batch, before the blur test.

    face: (P,) index into the flattened (B, F) faces; pixel: (P,) index into the flattened
        (B, H, W) image; both int32 where that fits, else int64.
    dx, dy: (P,) integer offsets (column, row) of the pixel from its face's corner.
    corner: (B * F, 2) int64 pixel (column, row) near each face, the origin of the face's frame:
        the pair geometry is computed there, in small numbers, so float32 loses no precision to
        pixel coordinates in the hundreds.
    """

    face: Tensor
    pixel: Tensor
    dx: Tensor
    dy: Tensor
    corner: Tensor


def project(verts: Tensor, K: Tensor, znear: float) -> tuple[Tensor, Tensor]:
    """Pixel coordinates `(B, V, 2)` and depths `(B, V)` of camera-frame points `(B, V, 3)`.

    Depths below znear are clamped before the division so nothing is infinite; faces that touch
    such vertices are dropped later, so the clamp never changes a drawn face.
    """
    depth = verts[..., 2]
    xy = verts[..., :2] / depth.clamp_min(znear).unsqueeze(-1)
    uv = torch.einsum("bij,bvj->bvi", K[:, :2, :2], xy) + K[:, None, :2, 2]
    return uv, depth


def corners_of_faces(values: Tensor, faces: Tensor) -> Tensor:
    """Per-vertex values `(B, V, ...)` at the corners of the faces `(F, 3)`.  -> (B, F, 3, ...)."""
    corners = values.index_select(1, faces.reshape(-1))
    return corners.reshape(values.shape[0], *faces.shape, *values.shape[2:])


def screen_triangles(
    verts: Tensor, faces: Tensor, K: Tensor, znear: float
) -> tuple[Tensor, Tensor]:
    """Each face's corners on screen: pixel coordinates `(B, F, 3, 2)` and depths `(B, F, 3)`
    of camera-frame vertices `(B, V, 3)`."""
    uv, z = project(verts, K, znear)
    return corners_of_faces(uv, faces), corners_of_faces(z, faces)


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


def pixel_boxes(
    tri_uv: Tensor, radius: float, image_size: tuple[int, int]
) -> tuple[Tensor, Tensor]:
    """Each face's bounding box grown by radius, as the pixels whose centres it holds.

    tri_uv: (B, F, 3, 2) pixel coordinates. Returns the first pixel (column, row) and the extent
    (columns, rows), both (B, F, 2) int64, clipped to the image; the extent is 0 off screen.
    """
    H, W = image_size
    low = tri_uv.amin(-2) - radius
    high = tri_uv.amax(-2) + radius
    # Clamp to just outside the image before rounding, so faces far off screen give small ints.
    limit = torch.tensor([W, H], device=tri_uv.device, dtype=tri_uv.dtype)
    first = torch.minimum(low.clamp_min(-1.0), limit).ceil().long().clamp_min(0)
    last = torch.minimum(high.clamp_min(-1.0), limit).floor().long()
    last = torch.minimum(last, limit.long() - 1)
    return first, (last - first + 1).clamp_min(0)


def index_dtype(count: int) -> torch.dtype:
    """Index dtype for values up to `count`: int32 where it fits (half the memory traffic of
    int64, and faster to gather with and divide), int64 beyond."""
    return torch.int32 if count <= torch.iinfo(torch.int32).max else torch.int64


def enumerate_pairs(
    tri_uv: Tensor, drawable: Tensor, radius: float, image_size: tuple[int, int]
) -> Candidates:
    """Every (face, pixel) pair whose pixel centre lies in the face's grown bounding box.

    tri_uv: (B, F, 3, 2) pixel coordinates; drawable: (B, F) bool; radius in pixels.
    A face's pairs are consecutive, its box's pixels row by row.
    """
    batch_size, num_faces = drawable.shape
    H, W = image_size
    first, extent = pixel_boxes(tri_uv, radius, image_size)
    first = first.reshape(-1, 2)
    width, height = (extent * drawable.unsqueeze(-1)).reshape(-1, 2).unbind(-1)
    counts = width * height
    num_pairs = int(counts.sum())
    dtype = index_dtype(max(num_pairs, batch_size * H * W, counts.numel()))
    device = tri_uv.device
    face_ids = torch.arange(counts.numel(), device=device, dtype=dtype)
    face = torch.repeat_interleave(face_ids, counts, output_size=num_pairs)
    start = (torch.cumsum(counts, 0) - counts).to(dtype)
    position = torch.arange(num_pairs, device=device, dtype=dtype) - start.index_select(0, face)
    width = width.to(dtype).index_select(0, face)
    dy = torch.div(position, width, rounding_mode="trunc")  # positions are >= 0
    dx = position - dy * width
    image = torch.arange(batch_size, device=device).repeat_interleave(num_faces)
    first_pixel = ((image * H + first[:, 1]) * W + first[:, 0]).to(dtype)
    pixel = first_pixel.index_select(0, face) + dy * W + dx
    return Candidates(face=face, pixel=pixel, dx=dx, dy=dy, corner=first)


def candidates_at(
    tri_uv: Tensor,
    face: Tensor,
    image: Tensor,
    row: Tensor,
    column: Tensor,
    radius: float,
    image_size: tuple[int, int],
) -> Candidates:
    """`Candidates` for pairs found elsewhere: face (P,) into the flattened (B, F), and each
    pixel's image (P,), row (P,) and column (P,). Offsets are taken from the corners
    `enumerate_pairs` uses (boxes grown by radius), so both give the same geometry."""
    H, W = image_size
    corner = pixel_boxes(tri_uv, radius, image_size)[0].reshape(-1, 2)
    face_corner = corner.index_select(0, face)
    return Candidates(
        face=face,
        pixel=(image * H + row) * W + column,
        dx=column - face_corner[:, 0],
        dy=row - face_corner[:, 1],
        corner=corner,
    )


@dataclass
class EdgeLines:
    """Per edge and face `(3, N)` coefficients of the pair geometry, N = B·F.

    Edge k joins vertices k + 1 and k + 2 (it is opposite vertex k). At a pixel (x, y) in the
    face's frame (relative to its corner), with (ex, ey) the edge vector and o = +1 for faces
    wound counter-clockwise on screen, -1 otherwise:
    - oriented edge function e = a x + b y + c, (a, b) = o (ey, -ex): >= 0 on the face's side,
      o · `edge_function`, the unnormalised barycentric of vertex k;
    - position along the edge s = a y - b x + d = o (p - midpoint) · (ex, ey). With
      L = ex² + ey² = a² + b², the edge's segment is |s| <= L / 2, and the squared distance to
      it (`squared_distance_to_segment`) is (e² + max(|s| - L/2, 0)²) / L: by Pythagoras, the
      squared distances to the edge's line (e² / L) and along it past the nearer end.
    """

    a: Tensor
    b: Tensor
    c: Tensor
    d: Tensor

    @staticmethod
    def of_faces(local_uv: Tensor, orientation: Tensor) -> EdgeLines:
        """local_uv: (N, 3, 2) vertices in the faces' frames; orientation: (N,) +-1."""
        x, y = local_uv.permute(2, 1, 0)
        start_x, start_y = x.roll(-1, 0), y.roll(-1, 0)
        end_x, end_y = x.roll(1, 0), y.roll(1, 0)
        a, b = orientation * (end_y - start_y), orientation * (start_x - end_x)
        c = -(a * start_x + b * start_y)
        d = (b * (start_x + end_x) - a * (start_y + end_y)) / 2
        return EdgeLines(a=a, b=b, c=c, d=d)

    def at_pairs(
        self, k: int, face: Tensor, x: Tensor, y: Tensor, with_distance: bool
    ) -> tuple[Tensor, Tensor | None]:
        """Edge k's oriented edge function `(P,)` at pairs (face, x, y), all (P,), and if asked
        their squared distance `(P,)` to its segment."""
        a, b, c = (t[k].index_select(0, face) for t in (self.a, self.b, self.c))
        edge = torch.addcmul(torch.addcmul(c, a, x), b, y)
        if not with_distance:
            return edge, None
        along = torch.addcmul(torch.addcmul(self.d[k].index_select(0, face), a, y), b, x, value=-1)
        # From a and b rather than gathered: fewer gathers, and L is exactly the face's.
        length_sq = torch.addcmul(a * a, b, b).clamp_min(MIN_EDGE_LENGTH_SQ)
        beyond = torch.sub(along.abs(), length_sq, alpha=0.5).clamp_min(0.0)
        return edge, torch.addcmul(edge * edge, beyond, beyond) / length_sq


def barycentrics_and_depth(
    oriented_edges: list[Tensor], corner_z: list[Tensor], settings: RenderSettings
) -> tuple[Tensor, Tensor]:
    """Clipped (perspective-correct) barycentrics `(P, 3)` and depth `(P,)` of pairs.

    oriented_edges: 3 x (P,) edge functions signed so that they are >= 0 inside; corner_z:
    3 x (P,) depths of the face's vertices. The barycentrics are the edges' normalised positive
    parts, which is pytorch3d's "perspective-correct, then clip to the face" without dividing by
    the face area. Dividing by depth makes them perspective-correct.
    """
    weights = [edge.clamp_min(0.0) for edge in oriented_edges]
    if settings.perspective_correct:
        weights = [weight / z for weight, z in zip(weights, corner_z, strict=True)]
    # The weights of a drawable face sum to at least MIN_FACE_AREA / zfar.
    total = (weights[0] + weights[1] + weights[2]).clamp_min(MIN_FACE_AREA / settings.zfar)
    bary = [weight / total for weight in weights]
    depth = bary[0] * corner_z[0] + bary[1] * corner_z[1] + bary[2] * corner_z[2]
    return torch.stack(bary, -1), depth


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
    tri_uv, tri_z = screen_triangles(verts, faces, K, settings.znear)
    with torch.no_grad():
        drawable = drawable_faces(tri_uv, tri_z, settings)
        candidates = enumerate_pairs(tri_uv, drawable, blur_threshold**0.5, image_size)
    return pair_geometry(tri_uv, tri_z, candidates, settings, blur_threshold, with_barycentrics)


def pair_geometry(
    tri_uv: Tensor,
    tri_z: Tensor,
    candidates: Candidates,
    settings: RenderSettings,
    blur_threshold: float,
    with_barycentrics: bool = True,
) -> Fragments:
    """The geometry of candidate pairs, keeping those inside their face or within the blur.

    tri_uv: (B, F, 3, 2) pixel coordinates; tri_z: (B, F, 3) depths; candidates from
    `enumerate_pairs` or `candidates_at`. Differentiable w.r.t. tri_uv and tri_z.
    """
    face = candidates.face
    with torch.no_grad():
        area = edge_function(tri_uv[..., 0, :], tri_uv[..., 1, :], tri_uv[..., 2, :])
    local_uv = tri_uv.reshape(-1, 3, 2) - candidates.corner.to(tri_uv.dtype).unsqueeze(1)
    lines = EdgeLines.of_faces(local_uv, torch.sign(area).reshape(-1))
    x, y = candidates.dx.to(tri_uv.dtype), candidates.dy.to(tri_uv.dtype)
    with_distance = blur_threshold > 0
    edges, dist_sq = zip(
        *(lines.at_pairs(k, face, x, y, with_distance) for k in range(3)), strict=True
    )
    inside = torch.minimum(edges[0], torch.minimum(edges[1], edges[2])) >= 0
    signed_dist_sq = None
    if with_distance:
        dist_sq = torch.minimum(dist_sq[0], torch.minimum(dist_sq[1], dist_sq[2]))
        keep = (inside | (dist_sq < blur_threshold)).nonzero().squeeze(1)
        signed_dist_sq = torch.where(inside, -dist_sq, dist_sq).index_select(0, keep)
    else:
        keep = inside.nonzero().squeeze(1)
    face = face.index_select(0, keep)
    bary = depth = None
    if with_barycentrics:
        corner_z = [z.index_select(0, face) for z in tri_z.reshape(-1, 3).T]
        kept_edges = [edge.index_select(0, keep) for edge in edges]
        bary, depth = barycentrics_and_depth(kept_edges, corner_z, settings)
    return Fragments(
        pixel=candidates.pixel.index_select(0, keep).long(),
        face=face.long(),
        inside=inside.index_select(0, keep),
        signed_dist_sq=signed_dist_sq,
        bary=bary,
        depth=depth,
        num_candidates=candidates.face.numel(),
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
