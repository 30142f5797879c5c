"""Speed of the sparse renderer (s2h_lib.render): ms per image, forward and forward+backward.

    .venv/bin/python bench/bench_render.py [--quick]

Batch 16 of the open hand (its bounding box about half the image), 128² and 224², soft mode at
pytorch3d's default blend (sigma = gamma = 1e-4 in its units), silhouette and shaded RGB, on CPU
and on CUDA when present. For context, a naive dense renderer (every pixel against every face,
chunked over faces) at 128², batch 1, and, when pytorch3d imports, its own pipeline side by side
at equal settings (rasterizer + SoftSilhouetteShader / SoftGouraudShader, back faces culled as
ours are) on CPU at 128², batch 16: times, their ratio, pixel-face pairs and the largest
silhouette difference.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import time
from collections.abc import Callable
from dataclasses import replace
from importlib import resources

import numpy as np
import torch
from torch import Tensor
from torch.utils.checkpoint import checkpoint

from s2h_lib.render import (
    MIN_PROBABILITY,
    Lights,
    RenderSettings,
    gamma_from_pytorch3d,
    render_mesh,
    sigma_from_pytorch3d,
    silhouette,
)
from s2h_lib.render.rasterize import edge_function, project, squared_distance_to_segment

PYTORCH3D_SIGMA = 1e-4
PYTORCH3D_GAMMA = 1e-4
# Enough for every pixel of the benchmark scene at 128² (the script checks and says if not).
PYTORCH3D_FACES_PER_PIXEL = 48
HAND_TO_CAMERA = ((0.0, 0.0, 1.0), (1.0, 0.0, 0.0), (0.0, 1.0, 0.0))
FOCAL_PER_WIDTH = 2.0  # the hand's bounding box spans about half the image at 0.5 m
DENSE_FACE_CHUNK = 128


def hand_scene(batch_size: int, size: int, device: str) -> tuple[Tensor, Tensor, Tensor]:
    """Open hand 0.5 m in front of the camera, slightly turned per sample: verts, faces, K."""
    with resources.as_file(resources.files("s2h_lib") / "assets/open_hand_right.npz") as path:
        asset = np.load(path)
        template = torch.tensor(asset["v_template"], dtype=torch.float32)
        faces = torch.tensor(asset["f"], dtype=torch.long)
    template = template @ torch.tensor(HAND_TO_CAMERA).T
    template = template - (template.amax(0) + template.amin(0)) / 2
    angles = torch.linspace(-0.3, 0.3, batch_size)
    cos, sin = angles.cos(), angles.sin()
    zeros, ones = torch.zeros_like(angles), torch.ones_like(angles)
    turn = torch.stack([cos, zeros, sin, zeros, ones, zeros, -sin, zeros, cos], -1).reshape(
        -1, 3, 3
    )
    verts = template @ turn.transpose(1, 2) + torch.tensor([0.0, 0.0, 0.5])
    focal = FOCAL_PER_WIDTH * size
    K = torch.tensor([[focal, 0.0, (size - 1) / 2], [0.0, focal, (size - 1) / 2], [0.0, 0, 1]])
    return verts.to(device), faces.to(device), K.expand(batch_size, 3, 3).to(device)


def settings_for(size: int) -> RenderSettings:
    return RenderSettings(
        image_size=(size, size),
        sigma=sigma_from_pytorch3d(PYTORCH3D_SIGMA, (size, size)),
        gamma=gamma_from_pytorch3d(PYTORCH3D_GAMMA),
    )


def time_ms(fn: Callable[[], None], device: str, repeats: int) -> float:
    """Median wall time of fn in milliseconds, after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return 1e3 * float(np.median(times))


def sparse_cases(verts, faces, K, settings):
    """name -> (forward producing a loss, number of pairs)."""
    batch_size = verts.shape[0]
    colors = torch.full((batch_size, faces.shape[0], 3), 0.7, device=verts.device)
    lights = torch.tensor([0.5, 0.5, 1, 1, 1, 1, 1, 1, 0.2, 0.3, 1.0], device=verts.device)
    lights = lights.expand(batch_size, 11)

    def silhouette_loss(verts: Tensor) -> Tensor:
        return silhouette(verts, faces, K, settings).mean()

    def rgb_loss(verts: Tensor) -> Tensor:
        out = render_mesh(
            verts, faces, K, settings, face_colors=colors, lights=Lights.from_vector(lights)
        )
        return out.rgb.mean()

    pairs = render_mesh(verts, faces, K, settings).num_pairs
    return {"silhouette": (silhouette_loss, pairs), "shaded rgb": (rgb_loss, pairs)}


def dense_silhouette(verts: Tensor, faces: Tensor, K: Tensor, settings: RenderSettings) -> Tensor:
    """Naive reference: every pixel against every face (front faces, soft silhouette), in face
    chunks that autograd recomputes in backward so memory stays bounded.  -> (B, H, W)."""
    H, W = settings.image_size
    tri = project(verts, K, settings.znear)[0][:, faces]
    rows, cols = torch.meshgrid(
        torch.arange(H, device=verts.device), torch.arange(W, device=verts.device), indexing="ij"
    )
    pixels = torch.stack([cols, rows], -1).reshape(1, -1, 1, 2).to(verts.dtype)
    threshold = settings.blur_threshold

    def chunk_log_transmittance(tri: Tensor) -> Tensor:
        a, b, c = (tri[:, None, :, k] for k in range(3))
        front = edge_function(a, b, c) > 0
        edges = torch.stack(
            [edge_function(pixels, b, c), edge_function(pixels, c, a), edge_function(pixels, a, b)]
        )
        inside = (edges >= 0).all(0)
        dist_sq = torch.minimum(
            squared_distance_to_segment(pixels, a, b),
            torch.minimum(
                squared_distance_to_segment(pixels, b, c), squared_distance_to_segment(pixels, c, a)
            ),
        )
        signed = torch.where(inside, -dist_sq, dist_sq)
        keep = front & (inside | (dist_sq < threshold))
        log_t = torch.nn.functional.logsigmoid(signed / settings.sigma)
        return torch.where(keep, log_t, torch.zeros_like(log_t)).sum(-1)

    total = sum(
        checkpoint(
            chunk_log_transmittance, tri[:, start : start + DENSE_FACE_CHUNK], use_reentrant=False
        )
        for start in range(0, faces.shape[0], DENSE_FACE_CHUNK)
    )
    return -torch.expm1(total).reshape(-1, H, W)


def bench_device(device: str, sizes: list[int], batch_size: int, repeats: int) -> float:
    """Prints the table rows of one device; returns the 128² fwd+bwd silhouette ms per image."""
    reference = math.nan
    for size in sizes:
        verts, faces, K = hand_scene(batch_size, size, device)
        settings = settings_for(size)
        for name, (loss_fn, pairs) in sparse_cases(verts, faces, K, settings).items():
            leaf = verts.clone().requires_grad_()
            forward = time_ms(lambda f=loss_fn, v=verts: f(v), device, repeats) / batch_size
            both = time_ms(lambda f=loss_fn, v=leaf: f(v).backward(), device, repeats) / batch_size
            coverage = silhouette(verts, faces, K, settings).mean().item()
            print(
                f"| {device} | {name} | {size}² | {batch_size} | {forward:.2f} | {both:.2f} | "
                f"{pairs:,d} | {pairs / batch_size / faces.shape[0]:.1f} | {coverage:.2f} |"
            )
            if name == "silhouette" and size == 128:
                reference = both
    return reference


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats, 128² only")
    args = parser.parse_args()
    repeats = 3 if args.quick else 7
    sizes = [128] if args.quick else [128, 224]
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
    print(
        "| dev | output | image | B | fwd ms/img | fwd+bwd ms/img | pairs | pairs/face | coverage |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    sparse_ms = bench_device("cpu", sizes, 16, repeats)
    if torch.cuda.is_available():
        bench_device("cuda", sizes, 16, repeats)

    verts, faces, K = hand_scene(1, 128, "cpu")
    settings = settings_for(128)
    leaf = verts.clone().requires_grad_()
    dense_error = (
        (dense_silhouette(verts, faces, K, settings) - silhouette(verts, faces, K, settings)[:, 0])
        .abs()
        .max()
    )
    forward = time_ms(lambda: dense_silhouette(verts, faces, K, settings), "cpu", 1)
    both = time_ms(lambda: dense_silhouette(leaf, faces, K, settings).sum().backward(), "cpu", 1)
    print(
        f"\nnaive dense silhouette, cpu, 128², batch 1 ({128 * 128 * faces.shape[0]:,d} pairs): "
        f"forward {forward:.0f} ms, forward+backward {both:.0f} ms; "
        f"sparse is {both / sparse_ms:.0f}x faster forward+backward (max |diff| {dense_error:.1e})"
    )
    if importlib.util.find_spec("pytorch3d") is None:
        print("\npytorch3d: not importable here, no side-by-side timing")
    else:
        bench_pytorch3d(repeats)
    print(f"soft blur drops faces below p = {MIN_PROBABILITY}")


def pytorch3d_renderers(verts: Tensor, faces: Tensor, K: Tensor, size: int):
    """pytorch3d's soft silhouette and soft Gouraud renderers at `settings_for(size)`, and its
    rasterizer (for the pair count)."""
    from pytorch3d.renderer import (
        BlendParams,
        DirectionalLights,
        MeshRasterizer,
        MeshRenderer,
        RasterizationSettings,
        SoftGouraudShader,
        SoftSilhouetteShader,
    )

    from s2h_lib.render.pytorch3d_backend import opencv_cameras

    cameras = opencv_cameras(K, (size, size))
    raster = RasterizationSettings(
        image_size=size,
        blur_radius=math.log(1 / MIN_PROBABILITY - 1) * PYTORCH3D_SIGMA,
        faces_per_pixel=PYTORCH3D_FACES_PER_PIXEL,
        clip_barycentric_coords=True,
        cull_backfaces=True,
    )
    blend = BlendParams(sigma=PYTORCH3D_SIGMA, gamma=PYTORCH3D_GAMMA, background_color=(0, 0, 0))
    rasterizer = MeshRasterizer(cameras, raster)
    # Ours shades with a light travelling along +z, i.e. pytorch3d's direction (0, 0, -1).
    lights = DirectionalLights(
        ambient_color=((0.5, 0.5, 0.5),),
        diffuse_color=((0.5, 0.5, 0.5),),
        specular_color=((0.0, 0.0, 0.0),),
        direction=((0.0, 0.0, -1.0),),
    )
    silhouette_renderer = MeshRenderer(rasterizer, SoftSilhouetteShader(blend))
    shaded = MeshRenderer(
        rasterizer, SoftGouraudShader(cameras=cameras, lights=lights, blend_params=blend)
    )
    return silhouette_renderer, shaded, rasterizer


def bench_pytorch3d(repeats: int, size: int = 128, batch_size: int = 16) -> None:
    """Ours and pytorch3d side by side on CPU at equal settings; prints a table and the ratio."""
    from pytorch3d.renderer import TexturesVertex
    from pytorch3d.structures import Meshes

    verts, faces, K = hand_scene(batch_size, size, "cpu")
    settings = replace(settings_for(size), shading="gouraud")
    colours = torch.full_like(verts, 0.7)
    lights = Lights.headlight(batch_size)
    their_silhouette, their_shaded, rasterizer = pytorch3d_renderers(verts, faces, K, size)

    def mesh(v: Tensor) -> Meshes:
        return Meshes(v, faces.expand(batch_size, -1, -1), textures=TexturesVertex(colours))

    cases = {
        "silhouette": (
            lambda v: silhouette(v, faces, K, settings).mean(),
            lambda v: their_silhouette(mesh(v))[..., 3].mean(),
        ),
        "shaded rgb": (
            lambda v: render_mesh(
                v, faces, K, settings, vertex_colors=colours, lights=lights
            ).rgb.mean(),
            lambda v: their_shaded(mesh(v))[..., :3].mean(),
        ),
    }
    fragments = rasterizer(mesh(verts))
    full = int((fragments.pix_to_face[..., -1] >= 0).sum())
    their_pairs = int((fragments.pix_to_face >= 0).sum())
    our_pairs = render_mesh(verts, faces, K, settings).num_pairs
    ours_alpha = silhouette(verts, faces, K, settings)[:, 0]
    alpha_error = (ours_alpha - their_silhouette(mesh(verts))[..., 3]).abs().max().item()
    print(
        f"\npytorch3d side by side, cpu, {size}², batch {batch_size}, sigma = gamma = 1e-4 "
        f"(its units), faces_per_pixel {PYTORCH3D_FACES_PER_PIXEL} "
        f"({'enough' if full == 0 else f'FULL at {full} pixels'}); "
        f"max |silhouette difference| {alpha_error:.1e}"
    )
    print(
        "| output | ours fwd ms/img | pytorch3d fwd | ratio | ours fwd+bwd | pytorch3d fwd+bwd "
        "| ratio |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, (ours_fn, theirs_fn) in cases.items():
        times = []
        for fn in (ours_fn, theirs_fn):
            leaf = verts.clone().requires_grad_()
            times.append(time_ms(lambda f=fn: f(verts), "cpu", repeats) / batch_size)
            times.append(time_ms(lambda f=fn, v=leaf: f(v).backward(), "cpu", repeats) / batch_size)
        ours_fwd, ours_both, their_fwd, their_both = times
        print(
            f"| {name} | {ours_fwd:.2f} | {their_fwd:.2f} | {their_fwd / ours_fwd:.1f}x | "
            f"{ours_both:.2f} | {their_both:.2f} | {their_both / ours_both:.1f}x |"
        )
    print(
        f"pixel-face pairs: ours {our_pairs:,d} evaluated (bounding boxes grown by the blur), "
        f"pytorch3d {their_pairs:,d} kept of {fragments.pix_to_face.numel():,d} slots "
        f"(B·H·W·faces_per_pixel)"
    )


if __name__ == "__main__":
    main()
