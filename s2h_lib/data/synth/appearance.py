"""How a synthetic hand photo looks: skin colours, lights, backgrounds, occluders, camera noise.

Everything here is drawn from a `numpy.random.Generator`, so one seed gives one look. Images are
float `(H, W, 3)` numpy arrays in [0, 1] (channels last, as photo libraries hand them over); the
renderer's side (`generator.py`) converts at the boundary.

Backgrounds mix real photos with procedural textures. The photos are the colour images shipped
inside scikit-image's `data` module (no download), plus its greyscale photos tinted with a random
colour; the procedural ones are gradients, smooth noise, stripes and checkers. A background is
drawn again while the hand would melt into it (`pick_background`), as a photographer would move:
the colour photos are mostly skin-like browns and oranges, on which mediapipe found the hand in
29-33% of renders against 70-80% on smooth procedural backgrounds before this check.
"""

from __future__ import annotations

import colorsys
import functools
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy.ndimage import binary_dilation, gaussian_filter
from skimage.color import rgb2lab

# Monk Skin Tone scale (Google, 2022): 10 reference swatches from lightest to darkest, sRGB.
# A base tone is drawn between two neighbouring swatches.
MONK_SKIN_TONES = (
    np.array(
        [
            (0xF6, 0xED, 0xE4),
            (0xF3, 0xE7, 0xDB),
            (0xF7, 0xEA, 0xD0),
            (0xEA, 0xDA, 0xBA),
            (0xD7, 0xBD, 0x96),
            (0xA0, 0x7E, 0x56),
            (0x82, 0x5C, 0x43),
            (0x60, 0x41, 0x34),
            (0x3A, 0x31, 0x2A),
            (0x29, 0x24, 0x20),
        ],
        dtype=np.float64,
    )
    / 255.0
)
# The swatches are printed under flat light; living skin in photos is redder and more saturated
# (blood under the surface): the hue moves towards red, the saturation is scaled up and kept
# above a floor, and the value is scaled down a little.
SKIN_HUE_SHIFT = (0.01, 0.04)  # fraction of the colour circle
SKIN_SATURATION_SCALE = (1.1, 1.5)
SKIN_SATURATION_FLOOR = (0.25, 0.4)
SKIN_SATURATION_MAX = 0.65
SKIN_VALUE_SCALE = (0.85, 1.0)
# Palms and the pads of the fingers carry far less melanin than the back of the hand.
PALM_LIGHTENING = (0.15, 0.45)
PALM_TINT = np.array([0.93, 0.72, 0.66])
# Low-frequency skin variation: a few plane waves over the rest-pose surface.
SKIN_WAVES = 5
SKIN_WAVELENGTH_M = (0.02, 0.08)
SKIN_BRIGHTNESS_VARIATION = 0.07
SKIN_REDNESS_VARIATION = 0.04

# Colour photos bundled in scikit-image (no pooch download) and greyscale ones to tint.
COLOUR_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "stereo_motorcycle")
GREY_PHOTOS = ("camera", "brick", "grass", "gravel", "coins", "clock", "page", "text", "moon")
BACKGROUND_KINDS = ("photo", "grey_photo", "gradient", "smooth_noise", "stripes", "checker")
BACKGROUND_WEIGHTS = (0.5, 0.15, 0.1, 0.12, 0.07, 0.06)
MIN_PHOTO_CROP = 0.25  # smallest crop side, as a fraction of the photo's shorter side
MAX_BACKGROUND_BLUR = 4.0  # depth of field, Gaussian sigma in pixels of a 128-pixel image

OCCLUDER_PROBABILITY = 0.3
OCCLUDER_SECOND_PROBABILITY = 0.25
OCCLUDER_RADIUS = (0.06, 0.16)  # fraction of the image side
OCCLUDER_HARMONICS = 4
OCCLUDER_WOBBLE = 0.4  # largest amplitude of the first harmonic, fraction of the radius
OCCLUDER_SHADING = 0.3

AMBIENT_INTENSITY = (0.45, 0.75)
DIRECTIONAL_INTENSITY = (0.3, 0.8)
SENSOR_NOISE = (0.0, 0.025)  # standard deviation of additive pixel noise
EXPOSURE = (0.8, 1.15)
METERED_LUMA = 0.3
MAX_METERING_GAIN = 2.5


def sample_skin_tone(rng: np.random.Generator) -> np.ndarray:
    """A base skin colour `(3,)`: a point between two neighbouring Monk swatches, made to look
    like skin in a photo (see SKIN_HUE_SHIFT)."""
    low = rng.integers(0, len(MONK_SKIN_TONES) - 1)
    t = rng.uniform()
    tone = (1 - t) * MONK_SKIN_TONES[low] + t * MONK_SKIN_TONES[low + 1]
    hue, saturation, value = colorsys.rgb_to_hsv(*tone)
    hue = (hue - rng.uniform(*SKIN_HUE_SHIFT)) % 1.0
    saturation = max(
        saturation * rng.uniform(*SKIN_SATURATION_SCALE), rng.uniform(*SKIN_SATURATION_FLOOR)
    )
    value *= rng.uniform(*SKIN_VALUE_SCALE)
    return np.array(colorsys.hsv_to_rgb(hue, min(saturation, SKIN_SATURATION_MAX), value))


@dataclass(frozen=True)
class SkinPattern:
    """A skin tone plus its smooth variation over the hand; applies to any pose of one mesh.

    base: (3,) RGB; palm_lightening: how far the palm side moves towards a pale pink;
    wave_vectors (W, 3) 1/metres, wave_phases (W,), wave_weights (W, 2): plane waves whose sum
    modulates brightness (column 0) and redness (column 1).
    """

    base: np.ndarray
    palm_lightening: float
    wave_vectors: np.ndarray
    wave_phases: np.ndarray
    wave_weights: np.ndarray

    def vertex_colours(self, rest_verts: np.ndarray, rest_normals: np.ndarray) -> np.ndarray:
        """Per-vertex RGB `(V, 3)` from the rest-pose vertices and unit normals `(V, 3)`.

        The palm is the -y side of the rest hand (hand_poses.py), so a vertex whose normal
        points along -y gets the full palm lightening.
        """
        waves = np.cos(rest_verts @ self.wave_vectors.T + self.wave_phases)  # (V, W)
        brightness, redness = (waves @ self.wave_weights).T
        palm = np.clip(-rest_normals[:, 1], 0.0, 1.0) ** 2 * self.palm_lightening
        colour = (1 - palm[:, None]) * self.base + palm[:, None] * PALM_TINT * self.base.max()
        colour = colour * (1 + brightness[:, None])
        colour[:, 0] *= 1 + redness
        return np.clip(colour, 0.0, 1.0)


def sample_skin(rng: np.random.Generator) -> SkinPattern:
    """A random skin: base tone, palm lightening and low-frequency variation."""
    base = sample_skin_tone(rng)
    directions = rng.normal(size=(SKIN_WAVES, 3))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    wavelengths = rng.uniform(*SKIN_WAVELENGTH_M, size=SKIN_WAVES)
    amplitude = np.array([SKIN_BRIGHTNESS_VARIATION, SKIN_REDNESS_VARIATION]) / math.sqrt(
        SKIN_WAVES / 2
    )
    return SkinPattern(
        base=base,
        palm_lightening=float(rng.uniform(*PALM_LIGHTENING)),
        wave_vectors=directions * (2 * math.pi / wavelengths)[:, None],
        wave_phases=rng.uniform(0, 2 * math.pi, size=SKIN_WAVES),
        wave_weights=rng.normal(size=(SKIN_WAVES, 2)) * amplitude,
    )


# ---- lights ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LightSetup:
    """One ambient and one directional light (the renderer's `Lights`, as plain numbers).

    vector: (11,) S2HAND's light vector: ambient intensity, directional intensity, ambient RGB,
    directional RGB, direction of travel (camera frame; +z shines away from the camera).
    specular: strength of the highlight, shininess its Phong exponent.
    """

    vector: np.ndarray
    specular: float
    shininess: float


def _light_colour(rng: np.random.Generator) -> np.ndarray:
    """White with a random colour temperature, from warm tungsten to cool shade."""
    warmth = rng.uniform(-1.0, 1.0)
    warm, cool = np.array([1.0, 0.86, 0.72]), np.array([0.82, 0.9, 1.0])
    colour = np.where(warmth > 0, 1 + warmth * (warm - 1), 1 - warmth * (cool - 1))
    return colour * rng.uniform(0.95, 1.05, size=3)


def sample_lights(rng: np.random.Generator) -> LightSetup:
    """Random light: the directional light always reaches the side the camera sees."""
    ambient = rng.uniform(*AMBIENT_INTENSITY)
    directional = rng.uniform(*DIRECTIONAL_INTENSITY)
    theta = math.acos(rng.uniform(0.25, 1.0))  # angle from the viewing axis
    phi = rng.uniform(0, 2 * math.pi)
    direction = np.array([math.sin(theta) * math.cos(phi), math.sin(theta) * math.sin(phi)])
    direction = np.append(direction, math.cos(theta))
    vector = np.concatenate(
        [[ambient, directional], _light_colour(rng), _light_colour(rng), direction]
    )
    return LightSetup(vector, specular=float(rng.uniform(0.0, 0.2)), shininess=20.0)


# ---- backgrounds -------------------------------------------------------------------------------


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


def _random_colour(rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(0.05, 0.95, size=3) ** rng.uniform(0.7, 1.5)


def _grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    ys, xs = np.mgrid[0:height, 0:width]
    return xs / max(width - 1, 1), ys / max(height - 1, 1)


def _gradient(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    xs, ys = _grid(height, width)
    angle = rng.uniform(0, 2 * math.pi)
    t = np.cos(angle) * xs + np.sin(angle) * ys
    t = (t - t.min()) / max(np.ptp(t), 1e-9)
    return (1 - t[..., None]) * _random_colour(rng) + t[..., None] * _random_colour(rng)


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
    return (1 - t) * _random_colour(rng) + t * _random_colour(rng)


def _checker(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    xs, ys = _grid(height, width)
    cells = rng.uniform(3, 10)
    t = ((np.floor(xs * cells) + np.floor(ys * cells)) % 2)[..., None]
    return (1 - t) * _random_colour(rng) + t * _random_colour(rng)


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
        image = image * _random_colour(rng) * rng.uniform(1.0, 1.6)
    else:
        image = _PROCEDURAL[kind](rng, height, width)
    blur = rng.uniform(0, MAX_BACKGROUND_BLUR) * min(height, width) / 128
    image = gaussian_filter(image, sigma=(blur, blur, 0))
    return np.clip(image * rng.uniform(0.6, 1.2), 0.0, 1.0)


LUMA = np.array([0.299, 0.587, 0.114])  # Rec. 601 luma weights
MIN_CONTRAST = 0.15  # least luma difference between the hand's and the background's means


def hand_luma(skin: SkinPattern, lights: LightSetup) -> float:
    """Rough mean luma of the lit skin: half the directional light reaches an average face."""
    ambient, directional = lights.vector[0], lights.vector[1]
    light = ambient * lights.vector[2:5] + 0.5 * directional * lights.vector[5:8]
    return float(LUMA @ (skin.base * light))


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


# ---- occluders ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Blob:
    """A random smooth closed shape in front of the hand, painted with a texture.

    centre (2,) pixels; radius pixels; harmonics (K, 2) amplitude and phase of the radial
    wobble; fill (H, W, 3) the texture seen through the shape (a flat colour, a photo crop or a
    procedural pattern) with a soft shading across it.
    """

    centre: np.ndarray
    radius: float
    harmonics: np.ndarray
    fill: np.ndarray


def _blob_fill(
    rng: np.random.Generator, height: int, width: int, centre: np.ndarray, radius: float
) -> np.ndarray:
    """Texture `(height, width, 3)` of an occluder: flat colour or a background-like pattern,
    brighter on one side as if lit."""
    if rng.uniform() < 0.5:
        fill = np.broadcast_to(_random_colour(rng), (height, width, 3))
    else:
        fill = sample_background(rng, height, width)
    angle = rng.uniform(0, 2 * math.pi)
    ys, xs = np.mgrid[0:height, 0:width]
    along = (xs - centre[0]) * math.cos(angle) + (ys - centre[1]) * math.sin(angle)
    shade = 1 + OCCLUDER_SHADING * np.clip(along / radius, -1, 1)
    return np.clip(fill * shade[..., None], 0.0, 1.0)


def sample_occluders(
    rng: np.random.Generator,
    image_size: int,
    keypoints: np.ndarray,
    probability: float = OCCLUDER_PROBABILITY,
) -> list[Blob]:
    """Zero, one or two blobs, each centred near a random keypoint of `(21, 2)` so it hides
    some joints."""
    if rng.uniform() >= probability:
        return []
    blobs = []
    for _ in range(1 + int(rng.uniform() < OCCLUDER_SECOND_PROBABILITY)):
        anchor = keypoints[rng.integers(len(keypoints))]
        radius = rng.uniform(*OCCLUDER_RADIUS) * image_size
        orders = np.arange(1, OCCLUDER_HARMONICS + 1)
        amplitudes = rng.uniform(0, OCCLUDER_WOBBLE, size=OCCLUDER_HARMONICS) / orders
        phases = rng.uniform(0, 2 * math.pi, size=OCCLUDER_HARMONICS)
        centre = anchor + rng.normal(scale=0.5 * radius, size=2)
        blobs.append(
            Blob(
                centre=centre,
                radius=radius,
                harmonics=np.stack([amplitudes, phases], axis=1),
                fill=_blob_fill(rng, image_size, image_size, centre, radius),
            )
        )
    return blobs


def blob_coverage(blob: Blob, height: int, width: int) -> np.ndarray:
    """Antialiased coverage `(height, width)` in [0, 1] of one blob (one-pixel soft edge)."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    dx, dy = xs - blob.centre[0], ys - blob.centre[1]
    theta = np.arctan2(dy, dx)
    orders = np.arange(1, len(blob.harmonics) + 1)
    phases = orders * theta[..., None] + blob.harmonics[:, 1]
    boundary = blob.radius * (1 + (blob.harmonics[:, 0] * np.cos(phases)).sum(-1))
    return np.clip(boundary - np.hypot(dx, dy) + 0.5, 0.0, 1.0)


def paint_occluders(image: np.ndarray, blobs: list[Blob]) -> tuple[np.ndarray, np.ndarray]:
    """Draw `blobs` over `image` `(H, W, 3)`; returns the new image and their union coverage
    `(H, W)` in [0, 1]."""
    height, width = image.shape[:2]
    covered = np.zeros((height, width))
    for blob in blobs:
        coverage = blob_coverage(blob, height, width)[..., None]
        image = (1 - coverage) * image + coverage * blob.fill
        covered = np.maximum(covered, coverage[..., 0])
    return image, covered


# ---- camera ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CameraLook:
    """Whole-image effects of a cheap camera: exposure error (a gain on top of metering for
    the hand) and additive sensor noise."""

    exposure: float
    noise_std: float


def sample_camera_look(rng: np.random.Generator) -> CameraLook:
    return CameraLook(float(rng.uniform(*EXPOSURE)), float(rng.uniform(*SENSOR_NOISE)))


def metering_gain(luma: float) -> float:
    """Gain a camera exposing for the hand applies: lifts dark skin towards METERED_LUMA (the
    background brightens with it), never darkens."""
    return float(np.clip(METERED_LUMA / max(luma, 1e-3), 1.0, MAX_METERING_GAIN))


def apply_camera_look(
    image: np.ndarray, look: CameraLook, luma: float, rng: np.random.Generator
) -> np.ndarray:
    """Exposure for a hand of mean luma `luma`, then per-pixel noise (fresh from `rng` every
    frame), clipped to [0, 1]."""
    gain = look.exposure * metering_gain(luma)
    noisy = image * gain + rng.normal(scale=look.noise_std, size=image.shape)
    return np.clip(noisy, 0.0, 1.0)
