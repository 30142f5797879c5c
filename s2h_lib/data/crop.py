"""Square crops around a hand, image warps, and keeping K and 2D points consistent with them.

Every crop or augmentation is a 3x3 pixel affine `A` (original pixel -> new pixel, pixel centres at
integer coordinates, DESIGN.md). The three things that must move together move with it:
image (`warp_image`), 2D points (`apply_affine`) and intrinsics (`K_new = A @ K`), so a 3D point
projected with `K_new` lands where its projection with `K` lands after the warp.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

DEFAULT_MARGIN = 1.6  # crop side / keypoint box side: the hand fills about 60% of the crop


@dataclass(frozen=True)
class CropBox:
    """A square in original-image pixels: centre `(cx, cy)` and side length `side`."""

    cx: float
    cy: float
    side: float

    def __post_init__(self) -> None:
        if not self.side > 0:
            raise ValueError(f"crop side must be positive, got {self.side}")

    def matrix(self, size: int) -> Tensor:
        """(3, 3) float64 affine from original pixels to pixels of a `size` x `size` crop."""
        scale = size / self.side
        # the box's centre maps to the crop's centre, (size - 1) / 2 in pixel-centre coordinates
        tx = (size - 1) / 2 - scale * self.cx
        ty = (size - 1) / 2 - scale * self.cy
        return torch.tensor(
            [[scale, 0.0, tx], [0.0, scale, ty], [0.0, 0.0, 1.0]], dtype=torch.float64
        )


def box_around_points(
    points: Tensor, confidence: Tensor | None = None, margin: float = DEFAULT_MARGIN
) -> CropBox:
    """The square box around `points` (N, 2), grown by `margin`, ignoring zero-confidence points.

    Raises ValueError when no point is usable (all missing or not finite).
    """
    usable = torch.isfinite(points).all(dim=-1)
    if confidence is not None:
        usable &= confidence > 0
    if not bool(usable.any()):
        raise ValueError("no usable keypoint to place a crop around (all missing or NaN)")
    kept = points[usable].double()
    low, high = kept.min(dim=0).values, kept.max(dim=0).values
    centre = (low + high) / 2
    side = float((high - low).max()) * margin
    return CropBox(float(centre[0]), float(centre[1]), max(side, 1.0))


def apply_affine(A: Tensor, points: Tensor) -> Tensor:
    """Map 2D points (..., 2) through the 3x3 affine `A`; floats in, floats out (no rounding)."""
    A = A.to(points.dtype)
    return points @ A[:2, :2].T + A[:2, 2]


def update_intrinsics(A: Tensor, K: Tensor) -> Tensor:
    """Intrinsics (3, 3) of the warped image: `A @ K`, in K's dtype."""
    return A.to(K.dtype) @ K


def project_points(points: Tensor, K: Tensor) -> Tensor:
    """Pinhole projection u = K X / Z of points (..., N, 3) with K (..., 3, 3): (..., N, 2)."""
    uvw = points @ K.to(points.dtype).transpose(-1, -2)
    return uvw[..., :2] / uvw[..., 2:]


def rotation_about(centre: tuple[float, float], angle: float) -> Tensor:
    """(3, 3) affine turning pixels by `angle` radians (counter-clockwise on screen) about `centre`.

    With y pointing down, a counter-clockwise turn on screen is a rotation by -angle in (x, y).
    """
    c, s = (
        torch.cos(torch.tensor(-angle, dtype=torch.float64)),
        torch.sin(torch.tensor(-angle, dtype=torch.float64)),
    )
    cx, cy = centre
    rot = torch.tensor([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
    to_origin = torch.tensor(
        [[1.0, 0.0, -cx], [0.0, 1.0, -cy], [0.0, 0.0, 1.0]], dtype=torch.float64
    )
    back = torch.tensor([[1.0, 0.0, cx], [0.0, 1.0, cy], [0.0, 0.0, 1.0]], dtype=torch.float64)
    return back @ rot @ to_origin


def _pixel_rescale(factor_x: float, factor_y: float) -> Tensor:
    """Affine of an image resize by these factors, in pixel-centre coordinates."""
    return torch.tensor(
        [[factor_x, 0.0, (factor_x - 1) / 2], [0.0, factor_y, (factor_y - 1) / 2], [0.0, 0.0, 1.0]],
        dtype=torch.float64,
    )


def warp_image(image: Tensor, A: Tensor, size: int | tuple[int, int], fill: float = 0.0) -> Tensor:
    """Resample `image` (3, H, W) or (B, 3, H, W) so output pixel `A @ p` shows input pixel `p`.

    `size` is the output side (square) or `(height, width)`. Pixels from outside the input get
    `fill`. When the warp shrinks the image, it is first downsampled with an antialiasing filter,
    so a 4000-pixel photo cropped to 128 pixels does not alias.
    """
    batched = image.dim() == 4
    images = image if batched else image.unsqueeze(0)
    out_h, out_w = (size, size) if isinstance(size, int) else size
    A = A.to(torch.float64)
    shrink = float(torch.linalg.det(A[:2, :2]).abs().sqrt())
    if shrink < 0.5:
        in_h, in_w = images.shape[-2:]
        new_h, new_w = max(1, round(in_h * shrink * 2)), max(1, round(in_w * shrink * 2))
        images = F.interpolate(images, size=(new_h, new_w), mode="bilinear", antialias=True)
        A = A @ torch.linalg.inv(_pixel_rescale(new_w / in_w, new_h / in_h))
    in_h, in_w = images.shape[-2:]
    ys, xs = torch.meshgrid(
        torch.arange(out_h, dtype=torch.float64),
        torch.arange(out_w, dtype=torch.float64),
        indexing="ij",
    )
    grid_out = torch.stack([xs, ys], dim=-1).reshape(-1, 2)
    src = apply_affine(torch.linalg.inv(A), grid_out)
    # grid_sample with align_corners=False: -1 and 1 are the outer edges of the border pixels
    norm = torch.stack([(2 * src[:, 0] + 1) / in_w - 1, (2 * src[:, 1] + 1) / in_h - 1], dim=-1)
    grid = norm.reshape(1, out_h, out_w, 2).to(images.dtype).to(images.device)
    grid = grid.expand(images.shape[0], -1, -1, -1)
    shifted = images - fill
    out = F.grid_sample(shifted, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    out = out + fill
    return out if batched else out[0]
