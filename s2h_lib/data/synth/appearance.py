"""How a synthetic hand looks in its photo: skin colours, lights, the camera's exposure and noise.

Everything here is drawn from a `numpy.random.Generator`, so one seed gives one look. Images are
float `(H, W, 3)` numpy arrays in [0, 1] (channels last, as photo libraries hand them over); the
renderer's side (`generator.py`) converts at the boundary.

The backgrounds (`backgrounds`) and the occluders (`occluders`) are drawn the same way.
"""

from __future__ import annotations

import colorsys
import math
from dataclasses import dataclass

import numpy as np

from s2h_lib.data.synth.backgrounds import LUMA

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


def hand_luma(skin: SkinPattern, lights: LightSetup) -> float:
    """Rough mean luma of the lit skin: half the directional light reaches an average face."""
    ambient, directional = lights.vector[0], lights.vector[1]
    light = ambient * lights.vector[2:5] + 0.5 * directional * lights.vector[5:8]
    return float(LUMA @ (skin.base * light))


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
