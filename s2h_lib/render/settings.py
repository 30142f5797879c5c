"""Render settings and the unit conversions from pytorch3d's blend parameters.

Units (ours, chosen so the numbers mean the same at every image size):
- `sigma` is in squared output pixels: a face's coverage probability at a pixel is
  sigmoid(-signed_d² / sigma), with d the distance in pixels from the pixel centre to the face's
  projected boundary, negative inside.
- `gamma` is in metres of camera depth: in the soft colour blend a face's weight falls as
  exp(-(z - z_nearest) / gamma). It is a depth temperature, so pixels are not its unit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

# Faces whose coverage probability at a pixel is below this are skipped (SoftRas' `dist_eps`,
# the value pytorch3d's docs recommend for `blur_radius`).
MIN_PROBABILITY = 1e-4
BACKENDS = ("native", "pytorch3d")


@dataclass(frozen=True)
class RenderSettings:
    """How to rasterize and blend.

    image_size: (H, W) of the output, in pixels; non-square is fine.
    mode: 'soft' (SoftRas / pytorch3d probabilistic silhouette and softmax colour, for training)
        or 'hard' (z-buffer, no blur: data generation and evaluation).
    sigma: blur of the soft silhouette, in squared output pixels (see `sigma_from_pytorch3d`).
    gamma: depth temperature of the soft colour blend, in metres (see `gamma_from_pytorch3d`).
    double_sided: draw faces seen from behind too (neural_renderer's `fill_back`); otherwise
        faces wound clockwise on screen, i.e. seen from inside the mesh, are culled.
    supersample: render at this many times the resolution, then average-pool (anti-aliasing).
    background: RGB colour used where `render_mesh` gets no background.
    znear, zfar: faces with any vertex depth outside [znear, zfar] metres are dropped whole
        (no clipping into sub-triangles); zfar is also the depth of the soft blend's background.
    shading: 'flat' lights each face with its face normal (S2HAND), 'gouraud' lights each vertex
        with its area-weighted normal and interpolates.
    perspective_correct: interpolate with perspective-correct barycentrics.
    backend: who finds the pixel-face pairs: 'native' (pure PyTorch, any device) or 'pytorch3d'
        (its CUDA or C++ rasterizer, when pytorch3d is installed); shading and blending are
        shared, so both give the same images (README, "The renderer and pytorch3d").
    faces_per_pixel: pytorch3d backend only: the nearest faces it keeps per pixel (the native
        backend keeps every face within the blur radius; a warning says when a pixel's list is
        full). The open hand filling half a 128 px image at sigma 1 reaches 47 single-sided,
        84 double-sided; at 64 px, 75 and 143.
    """

    image_size: tuple[int, int] = (224, 224)
    mode: Literal["soft", "hard"] = "soft"
    sigma: float = 1.0
    gamma: float = 1e-3
    double_sided: bool = False
    supersample: int = 1
    background: tuple[float, float, float] = (0.0, 0.0, 0.0)
    znear: float = 0.01
    zfar: float = 100.0
    shading: Literal["flat", "gouraud"] = "flat"
    perspective_correct: bool = True
    backend: Literal["native", "pytorch3d"] = "native"
    faces_per_pixel: int = 64

    def __post_init__(self) -> None:
        if self.mode not in ("soft", "hard"):
            raise ValueError(f"mode must be 'soft' or 'hard', got {self.mode!r}")
        if self.shading not in ("flat", "gouraud"):
            raise ValueError(f"shading must be 'flat' or 'gouraud', got {self.shading!r}")
        if not 0.0 < self.znear < self.zfar:
            raise ValueError(f"need 0 < znear < zfar, got {self.znear}, {self.zfar}")
        if self.sigma <= 0.0 or self.gamma <= 0.0:
            raise ValueError("sigma and gamma must be positive")
        if self.supersample < 1:
            raise ValueError(f"supersample must be >= 1, got {self.supersample}")
        if self.backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {self.backend!r}")
        if self.faces_per_pixel < 1:
            raise ValueError(f"faces_per_pixel must be >= 1, got {self.faces_per_pixel}")

    @property
    def blur_threshold(self) -> float:
        """Squared pixel distance beyond which an outside face is dropped, in output pixels².

        sigmoid(-d²/sigma) < MIN_PROBABILITY  <=>  d² > sigma * ln(1 / MIN_PROBABILITY - 1).
        Zero in hard mode: only pixels inside a face count.
        """
        if self.mode == "hard":
            return 0.0
        return self.sigma * math.log(1.0 / MIN_PROBABILITY - 1.0)


def pixels_per_ndc(image_size: tuple[int, int]) -> float:
    """Pixels per pytorch3d NDC unit: its NDC spans 2 units over the shorter image side."""
    return min(image_size) / 2.0


def sigma_from_pytorch3d(sigma_ndc: float, image_size: tuple[int, int]) -> float:
    """Our `sigma` (squared pixels) equal to pytorch3d's `BlendParams.sigma` (squared NDC units).

    d_px = d_ndc * pixels_per_ndc, so sigma_px = sigma_ndc * (min(H, W) / 2)².
    """
    return sigma_ndc * pixels_per_ndc(image_size) ** 2


def gamma_from_pytorch3d(gamma: float, znear: float = 1.0, zfar: float = 100.0) -> float:
    """Our `gamma` (metres) equal to pytorch3d's / SoftRas' `gamma` at their znear, zfar.

    They weight faces by exp(z_inv / gamma) with z_inv = (zfar - z) / (zfar - znear), which is
    exp(-z / (gamma (zfar - znear))) up to a per-pixel constant. The defaults are the ones
    pytorch3d's soft shaders use with cameras that carry no znear/zfar.
    """
    return gamma * (zfar - znear)
