"""Our renderer against pytorch3d at equal settings, and the optional pytorch3d backend.

The parity tests need pytorch3d, which has no PyPI build for this Python: CI installs a CPU wheel
from ../shared/wheels (.ci/run); elsewhere they skip. Equal settings means pytorch3d's
`cull_backfaces=True` beside our default single-sided faces (or False beside `double_sided`),
its sigma in squared NDC units converted with `sigma_from_pytorch3d`, its gamma with
`gamma_from_pytorch3d`, and its camera built from K with the principal point shifted half a pixel.
"""

from __future__ import annotations

import importlib.util
import math
import sys
from dataclasses import replace

import pytest
import torch
from helpers.tiny_training import build_tiny_synth, tiny_config
from torch import Tensor

from s2h_lib.hand.hand_model import ManoLayer
from s2h_lib.hand.hand_poses import NAMED_POSES
from s2h_lib.hand.rotations import axis_angle_to_matrix
from s2h_lib.render import (
    MIN_PROBABILITY,
    Lights,
    RenderSettings,
    gamma_from_pytorch3d,
    render_mesh,
    sigma_from_pytorch3d,
    silhouette,
)
from s2h_lib.train.train_config import StageConfig
from s2h_lib.train.trainer import train

needs_pytorch3d = pytest.mark.skipif(
    importlib.util.find_spec("pytorch3d") is None,
    reason="pytorch3d is not installed (CI installs it from ../shared/wheels; see .ci/run)",
)

# Hand rest frame (fingers -x, palm -y, thumb +z) to the camera frame: fingers up the image.
HAND_TO_CAMERA = ((0.0, 0.0, 1.0), (1.0, 0.0, 0.0), (0.0, 1.0, 0.0))
HAND_DISTANCE = 0.5  # metres
SIZE = (64, 80)  # (H, W): non-square, so the NDC scale follows the shorter side
SIGMA_NDC = 1e-4  # pytorch3d's default blend
GAMMA_NDC = 1e-4
FACES_PER_PIXEL = 200  # more than any pixel of these scenes needs (asserted)
SILHOUETTE_TOL = 1e-3
COLOUR_TOL = 1e-3
MIN_GRADIENT_COSINE = 0.99
# (pose, turn of the whole hand as an axis-angle in the camera frame)
POSES = [
    ("flat", (0.0, 0.0, 0.0)),
    ("fist", (0.3, -0.4, 0.0)),
    ("point", (0.0, 0.6, 0.2)),
    ("pinch", (-0.4, 0.0, 0.5)),
    ("spread", (0.0, 2.6, 0.0)),  # the back of the hand towards the camera
]


def posed_hand(pose: str, turn: tuple[float, float, float]) -> tuple[Tensor, Tensor]:
    """Open hand model in a named pose, turned, HAND_DISTANCE ahead: verts (1, V, 3), faces."""
    layer = ManoLayer(use_pca=False, flat_hand_mean=True)
    articulation = torch.tensor(NAMED_POSES[pose], dtype=torch.float32).reshape(1, -1)
    verts, _ = layer(torch.cat([torch.zeros(1, 3), articulation], 1))
    verts = verts[0] @ torch.tensor(HAND_TO_CAMERA).T
    verts = verts - (verts.amax(0) + verts.amin(0)) / 2
    verts = verts @ axis_angle_to_matrix(torch.tensor(turn)).T
    return (verts + torch.tensor([0.0, 0.0, HAND_DISTANCE]))[None], layer.th_faces.long()


def camera(size: tuple[int, int] = SIZE) -> Tensor:
    """K `(1, 3, 3)` at which the hand spans about 70% of the image height."""
    H, W = size
    focal = 1.4 * H
    return torch.tensor([[[focal, 0.0, (W - 1) / 2], [0.0, focal, (H - 1) / 2], [0.0, 0.0, 1.0]]])


def vertex_colours(num_verts: int) -> Tensor:
    generator = torch.Generator().manual_seed(0)
    return 0.3 + 0.5 * torch.rand(1, num_verts, 3, generator=generator)


def lights(dtype: torch.dtype = torch.float32) -> Lights:
    """Ambient plus a directional light travelling into the scene, slightly from the top left."""
    return Lights(
        ambient_intensity=torch.tensor([0.4], dtype=dtype),
        directional_intensity=torch.tensor([0.7], dtype=dtype),
        ambient_color=torch.tensor([[1.0, 0.9, 0.8]], dtype=dtype),
        directional_color=torch.tensor([[0.9, 1.0, 1.0]], dtype=dtype),
        direction=torch.tensor([[0.3, 0.4, 1.0]], dtype=dtype),
    )


def settings(double_sided: bool = False, mode: str = "soft") -> RenderSettings:
    return RenderSettings(
        image_size=SIZE,
        mode=mode,
        sigma=sigma_from_pytorch3d(SIGMA_NDC, SIZE),
        gamma=gamma_from_pytorch3d(GAMMA_NDC),
        double_sided=double_sided,
        shading="gouraud",
    )


# ---------------------------------------------------------------- pytorch3d's own pipeline


def pytorch3d_render(verts: Tensor, faces: Tensor, K: Tensor, double_sided: bool, soft: bool):
    """pytorch3d's rasterizer, soft silhouette shader and soft Gouraud shader at our settings.

    Returns alpha (1, H, W), rgb (1, 3, H, W) and the fragments."""
    from pytorch3d.renderer import (
        BlendParams,
        DirectionalLights,
        HardGouraudShader,
        MeshRasterizer,
        RasterizationSettings,
        SoftGouraudShader,
        SoftSilhouetteShader,
        TexturesVertex,
    )
    from pytorch3d.structures import Meshes

    from s2h_lib.render.pytorch3d_backend import opencv_cameras

    cameras = opencv_cameras(K, SIZE)
    raster = RasterizationSettings(
        image_size=SIZE,
        blur_radius=math.log(1 / MIN_PROBABILITY - 1) * SIGMA_NDC if soft else 0.0,
        faces_per_pixel=FACES_PER_PIXEL if soft else 1,
        perspective_correct=True,
        clip_barycentric_coords=True,
        cull_backfaces=not double_sided,
    )
    light = lights()
    # pytorch3d's direction points towards the light; ours is the way the light travels.
    p3d_lights = DirectionalLights(
        ambient_color=light.ambient_intensity[:, None] * light.ambient_color,
        diffuse_color=light.directional_intensity[:, None] * light.directional_color,
        specular_color=torch.zeros(1, 3),
        direction=-light.direction / light.direction.norm(dim=-1, keepdim=True),
    )
    mesh = Meshes(verts, faces[None], textures=TexturesVertex(vertex_colours(verts.shape[1])))
    fragments = MeshRasterizer(cameras, raster_settings=raster)(mesh)
    if soft:
        assert (fragments.pix_to_face[..., -1] < 0).all()  # no pixel had more faces than slots
    blend = BlendParams(sigma=SIGMA_NDC, gamma=GAMMA_NDC, background_color=(0.0, 0.0, 0.0))
    alpha = SoftSilhouetteShader(blend)(fragments, mesh)[..., 3]
    gouraud = SoftGouraudShader if soft else HardGouraudShader
    shader = gouraud(cameras=cameras, lights=p3d_lights, blend_params=blend)
    rgb = shader(fragments, mesh)[..., :3].permute(0, 3, 1, 2)
    return alpha, rgb, fragments


def ours(verts: Tensor, faces: Tensor, K: Tensor, settings: RenderSettings):
    colours = vertex_colours(verts.shape[1])
    return render_mesh(verts, faces, K, settings, vertex_colors=colours, lights=lights())


def cosine(a: Tensor, b: Tensor) -> float:
    return torch.nn.functional.cosine_similarity(a.flatten(), b.flatten(), dim=0).item()


@needs_pytorch3d
@pytest.mark.parametrize("double_sided", [False, True])
@pytest.mark.parametrize(("pose", "turn"), POSES)
def test_soft_silhouette_and_shaded_colour_match_pytorch3d(pose, turn, double_sided):
    verts, faces = posed_hand(pose, turn)
    K = camera()
    alpha, rgb, _ = pytorch3d_render(verts, faces, K, double_sided, soft=True)
    out = ours(verts, faces, K, settings(double_sided))
    assert 0.03 < (alpha > 0.5).float().mean() < 0.6  # the hand is in view, not filling it
    assert (out.alpha[:, 0] - alpha).abs().max() < SILHOUETTE_TOL
    # Double-sided, pytorch3d lights a face seen from behind with its inward vertex normals and
    # we with the normals turned to the camera: compare colours single-sided only.
    if not double_sided:
        assert (out.rgb - rgb).abs().max() < COLOUR_TOL


@needs_pytorch3d
def test_culling_conventions_differ_by_default():
    """pytorch3d's default `cull_backfaces=False` adds the back layer's blur along the contour:
    at equal culling the silhouettes agree, across conventions they do not (issue 15)."""
    verts, faces = posed_hand("flat", (0.0, 0.0, 0.0))
    K = camera()
    both_sides = pytorch3d_render(verts, faces, K, double_sided=True, soft=True)[0]
    single = silhouette(verts, faces, K, settings(double_sided=False))[:, 0]
    double = silhouette(verts, faces, K, settings(double_sided=True))[:, 0]
    assert (double - both_sides).abs().max() < SILHOUETTE_TOL
    assert (single - both_sides).abs().max() > 0.1


@needs_pytorch3d
@pytest.mark.parametrize(("pose", "turn"), POSES)
def test_hard_rasterization_matches_pytorch3d(pose, turn):
    verts, faces = posed_hand(pose, turn)
    K = camera()
    fragments = pytorch3d_render(verts, faces, K, double_sided=False, soft=False)[2]
    out = ours(verts, faces, K, settings(mode="hard"))
    face_index = fragments.pix_to_face[..., 0]
    covered = face_index >= 0
    assert covered.sum() > 250
    assert torch.equal(out.face_index, face_index)
    bary = fragments.bary_coords[..., 0, :]
    assert (out.barycentrics[covered] - bary[covered]).abs().max() < 1e-4
    assert (out.depth[:, 0][covered] - fragments.zbuf[..., 0][covered]).abs().max() < 1e-5


def weighted_sum_gradient(render, verts: Tensor, weight: Tensor) -> Tensor:
    """d(sum(weight * render(verts))) / d verts, `(1, V, 3)`."""
    verts = verts.clone().requires_grad_()
    return torch.autograd.grad((render(verts) * weight).sum(), verts)[0]


@needs_pytorch3d
@pytest.mark.parametrize(("pose", "turn"), POSES[:3])
def test_vertex_gradients_point_the_same_way_as_pytorch3d(pose, turn):
    """Soft silhouette and hard shaded colour. pytorch3d's soft colour gradient is checked
    against finite differences below instead: its backward is wrong outside faces."""
    verts, faces = posed_hand(pose, turn)
    K = camera()
    generator = torch.Generator().manual_seed(1)
    alpha_weight = torch.rand(1, *SIZE, generator=generator)
    rgb_weight = torch.rand(1, 3, *SIZE, generator=generator)
    cases = {
        "soft silhouette": (
            lambda v: pytorch3d_render(v, faces, K, False, soft=True)[0],
            lambda v: silhouette(v, faces, K, settings())[:, 0],
            alpha_weight,
        ),
        "hard shaded colour": (
            lambda v: pytorch3d_render(v, faces, K, False, soft=False)[1],
            lambda v: ours(v, faces, K, settings(mode="hard")).rgb,
            rgb_weight,
        ),
    }
    for name, (theirs, native, weight) in cases.items():
        their_grad = weighted_sum_gradient(theirs, verts, weight)
        our_grad = weighted_sum_gradient(native, verts, weight)
        assert our_grad.abs().sum() > 0, name
        assert cosine(our_grad, their_grad) > MIN_GRADIENT_COSINE, name


def pair_depth(verts: Tensor, faces: Tensor, K: Tensor, keys: Tensor | None = None):
    """Soft pairs' depths `(P,)` and keys pixel * F + face `(P,)`, at the given keys if any."""
    from s2h_lib.render.rasterize import rasterize

    s = settings()
    fragments = rasterize(verts, faces, K.to(verts.dtype), SIZE, s, s.blur_threshold)
    all_keys = fragments.pixel * faces.shape[0] + fragments.face
    if keys is None:
        return fragments.depth, all_keys
    order = all_keys.argsort()
    return fragments.depth[order[torch.searchsorted(all_keys[order], keys)]], keys


@needs_pytorch3d
def test_soft_depth_gradient_matches_finite_differences_where_pytorch3d_does_not():
    """Outside a face, depth (and colour) come from barycentrics clipped to the face. Ours follow
    finite differences; pytorch3d's backward is off by orders of magnitude (README)."""
    from pytorch3d.renderer import MeshRasterizer, RasterizationSettings
    from pytorch3d.structures import Meshes

    from s2h_lib.render.pytorch3d_backend import opencv_cameras
    from s2h_lib.render.rasterize import rasterize

    verts, faces = posed_hand("flat", (0.0, 0.0, 0.0))
    verts = verts.double()
    K = camera()
    s = settings()
    fragments = rasterize(verts, faces, K.double(), SIZE, s, s.blur_threshold)
    # Outside pairs not within reach of the blur threshold under the small steps below.
    outside = ~fragments.inside & (fragments.signed_dist_sq < 0.9 * s.blur_threshold)
    keys = (fragments.pixel * faces.shape[0] + fragments.face)[outside]
    generator = torch.Generator().manual_seed(3)
    weight = torch.rand(keys.shape, dtype=torch.float64, generator=generator)
    direction = torch.randn(verts.shape, dtype=torch.float64, generator=generator)
    ours_grad = weighted_sum_gradient(lambda v: pair_depth(v, faces, K, keys)[0], verts, weight)
    step = 1e-9  # metres: a thousandth of a micrometre per unit of direction
    difference = (
        pair_depth(verts + step * direction, faces, K, keys)[0]
        - pair_depth(verts - step * direction, faces, K, keys)[0]
    ) / (2 * step)
    expected = (weight * difference).sum().item()
    assert (ours_grad * direction).sum().item() == pytest.approx(expected, rel=1e-4)

    raster = RasterizationSettings(
        image_size=SIZE,
        blur_radius=math.log(1 / MIN_PROBABILITY - 1) * SIGMA_NDC,
        faces_per_pixel=FACES_PER_PIXEL,
        clip_barycentric_coords=True,
        cull_backfaces=True,
    )

    def pytorch3d_pair_depth(v: Tensor) -> Tensor:
        fragments = MeshRasterizer(opencv_cameras(K, SIZE), raster)(Meshes(v, faces[None]))
        valid = fragments.pix_to_face >= 0
        _, row, column, _ = valid.nonzero().unbind(1)
        all_keys = (row * SIZE[1] + column) * faces.shape[0] + fragments.pix_to_face[valid]
        order = all_keys.argsort()
        return fragments.zbuf[valid][order[torch.searchsorted(all_keys[order], keys)]]

    assert torch.allclose(
        pytorch3d_pair_depth(verts.float()).double(),
        pair_depth(verts, faces, K, keys)[0],
        atol=1e-5,
    )
    their_grad = weighted_sum_gradient(pytorch3d_pair_depth, verts.float(), weight.float())
    assert their_grad.norm() > 100 * ours_grad.norm()


# ---------------------------------------------------------------- the pytorch3d backend


@needs_pytorch3d
@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"double_sided": True},
        {"mode": "hard"},
        {"sigma": 1.0, "gamma": 1e-3, "shading": "flat"},
        {"supersample": 2, "mode": "hard"},
    ],
    ids=["soft", "double-sided", "hard", "training-defaults", "supersampled"],
)
def test_pytorch3d_backend_renders_what_the_native_one_does(changes):
    verts, faces = posed_hand("pinch", (-0.4, 0.0, 0.5))
    verts = verts.double().requires_grad_()
    K = camera().double()
    generator = torch.Generator().manual_seed(2)
    background = torch.rand(1, 3, *SIZE, dtype=torch.float64, generator=generator)
    weight = torch.rand(1, 3, *SIZE, dtype=torch.float64, generator=generator)
    native = replace(settings(), faces_per_pixel=FACES_PER_PIXEL, **changes)
    colours = vertex_colours(verts.shape[1]).double()
    outputs, gradients = [], []
    for s in (native, replace(native, backend="pytorch3d")):
        out = render_mesh(
            verts,
            faces,
            K,
            s,
            vertex_colors=colours,
            lights=lights(torch.float64),
            background=background,
        )
        outputs.append(out)
        gradients.append(torch.autograd.grad((out.rgb * weight).sum() + out.alpha.sum(), verts)[0])
    ours_, theirs = outputs
    # The pair geometry is the same code in float64: only the pair search differs.
    for name in ("rgb", "alpha", "depth"):
        assert torch.allclose(getattr(ours_, name), getattr(theirs, name), atol=1e-12), name
    assert torch.allclose(gradients[0], gradients[1], atol=1e-9)
    if native.supersample == 1:
        assert torch.equal(ours_.face_index, theirs.face_index)


@needs_pytorch3d
def test_pytorch3d_backend_warns_when_faces_per_pixel_runs_out():
    verts, faces = posed_hand("fist", (0.3, -0.4, 0.0))
    few = replace(settings(), backend="pytorch3d", faces_per_pixel=2)
    with pytest.warns(UserWarning, match="faces_per_pixel=2"):
        silhouette(verts, faces, camera(), few)


def test_pytorch3d_backend_without_pytorch3d_says_what_to_do(monkeypatch):
    monkeypatch.setitem(sys.modules, "pytorch3d.renderer", None)  # import fails as if absent
    verts, faces = posed_hand("flat", (0.0, 0.0, 0.0))
    with pytest.raises(ImportError, match="backend='native'"):
        silhouette(verts, faces, camera(), replace(settings(), backend="pytorch3d"))


def test_unknown_backend_is_refused():
    with pytest.raises(ValueError, match="backend"):
        RenderSettings(backend="opengl")


@needs_pytorch3d
def test_training_with_either_backend_agrees(tmp_path):
    data = build_tiny_synth(tmp_path / "s2h_synth")
    # Three end-to-end steps: the third step's losses follow two updates through the renderer.
    # The untrained network's crumpled hands overflow even 200 faces per pixel at a few pixels
    # (a warning): the faces dropped there are the farthest, which barely count.
    stages = (StageConfig("e2e", 3, lr=1e-3, batch_size=4),)
    losses = {}
    for backend in ("native", "pytorch3d"):
        render = RenderSettings(backend=backend, faces_per_pixel=FACES_PER_PIXEL)
        config = tiny_config(data, stages=stages, render=render)
        assert "photometric" in config.effective_losses.active_terms("e2e")
        losses[backend] = train(config, tmp_path / backend, progress=False).last_losses
    assert "photometric" in losses["native"]
    assert losses["native"].keys() == losses["pytorch3d"].keys()
    for term, value in losses["native"].items():
        assert value == pytest.approx(losses["pytorch3d"][term], rel=1e-4, abs=1e-6), term
