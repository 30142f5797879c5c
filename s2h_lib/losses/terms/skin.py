"""Skin terms: the posed surface's smoothness (cotangent Laplacian), the shape prior, and the
appearance of the rendered, textured and lit skin against the image (photometric L1, SSIM, mean
colour, texture outliers). Images are (B, 3, H, W) in [0, 1]."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from s2h_lib.hand.laplacian import apply_laplacian, cotangent_laplacian
from s2h_lib.losses.terms.reduce import WEIGHT_SUM_EPS, weighted_mean

# A sample whose least confident joint is at or below this gets no photometric weight.
MIN_PHOTOMETRIC_CONFIDENCE = 0.1
OUTLIER_SIGMAS = 2.0
SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_C1 = 0.01**2
SSIM_C2 = 0.03**2


def laplacian_loss(verts: Tensor, faces: Tensor) -> Tensor:
    """Smoothness of the posed mesh (`triangle`): L = mean_{b, i} ||(L_b V_b)_i||.

    verts: (B, V, 3) metres; faces: (F, 3). L_b is the cotangent Laplacian with weights from
    sample b's current geometry, held constant (`laplacian.py`). The original used the first
    sample's weights for the whole batch and a scipy matrix on the CPU.
    """
    laplacian = cotangent_laplacian(verts, faces)
    return torch.linalg.vector_norm(apply_laplacian(laplacian, verts), dim=-1).mean()


def shape_prior_loss(betas: Tensor) -> Tensor:
    """Shape prior (`mshape`): L = mean beta^2 over (B, 10). Always 0 in the released code,
    whose betas are forced to 0; it matters once the shape is regressed."""
    return betas.square().mean()


def photometric_sample_weights(
    confidence: Tensor, min_confidence: float = MIN_PHOTOMETRIC_CONFIDENCE
) -> Tensor:
    """Per-sample weight w_b of the appearance terms: mean_j c_bj, 0 if min_j c_bj <= cut-off.

    confidence: (..., 21) -> (...). The original's FreiHAND factor 1.1 (every sample it used)
    cancels in the w^2-normalised sums, so it is left out. A cut-off of 0 keeps every sample
    with all joints detected (HO3D's rule had none).
    """
    mean = confidence.mean(-1)
    return torch.where(confidence.amin(-1) > min_confidence, mean, torch.zeros_like(mean))


def _sample_weighted(per_sample: Tensor, sample_weights: Tensor) -> Tensor:
    """sum_b w_b^2 L_b / sum_b w_b^2: the original's batch reduction of appearance terms."""
    return weighted_mean(per_sample, sample_weights.square())


def composite_over_image(rgb: Tensor, alpha: Tensor, image: Tensor) -> Tensor:
    """The render laid over the input photo with its own silhouette: alpha rgb + (1 - alpha) I.

    rgb, image: (B, 3, H, W); alpha: (B, 1, H, W). Where the mesh does not reach, alpha = 0 and
    the composite *is* the input, so the background is identical on both sides of every
    photometric comparison.
    """
    return alpha * rgb + (1.0 - alpha) * image


def photometric_l1_loss(
    rgb: Tensor, alpha: Tensor, image: Tensor, sample_weights: Tensor
) -> Tensor:
    """Photometric L1 (`texture`) between the composite render and the input image.

        C = alpha R + (1 - alpha) I,  so  |C - I| = alpha |R - I|
        L_b = sum_pix |C_b - I_b| / (3 H W)
        L = sum_b w_b^2 L_b / sum_b w_b^2

    rgb, image: (B, 3, H, W); alpha: (B, 1, H, W) soft silhouette; sample_weights: (B,).

    Why the composite: the original compared a render on a white background with the image
    masked to black by the render's own hard silhouette, so every background pixel cost about
    1 per channel and covering it cost less: the silhouette was rewarded for growing. Laying
    the render over the image masks both sides with the same (soft) alpha: background pixels
    cost exactly 0 whatever they contain, a silhouette edge over background that does not look
    like the hand is pulled back, and nothing is gained by covering more of the picture.
    Nothing pulls the silhouette over hand pixels it misses either (that would need a hand
    mask; the original's was the render's own), so the keypoint terms place and size the mesh.
    The normaliser stays the original's 3 H W, so the hand-pixel part keeps the original's
    scale. Computed as alpha (R - I), so a render equal to the image gives exactly 0.
    """
    per_sample = (alpha * (rgb - image)).abs().mean((1, 2, 3))
    return _sample_weighted(per_sample, sample_weights)


def _gaussian_window(like: Tensor, size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> Tensor:
    """Separable normalised Gaussian (size,) in `like`'s dtype and device."""
    offsets = torch.arange(size, dtype=like.dtype, device=like.device) - (size - 1) / 2.0
    window = torch.exp(-offsets.square() / (2.0 * sigma**2))
    return window / window.sum()


def _blur(images: Tensor, window: Tensor) -> Tensor:
    """Valid (unpadded) separable Gaussian blur of (B, C, H, W), channel by channel."""
    channels = images.shape[1]
    rows = window.view(1, 1, 1, -1).expand(channels, 1, 1, -1)
    cols = window.view(1, 1, -1, 1).expand(channels, 1, -1, 1)
    return F.conv2d(F.conv2d(images, rows, groups=channels), cols, groups=channels)


def ssim_map(x: Tensor, y: Tensor) -> Tensor:
    """Structural similarity of (B, C, H, W) images in [0, 1], per pixel of the valid region.

    Gaussian window 11 px, sigma 1.5, C1 = 0.01^2, C2 = 0.03^2 (Wang et al. 2004). Returns
    (B, C, H - 10, W - 10); 1 where the two images agree.
    """
    if min(x.shape[-2:]) < SSIM_WINDOW:
        raise ValueError(f"SSIM needs images of at least {SSIM_WINDOW} px, got {tuple(x.shape)}")
    window = _gaussian_window(x)
    mu_x, mu_y = _blur(x, window), _blur(y, window)
    var_x = _blur(x * x, window) - mu_x.square()
    var_y = _blur(y * y, window) - mu_y.square()
    cov = _blur(x * y, window) - mu_x * mu_y
    numerator = (2.0 * mu_x * mu_y + SSIM_C1) * (2.0 * cov + SSIM_C2)
    denominator = (mu_x.square() + mu_y.square() + SSIM_C1) * (var_x + var_y + SSIM_C2)
    return numerator / denominator


def photometric_ssim_loss(
    rgb: Tensor, alpha: Tensor, image: Tensor, sample_weights: Tensor
) -> Tensor:
    """Structural dissimilarity (1 - SSIM) / 2 of the composite render and the image.

    Same inputs and batch reduction as `photometric_l1_loss`. A window wholly outside the
    silhouette costs 0; one straddling the silhouette edge has the same background on both
    sides, but SSIM's local statistics mix it with the hand pixels there. The
    paper reports "L1 + SSIM"; the released code computed an SSIM but never added it (its
    option default was 1e-3), so this term is off by default.
    """
    similarity = ssim_map(composite_over_image(rgb, alpha, image), image)
    per_sample = ((1.0 - similarity) / 2.0).mean((1, 2, 3))
    return _sample_weighted(per_sample, sample_weights)


def mean_colour_loss(rgb: Tensor, alpha: Tensor, image: Tensor, sample_weights: Tensor) -> Tensor:
    """The rendered hand's mean colour vs the image's mean colour under the silhouette (`mrgb`).

        m^R_bc = sum_pix alpha R / sum_pix alpha,  m^I_bc = sum_pix alpha I / sum_pix alpha
        L_b = mean_c |m^R_bc - m^I_bc|,  L = sum_b w_b^2 L_b / sum_b w_b^2

    rgb, image: (B, 3, H, W); alpha: (B, 1, H, W); sample_weights: (B,). The original averaged
    the white-background render and the masked image over all pixels and channels, so it mostly
    compared background brightness; here both means are over the hand, per channel.
    """
    area = alpha.sum((2, 3)).clamp_min(WEIGHT_SUM_EPS)
    difference = (alpha * (rgb - image)).sum((2, 3)) / area
    return _sample_weighted(difference.abs().mean(-1), sample_weights)


def texture_outlier_penalty(texture_raw: Tensor, n_sigma: float = OUTLIER_SIGMAS) -> Tensor:
    """Per-sample texture outlier penalty: (B, N, 3) colours before squashing -> (B,).

    For each sample and channel, mu and sigma (population) over the N colours; an entry costs
    |t - mu| when it lies more than n_sigma sigma from mu, else 0; averaged over N x 3. Strictly
    per sample: the original's broadcasting compared every sample's colours with each sample's
    mu and sigma (a B x B mix).
    """
    mean = texture_raw.mean(1, keepdim=True)
    spread = texture_raw.detach().std(1, correction=0, keepdim=True)
    deviation = (texture_raw - mean).abs()
    outside = deviation.detach() > n_sigma * spread
    return (deviation * outside).mean((1, 2))


def texture_outlier_loss(
    texture_raw: Tensor, sample_weights: Tensor, n_sigma: float = OUTLIER_SIGMAS
) -> Tensor:
    """Texture outlier regulariser (`mtex`): sum_b w_b^2 pen_b / sum_b w_b^2.

    texture_raw: (B, N, 3); sample_weights: (B,). The original's numerator used 2 w_b instead of
    w_b^2 (a typo); this uses w^2 like the other appearance terms.
    """
    return _sample_weighted(texture_outlier_penalty(texture_raw, n_sigma), sample_weights)
