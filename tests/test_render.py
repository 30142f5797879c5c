"""Tests of the sparse differentiable renderer (s2h_lib.render)."""

from __future__ import annotations

import math
from importlib import resources

import numpy as np
import pytest
import torch
from torch import Tensor

import s2h_lib.render.rasterize as rasterize_module
from s2h_lib.hand.rotations import axis_angle_to_matrix
from s2h_lib.render import (
    MIN_PROBABILITY,
    Lights,
    RenderSettings,
    gamma_from_pytorch3d,
    render_mesh,
    sigma_from_pytorch3d,
    silhouette,
    supersampled_intrinsics,
)
from s2h_lib.render.rasterize import MIN_FACE_AREA, rasterize

# Hand rest frame (fingers -x, palm -y, thumb +z) to camera frame (x right, y down, z forward):
# fingers point up the image and the palm faces the camera.
HAND_TO_CAMERA = ((0.0, 0.0, 1.0), (1.0, 0.0, 0.0), (0.0, 1.0, 0.0))
HAND_DISTANCE = 0.5  # metres
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


# ---------------------------------------------------------------- scenes


def open_hand(dtype: torch.dtype = torch.float64) -> tuple[Tensor, Tensor]:
    """Open hand template centred HAND_DISTANCE in front of the camera: verts (V, 3), faces."""
    with resources.as_file(resources.files("s2h_lib") / "assets/open_hand_right.npz") as path:
        asset = np.load(path)
        verts = torch.tensor(asset["v_template"], dtype=dtype)
        faces = torch.tensor(asset["f"], dtype=torch.long)
    verts = verts @ torch.tensor(HAND_TO_CAMERA, dtype=dtype).T
    centre = (verts.amax(0) + verts.amin(0)) / 2
    return verts - centre + torch.tensor([0.0, 0.0, HAND_DISTANCE], dtype=dtype), faces


def intrinsics(focal: float, height: int, width: int, dtype=torch.float64) -> Tensor:
    """K `(1, 3, 3)`, principal point at the image centre (pixel centres at integers)."""
    cx, cy = (width - 1) / 2, (height - 1) / 2
    return torch.tensor([[[focal, 0.0, cx], [0.0, focal, cy], [0.0, 0.0, 1.0]]], dtype=dtype)


def hand_camera(size: int, dtype=torch.float64) -> Tensor:
    """K at which the open hand's length is about half of a size x size image."""
    return intrinsics(1.4 * size, size, size, dtype)


def unproject(uv: list[list[float]], depth: list[float], K: Tensor) -> Tensor:
    """Camera-frame points `(N, 3)` that project to the pixels uv at the given depths."""
    uv1 = torch.cat([torch.tensor(uv, dtype=K.dtype), torch.ones(len(uv), 1, dtype=K.dtype)], 1)
    return torch.linalg.solve(K[0], uv1.T).T * torch.tensor(depth, dtype=K.dtype).unsqueeze(-1)


def triangle_scene() -> tuple[Tensor, Tensor, Tensor, tuple[int, int]]:
    """Seven triangles on a 12 x 17 image: overlapping at different depths and tilts, one seen
    from behind, one partly off screen, one beyond zfar = 1.4 and one crossing the camera plane.
    Returns verts (1, V, 3), faces, K, (H, W)."""
    H, W = 12, 17
    K = torch.tensor([[[14.0, 0.0, 7.3], [0.0, 15.0, 5.6], [0.0, 0.0, 1.0]]], dtype=torch.float64)
    front = [[1.2, 1.3], [1.7, 10.4], [11.6, 6.1]]
    behind = [[4.1, 0.6], [9.9, 9.2], [15.8, 2.2]]
    tilted = [[6.3, 4.4], [8.2, 11.7], [14.9, 8.8]]
    back_facing = [[2.2, 8.1], [7.4, 2.4], [5.3, 11.0]]
    off_screen = [[13.1, -3.0], [15.2, 6.3], [19.5, 1.7]]
    too_far = [[3.0, 3.0], [3.5, 9.0], [9.0, 6.0]]
    behind_camera = [[3.0, 2.0], [4.0, 9.0], [10.0, 4.0]]
    uv = front + behind + tilted + back_facing + off_screen + too_far + behind_camera
    depth = [0.9, 1.0, 1.1, 1.3, 1.25, 1.2, 0.7, 1.35, 1.0, 0.95, 0.8, 1.05, 1.0, 1.1, 1.2]
    depth += [1.0, 1.5, 1.2, 1.0, -0.5, 1.0]
    verts = unproject(uv, depth, K).unsqueeze(0)
    faces = torch.arange(len(uv)).reshape(-1, 3)
    faces[3] = faces[3].flip(0)  # wound the other way: seen from behind
    return verts, faces, K, (H, W)


# ---------------------------------------------------------------- naive dense reference


def reference_render(verts, faces, K, settings, corner_colors, background):
    """Every pixel against every face with Python loops, float64, straight from the formulas of
    pytorch3d / SoftRas (mano_render_eval.md 3.2, 3.4, 6). Returns alpha, rgb, depth (H, W...),
    face index and barycentrics of the z-buffer."""
    H, W = settings.image_size
    verts, K = verts[0].numpy(), K[0].numpy()
    projected = (K @ (verts / verts[:, 2:]).T).T[:, :2]
    threshold = settings.sigma * math.log(1 / MIN_PROBABILITY - 1)
    soft = settings.mode == "soft"
    alpha = np.zeros((H, W))
    rgb = np.zeros((H, W, 3))
    depth = np.zeros((H, W))
    face_index = -np.ones((H, W), dtype=np.int64)
    bary_out = np.zeros((H, W, 3))
    for r in range(H):
        for c in range(W):
            p = np.array([c, r], dtype=np.float64)
            hits = []  # (probability, depth, colour) of each kept face
            nearest = (np.inf, -1, None)
            for f, (i, j, k) in enumerate(faces.tolist()):
                a, b, cc = projected[[i, j, k]]
                z = verts[[i, j, k], 2]
                if z.min() < settings.znear or z.max() > settings.zfar:
                    continue
                # With image y pointing down, a face wound counter-clockwise seen from the camera
                # has a negative 2D cross product.
                area = (b - a)[0] * (cc - a)[1] - (b - a)[1] * (cc - a)[0]
                if abs(area) <= MIN_FACE_AREA or (area > 0 and not settings.double_sided):
                    continue
                s, t = np.linalg.solve(np.stack([b - a, cc - a], 1), p - a)
                w = np.array([1 - s - t, s, t])
                inside = bool((w >= 0).all())
                dist_sq = min(
                    segment_dist_sq(p, a, b), segment_dist_sq(p, b, cc), segment_dist_sq(p, cc, a)
                )
                if not inside and (not soft or dist_sq >= threshold):
                    continue
                corrected = w * z[[1, 2, 0]] * z[[2, 0, 1]]
                corrected = corrected / max(corrected.sum(), 1e-8)
                clipped = np.maximum(corrected, 0)
                clipped = clipped / max(clipped.sum(), 1e-5)
                pz = clipped @ z
                colour = clipped @ corner_colors[f]
                probability = 1 / (1 + math.exp((-dist_sq if inside else dist_sq) / settings.sigma))
                hits.append((probability, pz, colour))
                if inside and pz < nearest[0]:
                    nearest = (pz, f, clipped, colour)
            bg = background[r, c]
            if nearest[1] >= 0:
                depth[r, c], face_index[r, c], bary_out[r, c] = nearest[:3]
            if soft:
                alpha[r, c] = 1 - np.prod([1 - h[0] for h in hits])
                z_min = min([settings.zfar] + [h[1] for h in hits])
                weights = [h[0] * math.exp((z_min - h[1]) / settings.gamma) for h in hits]
                bg_weight = math.exp((z_min - settings.zfar) / settings.gamma)
                numerator = (
                    sum(wt * h[2] for wt, h in zip(weights, hits, strict=True)) + bg_weight * bg
                )
                rgb[r, c] = numerator / (sum(weights) + bg_weight)
            else:
                alpha[r, c] = float(nearest[1] >= 0)
                rgb[r, c] = nearest[3] if nearest[1] >= 0 else bg
    return alpha, rgb, depth, face_index, bary_out


def segment_dist_sq(p, a, b) -> float:
    t = np.clip(np.dot(p - a, b - a) / np.dot(b - a, b - a), 0, 1)
    return float(np.sum((a + t * (b - a) - p) ** 2))


@pytest.mark.parametrize("mode", ["soft", "hard"])
@pytest.mark.parametrize("double_sided", [False, True])
def test_matches_naive_dense_reference(mode, double_sided):
    verts, faces, K, size = triangle_scene()
    settings = RenderSettings(
        image_size=size, mode=mode, sigma=2.0, gamma=0.05, zfar=1.4, double_sided=double_sided
    )
    colors = torch.rand(
        1, verts.shape[1], 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0)
    )
    background = torch.rand(
        1, 3, *size, dtype=torch.float64, generator=torch.Generator().manual_seed(1)
    )
    out = render_mesh(verts, faces, K, settings, vertex_colors=colors, background=background)
    alpha, rgb, depth, face_index, bary = reference_render(
        verts, faces, K, settings, colors[0][faces].numpy(), background[0].permute(1, 2, 0).numpy()
    )
    assert (face_index >= 0).sum() > 60 and (face_index < 0).sum() > 20  # the scene is varied
    np.testing.assert_allclose(out.alpha[0, 0].numpy(), alpha, atol=1e-6)
    np.testing.assert_allclose(out.rgb[0].permute(1, 2, 0).numpy(), rgb, atol=1e-6)
    np.testing.assert_allclose(out.depth[0, 0].numpy(), depth, atol=1e-6)
    np.testing.assert_array_equal(out.face_index[0].numpy(), face_index)
    np.testing.assert_allclose(out.barycentrics[0].numpy(), bary, atol=1e-6)
    assert torch.equal(silhouette(verts, faces, K, settings), out.alpha)


# ---------------------------------------------------------------- hand-computed cases


def pixel_triangle(
    uv: list[list[float]], depth: float = 1.0, dtype=torch.float64
) -> tuple[Tensor, Tensor, Tensor]:
    """One triangle at the given pixel positions: with K = identity and depth 1 the pixel
    coordinates are exact. Returns verts (1, 3, 3), faces (1, 3), K (1, 3, 3)."""
    xy = torch.tensor(uv, dtype=dtype)
    verts = torch.cat([xy, torch.ones(3, 1, dtype=dtype)], 1) * depth
    return verts.unsqueeze(0), torch.tensor([[0, 1, 2]]), torch.eye(3, dtype=dtype).unsqueeze(0)


def test_soft_probability_on_edge_inside_and_outside():
    # Legs on u = 1 and v = 1, hypotenuse u + v = 7; counter-clockwise as seen by the camera.
    verts, faces, K = pixel_triangle([[1.0, 1.0], [1.0, 6.0], [6.0, 1.0]])
    sigma = 0.5
    alpha = silhouette(verts, faces, K, RenderSettings(image_size=(8, 8), sigma=sigma))[0, 0]
    assert alpha[3, 1] == pytest.approx(0.5, abs=1e-12)  # on the leg u = 1
    assert alpha[2, 2] == pytest.approx(1 / (1 + math.exp(-1 / sigma)), abs=1e-12)  # 1 px inside
    assert alpha[3, 0] == pytest.approx(1 / (1 + math.exp(1 / sigma)), abs=1e-12)  # 1 px outside
    assert alpha[7, 7] == 0.0  # 4.9 px from the face: beyond the blur threshold of 2.1 px


def test_sigma_conversion_from_pytorch3d_ndc():
    assert sigma_from_pytorch3d(1e-4, (224, 320)) == pytest.approx(1e-4 * 112**2)
    assert gamma_from_pytorch3d(1e-4, 1.0, 100.0) == pytest.approx(99e-4)
    # A pixel 1 px outside an 8-pixel-high image is 2/8 NDC units out, whatever the width.
    verts, faces, K = pixel_triangle([[1.0, 1.0], [1.0, 6.0], [6.0, 1.0]])
    sigma_ndc = 0.01
    settings = RenderSettings(image_size=(8, 12), sigma=sigma_from_pytorch3d(sigma_ndc, (8, 12)))
    alpha = silhouette(verts, faces, K, settings)[0, 0]
    assert alpha[3, 0] == pytest.approx(1 / (1 + math.exp((2 / 8) ** 2 / sigma_ndc)), rel=1e-9)


def test_pixel_centre_convention():
    H, W = 9, 13
    K = intrinsics(50.0, H, W)  # principal point (6, 4)
    point = torch.tensor([0.1, -0.04, 1.0], dtype=torch.float64)
    u, v = (K[0] @ point / point[2])[:2].tolist()
    assert (u, v) == pytest.approx((11.0, 2.0))  # pixel row 2, column 11
    around = [[u - 0.3, v - 0.2], [u - 0.1, v + 0.3], [u + 0.3, v - 0.1]]
    verts = unproject(around, [1.0, 1.0, 1.0], K).unsqueeze(0)
    faces = torch.tensor([[0, 1, 2]])
    out = render_mesh(verts, faces, K, RenderSettings(image_size=(H, W), mode="hard"))
    expected = torch.full((1, H, W), -1)
    expected[0, 2, 11] = 0
    assert torch.equal(out.face_index, expected)
    # Supersampling keeps the same pixel: only part of it is covered.
    settings = RenderSettings(image_size=(H, W), mode="hard", supersample=4)
    alpha = render_mesh(verts, faces, K, settings).alpha[0, 0]
    assert 0 < alpha[2, 11] < 1 and alpha.sum() == alpha[2, 11]


def test_supersampled_intrinsics_keep_pixel_footprints():
    K = intrinsics(30.0, 10, 14)
    point = torch.tensor([0.05, 0.02, 0.7], dtype=torch.float64)
    u, v = (K[0] @ point / point[2])[:2]
    u4, v4 = (supersampled_intrinsics(K, 4)[0] @ point / point[2])[:2]
    # Output pixel c covers sub-pixels 4c .. 4c + 3, whose centres average to 4c + 1.5.
    assert u4 == pytest.approx(4 * u + 1.5) and v4 == pytest.approx(4 * v + 1.5)


def test_supersampling_antialiases_an_edge_through_pixel_centres():
    # The vertical edge u = 5 passes through the centres of column 5: half of it is covered.
    verts, faces, K = pixel_triangle([[5.0, -20.0], [5.0, 30.0], [40.0, 5.0]])
    for factor in (2, 4):
        settings = RenderSettings(image_size=(6, 10), mode="hard", supersample=factor)
        alpha = render_mesh(verts, faces, K, settings).alpha[0, 0]
        assert torch.allclose(alpha[:, 5], torch.full((6,), 0.5, dtype=alpha.dtype))
        assert (alpha[:, :5] == 0).all() and (alpha[:, 6:] == 1).all()


def test_back_faces_culled_unless_double_sided():
    verts, faces, K = pixel_triangle([[1.0, 1.0], [1.0, 6.0], [6.0, 1.0]])
    for mode in ("soft", "hard"):
        single = RenderSettings(image_size=(8, 8), mode=mode)
        double = RenderSettings(image_size=(8, 8), mode=mode, double_sided=True)
        front = silhouette(verts, faces, K, single)
        assert front.sum() > 10
        assert silhouette(verts, faces.flip(1), K, single).sum() == 0
        assert torch.equal(silhouette(verts, faces.flip(1), K, double), front)


def test_non_square_image_covers_the_right_columns():
    # Edge on column 6 (edges belong to the face), wide enough to cover every row.
    verts, faces, K = pixel_triangle([[6.0, -20.0], [6.0, 30.0], [60.0, 5.0]])
    out = render_mesh(verts, faces, K, RenderSettings(image_size=(6, 10), mode="hard"))
    assert out.rgb.shape == (1, 3, 6, 10) and out.face_index.shape == (1, 6, 10)
    columns = torch.arange(10).expand(6, 10)
    assert torch.equal(out.alpha[0, 0] == 1, columns >= 6)
    out = render_mesh(verts, faces, K, RenderSettings(image_size=(10, 6), mode="hard"))
    assert out.alpha.shape == (1, 1, 10, 6) and out.alpha.sum() == 0  # columns stop at 5


def test_hand_is_closed_and_drawn_by_its_camera_facing_faces():
    verts, faces = open_hand()
    K = hand_camera(64)
    single = render_mesh(verts[None], faces, K, RenderSettings(image_size=(64, 64), mode="hard"))
    double = render_mesh(
        verts[None], faces, K, RenderSettings(image_size=(64, 64), mode="hard", double_sided=True)
    )
    assert single.alpha.sum() > 300
    assert torch.equal(single.alpha, double.alpha)  # culling opens no hole
    drawn = single.face_index[single.face_index >= 0]
    tri = verts[faces[drawn]]
    outward = torch.linalg.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    assert ((outward * tri.mean(1)).sum(-1) < 0).all()  # every drawn face faces the camera
    depth = single.depth[single.alpha > 0]
    assert verts[:, 2].min() <= depth.min() and depth.max() <= verts[:, 2].max()


def test_soft_silhouette_tends_to_hard_as_sigma_shrinks():
    verts, faces = open_hand()
    K = hand_camera(48)
    hard = silhouette(verts[None], faces, K, RenderSettings(image_size=(48, 48), mode="hard"))
    soft = silhouette(verts[None], faces, K, RenderSettings(image_size=(48, 48), sigma=1e-5))
    covered = hard == 1
    assert (soft[covered] >= 0.5).all()  # a face covering the pixel centre gives p >= 1/2
    assert ((soft >= 0.5) == covered).float().mean() > 0.995
    # Away from edges (SoftRas' product dips to 3/4 within sqrt(sigma) of an inner edge).
    assert soft[covered].median() > 0.999 and soft[~covered].median() == 0.0


# ---------------------------------------------------------------- lighting


def lit_triangle_rgb(lights: Lights, shading: str = "flat", shift: float = 0.0) -> Tensor:
    """Colour at pixel (4, 4), inside a camera-facing triangle of texture (0.8, 0.6, 0.4) at
    depth 2 whose centroid is at (2 shift, 2 shift, 2)."""
    uv = [[-3.0 + shift, -3.0 + shift], [-3.0 + shift, 6.0 + shift], [6.0 + shift, -3.0 + shift]]
    verts, faces, _ = pixel_triangle(uv, depth=2.0)
    c = 4.0 - shift
    K = torch.tensor([[[1.0, 0.0, c], [0.0, 1.0, c], [0.0, 0.0, 1.0]]], dtype=torch.float64)
    texture = torch.tensor([[[0.8, 0.6, 0.4]]], dtype=torch.float64)
    settings = RenderSettings(image_size=(9, 9), mode="hard", shading=shading)
    return render_mesh(verts, faces, K, settings, face_colors=texture, lights=lights).rgb[
        0, :, 4, 4
    ]


def test_lambertian_light_from_the_s2hand_vector():
    texture = torch.tensor([0.8, 0.6, 0.4], dtype=torch.float64)
    ambient = torch.tensor([1.0, 0.5, 0.2], dtype=torch.float64)
    directional = torch.tensor([0.4, 1.0, 1.0], dtype=torch.float64)

    def vector(direction: list[float]) -> Tensor:
        head = torch.tensor([0.3, 0.5], dtype=torch.float64)
        return torch.cat([head, ambient, directional, torch.tensor(direction).double()])[None]

    # The face's outward normal is -z: light travelling along +z hits it head on.
    head_on = lit_triangle_rgb(Lights.from_vector(vector([0.0, 0.0, 2.0])))
    assert torch.allclose(head_on, texture * (0.3 * ambient + 0.5 * directional))
    tilted = [3 * math.sin(math.pi / 3), 0.0, 3 * math.cos(math.pi / 3)]  # 60 degrees off
    at_60 = lit_triangle_rgb(Lights.from_vector(vector(tilted)))
    assert torch.allclose(at_60, texture * (0.3 * ambient + 0.25 * directional))
    from_behind = lit_triangle_rgb(Lights.from_vector(vector([0.0, 0.0, -1.0])))
    assert torch.allclose(from_behind, texture * 0.3 * ambient)
    gouraud = lit_triangle_rgb(Lights.from_vector(vector(tilted)), shading="gouraud")
    assert torch.allclose(gouraud, at_60)  # a flat triangle's vertex normals are its face normal


def test_specular_highlight_follows_phong():
    def white_headlight() -> Lights:
        return Lights.headlight(1, ambient=0.0, directional=1.0, dtype=torch.float64)

    shiny = white_headlight()
    shiny.specular_intensity = torch.tensor([0.5], dtype=torch.float64)
    shiny.shininess = 8.0
    highlight = lit_triangle_rgb(shiny, shift=0.5) - lit_triangle_rgb(white_headlight(), shift=0.5)
    # A headlight on a camera-facing face reflects back along -z; the camera sees the centroid
    # (1, 1, 2) at cos(theta) = 2 / sqrt(6) off that axis.
    expected = 0.5 * (2 / math.sqrt(6)) ** 8
    assert torch.allclose(highlight, torch.full((3,), expected, dtype=torch.float64))


def test_light_direction_is_normalised():
    base = [0.4, 0.6, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]
    short = Lights.from_vector(torch.tensor([[*base, 0.2, -0.1, 0.5]], dtype=torch.float64))
    long = Lights.from_vector(torch.tensor([[*base, 1.4, -0.7, 3.5]], dtype=torch.float64))
    assert torch.allclose(lit_triangle_rgb(short), lit_triangle_rgb(long))


# ---------------------------------------------------------------- gradients


def soft_iou(alpha: Tensor, target: Tensor) -> Tensor:
    intersection = (alpha * target).sum()
    return intersection / (alpha.sum() + target.sum() - intersection)


def triangle_scene_inputs():
    """Float64 leaves for gradient checks: vertices, vertex colours, S2HAND light vector."""
    verts, faces, K, size = triangle_scene()
    generator = torch.Generator().manual_seed(3)
    colors = torch.rand(1, verts.shape[1], 3, dtype=torch.float64, generator=generator)
    lights = torch.tensor([[0.4, 0.7, 1.0, 0.9, 0.8, 1.0, 1.0, 0.9, 0.3, -0.2, 1.0]]).double()
    settings = RenderSettings(image_size=size, sigma=2.0, gamma=0.05, zfar=1.4)
    return verts, faces, K, settings, colors, lights


def shaded_render(verts, faces, K, settings, colors, lights):
    lights = Lights.from_vector(lights)
    return render_mesh(verts, faces, K, settings, vertex_colors=colors, lights=lights)


def test_gradients_of_soft_images_match_finite_differences():
    verts, faces, K, settings, colors, lights = triangle_scene_inputs()

    def images(verts, colors, lights):
        out = shaded_render(verts, faces, K, settings, colors, lights)
        return out.alpha, out.rgb

    inputs = [t.clone().requires_grad_() for t in (verts, colors, lights)]
    assert torch.autograd.gradcheck(images, inputs, fast_mode=True)


def test_gradients_of_iou_and_photometric_l1_match_finite_differences():
    verts, faces, K, settings, colors, lights = triangle_scene_inputs()
    shifted = verts + torch.tensor([0.02, -0.01, 0.03], dtype=torch.float64)
    target = shaded_render(shifted, faces, K, settings, colors.flip(-1), lights * 0.8)
    target_mask = (target.alpha > 0.5).double()

    def iou(verts):
        return soft_iou(silhouette(verts, faces, K, settings), target_mask)

    def photometric(verts, colors, direction):
        light_vector = torch.cat([lights[:, :8], direction], -1)
        rgb = shaded_render(verts, faces, K, settings, colors, light_vector).rgb
        return (rgb - target.rgb).abs().mean()

    inputs = [t.clone().requires_grad_() for t in (verts, colors, lights[:, 8:])]
    assert torch.autograd.gradcheck(iou, inputs[:1])
    assert torch.autograd.gradcheck(photometric, inputs)
    grads = torch.autograd.grad(photometric(*inputs), inputs)
    assert all(g.abs().sum() > 0 for g in grads)  # each input does move the loss


def degenerate_mesh(dtype=torch.float64) -> tuple[Tensor, Tensor]:
    """A good face, a zero-area face, a face with collinear vertices, one seen edge-on (its plane
    contains the camera centre) and one with a repeated vertex. verts (1, V, 3), faces."""
    verts = torch.tensor(
        [
            [-0.1, -0.1, 1.0],
            [-0.1, 0.1, 1.0],
            [0.1, -0.1, 1.0],  # good
            [0.02, 0.03, 0.9],
            [0.02, 0.03, 0.9],
            [0.02, 0.03, 0.9],  # a point
            [0.0, 0.0, 0.8],
            [0.01, 0.01, 0.8],
            [0.02, 0.02, 0.8],  # a segment
            [0.0, 0.05, 0.5],
            [0.0, -0.05, 1.0],
            [0.0, 0.0, 1.5],  # edge-on, in the plane x = 0
        ],
        dtype=dtype,
    )
    faces = torch.tensor([[0, 1, 2], [3, 4, 5], [6, 7, 8], [9, 10, 11], [0, 1, 1]])
    return verts.unsqueeze(0), faces


def all_outputs_sum(verts, faces, K, settings, colors, lights) -> Tensor:
    out = render_mesh(verts, faces, K, settings, vertex_colors=colors, lights=lights)
    return out.rgb.sum() + out.alpha.sum() + out.depth.sum()


@pytest.mark.parametrize("mode", ["soft", "hard"])
@pytest.mark.parametrize("shading", ["flat", "gouraud"])
def test_degenerate_faces_give_finite_gradients(mode, shading):
    verts, faces = degenerate_mesh()
    verts.requires_grad_()
    K = intrinsics(40.0, 16, 16)
    colors = torch.full((1, verts.shape[1], 3), 0.5, dtype=torch.float64, requires_grad=True)
    lights = Lights.headlight(1, dtype=torch.float64)
    lights.specular_intensity = torch.tensor([0.3], dtype=torch.float64)
    lights.direction = torch.tensor([[0.0, 0.0, 0.0]], dtype=torch.float64, requires_grad=True)
    settings = RenderSettings(image_size=(16, 16), mode=mode, shading=shading, double_sided=True)
    total = all_outputs_sum(verts, faces, K, settings, colors, lights)
    grads = torch.autograd.grad(total, [verts, colors, lights.direction])
    assert torch.isfinite(total) and all(torch.isfinite(g).all() for g in grads)
    assert grads[0][0, :3].abs().sum() > 0  # the good face still gets gradients


@pytest.mark.parametrize("mode", ["soft", "hard"])
def test_faces_behind_or_at_the_camera_are_dropped_without_nan(mode):
    verts, faces = degenerate_mesh()
    good = verts[:, :3]
    crossing = torch.tensor(
        [[0.0, 0.0, -0.3], [0.1, 0.0, 0.0], [0.0, 0.1, 1e-9], [0.1, 0.1, 0.004], [-0.1, 0.0, 1.0]],
        dtype=torch.float64,
    )
    verts = torch.cat([good, crossing.unsqueeze(0)], 1).requires_grad_()
    faces = torch.tensor([[0, 1, 2], [3, 4, 5], [4, 5, 6], [5, 6, 7], [3, 6, 7], [3, 4, 7]])
    K = intrinsics(40.0, 16, 16)
    settings = RenderSettings(image_size=(16, 16), mode=mode, double_sided=True, znear=0.01)
    lights = Lights.headlight(1, dtype=torch.float64)
    out = render_mesh(verts, faces, K, settings, lights=lights)
    alone = render_mesh(verts[:, :3], faces[:1], K, settings, lights=lights)
    for name in ("rgb", "alpha", "depth"):
        assert torch.equal(getattr(out, name), getattr(alone, name)), name
    (grad,) = torch.autograd.grad(all_outputs_sum(verts, faces, K, settings, None, lights), verts)
    assert torch.isfinite(grad).all() and (grad[0, 3:] == 0).all()


# ---------------------------------------------------------------- optimisation


def posed_hand(axis_angle: Tensor, translation: Tensor, template: Tensor) -> Tensor:
    """Hand template rotated about its centre and moved.  -> (1, V, 3)."""
    centre = template.mean(0)
    return ((template - centre) @ axis_angle_to_matrix(axis_angle).T + centre + translation)[None]


def test_optimisation_recovers_a_wrong_global_pose():
    torch.manual_seed(0)
    size = 80
    template, faces = open_hand(torch.float32)
    K = hand_camera(size, torch.float32)
    # Colours varying over the hand give the photometric term something to align.
    span = template.amax(0) - template.amin(0)
    colors = (0.2 + 0.6 * (template - template.amin(0)) / span)[None]
    lights = Lights.headlight(1)
    soft = RenderSettings(image_size=(size, size), sigma=1.0, gamma=1e-3)
    hard = RenderSettings(image_size=(size, size), mode="hard")

    def render(axis_angle, translation, settings):
        verts = posed_hand(axis_angle, translation, template)
        return render_mesh(verts, faces, K, settings, vertex_colors=colors, lights=lights)

    zero = torch.zeros(3)
    target = render(zero, zero, soft)
    target_mask = render(zero, zero, hard).alpha
    start_angle = math.radians(15)
    axis_angle = (start_angle * torch.tensor([0.6, 0.0, 0.8])).requires_grad_()
    translation = torch.tensor([0.015, -0.01, 0.01], requires_grad=True)
    assert soft_iou(render(axis_angle, translation, hard).alpha, target_mask) < 0.7
    optimizer = torch.optim.Adam(
        [{"params": [axis_angle], "lr": 0.02}, {"params": [translation], "lr": 0.002}]
    )
    for _ in range(150):
        out = render(axis_angle, translation, soft)
        loss = 1 - soft_iou(out.alpha, target.alpha) + (out.rgb - target.rgb).abs().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        final_iou = soft_iou(render(axis_angle, translation, hard).alpha, target_mask)
    assert final_iou > 0.95


# ---------------------------------------------------------------- dtypes, devices


@pytest.mark.parametrize("device", DEVICES)
def test_float32_and_float64_agree_on_any_device(device):
    verts, faces = open_hand()
    K = hand_camera(40)
    colors = torch.rand(
        1, verts.shape[0], 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0)
    )
    outputs = {}
    for dtype in (torch.float32, torch.float64):
        out = render_mesh(
            verts[None].to(device, dtype),
            faces.to(device),
            K.to(device, dtype),
            RenderSettings(image_size=(40, 40)),
            vertex_colors=colors.to(device, dtype),
            lights=Lights.headlight(1, device=device, dtype=dtype),
        )
        assert out.rgb.dtype == dtype and out.rgb.device.type == device
        assert out.face_index.device.type == device
        outputs[dtype] = out
    for name in ("rgb", "alpha", "depth"):
        low, high = getattr(outputs[torch.float32], name), getattr(outputs[torch.float64], name)
        assert torch.allclose(low.double(), high, atol=1e-4), name


def test_float32_geometry_far_from_the_image_origin_loses_no_precision():
    """Pairs are evaluated in their face's own pixel frame, so a face hundreds of pixels from
    the origin gets float32 distances, barycentrics and depths as exact as one near it."""
    uv = [[301.3, 201.1], [301.7, 206.4], [306.2, 201.6]]
    settings = RenderSettings(image_size=(210, 310), sigma=2.0)
    verts, faces, K = pixel_triangle(uv, dtype=torch.float32)
    fragments = {
        dtype: rasterize(verts.to(dtype), faces, K.to(dtype), (210, 310), settings, 4.0)
        for dtype in (torch.float32, torch.float64)
    }
    low, high = fragments[torch.float32], fragments[torch.float64]
    assert torch.equal(low.pixel, high.pixel) and torch.equal(low.inside, high.inside)
    assert low.inside.sum() > 5 and (~low.inside).sum() > 20
    for name in ("signed_dist_sq", "bary", "depth"):
        assert torch.allclose(getattr(low, name).double(), getattr(high, name), atol=1e-5), name


def test_int64_pair_indices_give_the_same_fragments(monkeypatch):
    """Pair and pixel indices are int32 below 2**31 and int64 above, with the same results."""
    assert rasterize_module.index_dtype(2**31 - 1) == torch.int32
    assert rasterize_module.index_dtype(2**31) == torch.int64
    verts, faces, K, size = triangle_scene()
    settings = RenderSettings(image_size=size, sigma=2.0, zfar=1.4)
    int32 = rasterize(verts, faces, K, size, settings, settings.blur_threshold)
    monkeypatch.setattr(rasterize_module, "index_dtype", lambda count: torch.int64)
    int64 = rasterize(verts, faces, K, size, settings, settings.blur_threshold)
    for name in ("pixel", "face", "inside", "signed_dist_sq", "bary", "depth"):
        assert torch.equal(getattr(int32, name), getattr(int64, name)), name
