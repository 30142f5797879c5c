"""Backgrounds of a synthetic hand photo, and picking one the hand stands out from.

Backgrounds mix real photos with procedural textures. The photos are the colour images shipped
inside scikit-image's `data` module (no download), plus its greyscale photos tinted with a random
colour; the procedural ones are gradients, smooth noise, stripes and checkers. A background is
drawn again while the hand would melt into it (`pick_background`), as a photographer would move:
the colour photos are mostly skin-like browns and oranges, on which mediapipe found the hand in
29-33% of renders against 70-80% on smooth procedural backgrounds before this check.

Images are float `(H, W, 3)` numpy arrays in [0, 1], drawn from a `numpy.random.Generator`.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from PIL import Image
from scipy.ndimage import binary_dilation, gaussian_filter
from skimage.color import rgb2lab

# Colour photos bundled in scikit-image (no pooch download) and greyscale ones to tint.
COLOUR_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "stereo_motorcycle")
GREY_PHOTOS = ("camera", "brick", "grass", "gravel", "coins", "clock", "page", "text", "moon")
BACKGROUND_KINDS = ("photo", "grey_photo", "gradient", "smooth_noise", "stripes", "checker")
BACKGROUND_WEIGHTS = (0.5, 0.15, 0.1, 0.12, 0.07, 0.06)
MIN_PHOTO_CROP = 0.25  # smallest crop side, as a fraction of the photo's shorter side
MAX_BACKGROUND_BLUR = 4.0  # depth of field, Gaussian sigma in pixels of a 128-pixel image

LUMA = np.array([0.299, 0.587, 0.114])  # Rec. 601 luma weights
MIN_CONTRAST = 0.15  # least luma difference between the hand's and the background's means


@functools.cache
def _photo(name: str) -> np.ndarray:
    """A scikit-image sample photo as float `(H, W, 3)` in [0, 1] (cached per process)."""
    import skimage.data

    image = getattr(skimage.data, name)()
    if isinstance(image, tuple):  # stereo pairs: keep the left view
        image = image[0]
    image = np.asarray(image, dtype=np.float64) / 255.0
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    return image[..., :3]


def check_backgrounds() -> tuple[str, ...]:
    """Load every background photo once; a clear error if scikit-image lacks one."""
    for name in COLOUR_PHOTOS + GREY_PHOTOS:
        try:
            _photo(name)
        except Exception as error:
            raise RuntimeError(
                f"background photo skimage.data.{name}() could not be loaded ({error}); "
                "these photos ship inside the scikit-image wheel: reinstall scikit-image"
            ) from error
    return COLOUR_PHOTOS + GREY_PHOTOS


def _resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resample float `(h, w, 3)` to `(height, width, 3)` with an antialiasing filter."""
    pil = Image.fromarray(np.round(image * 255).astype(np.uint8))
    return np.asarray(pil.resize((width, height), Image.Resampling.BILINEAR, reducing_gap=2.0))


def _photo_crop(rng: np.random.Generator, name: str, height: int, width: int) -> np.ndarray:
    photo = _photo(name)
    ph, pw = photo.shape[:2]
    side = rng.uniform(MIN_PHOTO_CROP, 1.0) * min(ph, pw)
    crop_h, crop_w = (int(side), int(side * width / height))
    crop_w = min(crop_w, pw)
    top = rng.integers(0, ph - crop_h + 1)
    left = rng.integers(0, pw - crop_w + 1)
    crop = photo[top : top + crop_h, left : left + crop_w]
    if rng.uniform() < 0.5:
        crop = crop[:, ::-1]
    crop = np.rot90(crop, k=rng.integers(0, 4)) if rng.uniform() < 0.3 else crop
    return _resize(crop, height, width) / 255.0


def random_colour(rng: np.random.Generator) -> np.ndarray:
    """A random RGB `(3,)`, away from pure black and white, of random gamma."""
    return rng.uniform(0.05, 0.95, size=3) ** rng.uniform(0.7, 1.5)


def _grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    ys, xs = np.mgrid[0:height, 0:width]
    return xs / max(width - 1, 1), ys / max(height - 1, 1)


def _gradient(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    xs, ys = _grid(height, width)
    angle = rng.uniform(0, 2 * math.pi)
    t = np.cos(angle) * xs + np.sin(angle) * ys
    t = (t - t.min()) / max(np.ptp(t), 1e-9)
    return (1 - t[..., None]) * random_colour(rng) + t[..., None] * random_colour(rng)


def _smooth_noise(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Coloured value noise: random colours on a coarse grid, blurred and upsampled."""
    cells = rng.integers(3, 12)
    coarse = rng.uniform(size=(cells, cells, 3)) * rng.uniform(0.4, 1.0) + rng.uniform(0, 0.4)
    return _resize(gaussian_filter(coarse, sigma=(0.6, 0.6, 0)), height, width) / 255.0


def _stripes(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    xs, ys = _grid(height, width)
    angle = rng.uniform(0, math.pi)
    frequency = rng.uniform(3, 15)
    wave = np.sin(2 * math.pi * frequency * (np.cos(angle) * xs + np.sin(angle) * ys))
    t = np.clip(0.5 + rng.uniform(0.5, 3.0) * wave, 0, 1)[..., None]
    return (1 - t) * random_colour(rng) + t * random_colour(rng)


def _checker(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    xs, ys = _grid(height, width)
    cells = rng.uniform(3, 10)
    t = ((np.floor(xs * cells) + np.floor(ys * cells)) % 2)[..., None]
    return (1 - t) * random_colour(rng) + t * random_colour(rng)


_PROCEDURAL = {
    "gradient": _gradient,
    "smooth_noise": _smooth_noise,
    "stripes": _stripes,
    "checker": _checker,
}


def sample_background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A random background `(height, width, 3)` float in [0, 1]: photo crop or procedural.

    Every kind gets a random exposure and a random depth-of-field blur.
    """
    kind = BACKGROUND_KINDS[rng.choice(len(BACKGROUND_KINDS), p=BACKGROUND_WEIGHTS)]
    if kind == "photo":
        image = _photo_crop(rng, COLOUR_PHOTOS[rng.integers(len(COLOUR_PHOTOS))], height, width)
    elif kind == "grey_photo":
        image = _photo_crop(rng, GREY_PHOTOS[rng.integers(len(GREY_PHOTOS))], height, width)
        image = image * random_colour(rng) * rng.uniform(1.0, 1.6)
    else:
        image = _PROCEDURAL[kind](rng, height, width)
    blur = rng.uniform(0, MAX_BACKGROUND_BLUR) * min(height, width) / 128
    image = gaussian_filter(image, sigma=(blur, blur, 0))
    return np.clip(image * rng.uniform(0.6, 1.2), 0.0, 1.0)


def ensure_contrast(background: np.ndarray, luma: float) -> np.ndarray:
    """Brighten or darken `background` `(H, W, 3)` so its mean luma differs from `luma` by at
    least MIN_CONTRAST: the hand must stand out (a photographer picks such a backdrop)."""
    current = float((background @ LUMA).mean())
    if abs(current - luma) >= MIN_CONTRAST:
        return background
    target = luma + MIN_CONTRAST if luma < 0.5 else luma - MIN_CONTRAST
    return np.clip(background * target / max(current, 1e-3), 0.0, 1.0)


MIN_COLOUR_CONTRAST = 30.0  # CIELAB distance between the hand's and its surroundings' mean colours
BACKGROUND_TRIES = 6
SURROUND_WIDTH = 0.1  # the ring around the hand where the contrast is measured, x image side


def colour_contrast(hand_rgb: np.ndarray, hand_alpha: np.ndarray, background: np.ndarray) -> float:
    """CIELAB distance (Delta E 1976) between the hand's mean colour and the background's mean
    colour in a ring around it.

    hand_rgb: (H, W, 3) colour premultiplied by hand_alpha (H, W) coverage; background (H, W, 3).
    Infinite when no pixel is at least half covered (nothing to stand out)."""
    mask = hand_alpha >= 0.5
    if not mask.any():
        return math.inf
    width = max(1, round(SURROUND_WIDTH * max(mask.shape)))
    ring = binary_dilation(mask, iterations=width) & ~mask
    if not ring.any():
        return math.inf
    hand = (hand_rgb[mask] / hand_alpha[mask][:, None]).mean(axis=0)
    surround = background[ring].mean(axis=0)
    return float(np.linalg.norm(rgb2lab(np.clip(hand, 0, 1)) - rgb2lab(surround)))


def pick_background(
    rng: np.random.Generator,
    hand_rgb: np.ndarray,
    hand_alpha: np.ndarray,
    luma: float,
    size: tuple[int, int],
    offset: tuple[int, int] = (0, 0),
) -> np.ndarray:
    """A background `size` = (height, width) that the hand stands out from.

    Each candidate gets `ensure_contrast`; one whose colour contrast with the hand (seen
    through the window at `offset` = (top, left), the shape of hand_alpha) reaches
    MIN_COLOUR_CONTRAST is taken, else the most contrasting of BACKGROUND_TRIES candidates.
    """
    height, width = hand_alpha.shape
    top, left = offset
    best, best_contrast = None, -math.inf
    for _ in range(BACKGROUND_TRIES):
        candidate = ensure_contrast(sample_background(rng, *size), luma)
        window = candidate[top : top + height, left : left + width]
        contrast = colour_contrast(hand_rgb, hand_alpha, window)
        if contrast > best_contrast:
            best, best_contrast = candidate, contrast
        if contrast >= MIN_COLOUR_CONTRAST:
            break
    return best
