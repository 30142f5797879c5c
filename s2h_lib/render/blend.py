"""Per-pixel reductions of the pixel-face pairs: soft silhouette and soft colour.

Both are scatter reductions over the pairs (memory grows with the pairs, not with H·W·F):
- silhouette (SoftRas / pytorch3d): alpha = 1 - prod_j (1 - p_j), p_j = sigmoid(-signed_d²/sigma),
  summed as log(1 - p_j) = logsigmoid(signed_d²/sigma), which stays finite deep inside faces;
- colour: softmax over the pixel's faces weighted by p_j exp(-(z_j - z_min) / gamma), plus a
  background term at depth zfar, shifted by the nearest depth so no exponent is positive.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from s2h_lib.render.rasterize import Fragments


def soft_alpha(fragments: Fragments, sigma: float, num_pixels: int) -> Tensor:
    """Soft silhouette `(N,)` of the N pixels; sigma in squared pixels."""
    log_transmittance = F.logsigmoid(fragments.signed_dist_sq / sigma)
    total = log_transmittance.new_zeros(num_pixels).index_add(0, fragments.pixel, log_transmittance)
    return -torch.expm1(total)


def soft_rgb(
    fragments: Fragments,
    colors: Tensor,
    background: Tensor,
    sigma: float,
    gamma: float,
    zfar: float,
) -> Tensor:
    """Soft colour `(N, 3)` from pair colours `(P, 3)` and a background `(N, 3)`.

    The shift by the nearest depth cancels between numerator and denominator, so it is taken
    without gradient.
    """
    num_pixels = background.shape[0]
    probability = torch.sigmoid(-fragments.signed_dist_sq / sigma)
    with torch.no_grad():
        nearest = fragments.depth.new_full((num_pixels,), zfar)
        nearest = nearest.scatter_reduce(0, fragments.pixel, fragments.depth, "amin")
    weight = probability * torch.exp((nearest[fragments.pixel] - fragments.depth) / gamma)
    background_weight = torch.exp((nearest - zfar) / gamma).unsqueeze(-1)
    numerator = background.new_zeros(num_pixels, 3).index_add(
        0, fragments.pixel, weight.unsqueeze(-1) * colors
    )
    denominator = weight.new_zeros(num_pixels).index_add(0, fragments.pixel, weight)
    return (numerator + background_weight * background) / (
        denominator.unsqueeze(-1) + background_weight
    )
