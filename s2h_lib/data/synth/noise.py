"""A parametric model of a 2D hand detector's mistakes, so synthetic keypoints look detected.

Given the true 2D keypoints of a hand, `NoiseModel.apply` returns what a detector would report:

- each joint moves by Gaussian noise whose per-axis standard deviation is `joint_sigma[j]` times
  the hand size (the longer side of the keypoints' box, so the model holds at any image size),
  times `hidden_scale` for joints hidden behind the hand itself or an occluder;
- with probability `outlier_rate` a joint lands far off instead (std `outlier_sigma`);
- with probability `finger_swap_rate` two neighbouring fingers swap labels, with probability
  `flip_rate` the whole finger order is reversed (a right hand taken for a left one);
- with probability `hand_miss_rate` the hand is not found at all, and otherwise each joint is
  missed with probability `joint_miss_rate`: a missed joint is reported at (0, 0) with
  confidence 0, as OpenPose does (s2hand_method.md, 1.4);
- the confidence of a joint is sigmoid(confidence_offset - confidence_slope * r + h + n) with r
  its drawn error in hand sizes, h ~ N(0, confidence_hand_noise^2) shared by the joints of one
  hand (a detector is surer of some hands than of others) and n ~ N(0, confidence_noise^2) per
  joint: it falls as the error grows, but not exactly, like a real detector's score.

The parameters are fitted to a real detector on rendered hands by `data_scripts/
calibrate_noise.py`, which writes the package default `s2h_lib/assets/detector_noise.json`.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import numpy as np

from s2h_lib.atomic import atomic_write_bytes
from s2h_lib.hand.skeleton import NUM_KEYPOINTS
from s2h_lib.paths import ASSETS_DIR

DEFAULT_NOISE_PATH = ASSETS_DIR / "detector_noise.json"
# FreiHAND-order keypoints of each finger, thumb to pinky, base to tip.
FINGER_KEYPOINTS = tuple(tuple(range(1 + 4 * f, 5 + 4 * f)) for f in range(5))
MIN_HAND_SIZE_PX = 1.0


def _finger_permutation(order: tuple[int, ...]) -> np.ndarray:
    """Keypoint permutation that reports finger `order[f]`'s points under finger f's labels."""
    perm = np.arange(NUM_KEYPOINTS)
    for finger, source in enumerate(order):
        perm[list(FINGER_KEYPOINTS[finger])] = FINGER_KEYPOINTS[source]
    return perm


# A left/right confusion reads the fingers in reverse order: thumb <-> pinky, index <-> ring.
FLIP_PERMUTATION = _finger_permutation((4, 3, 2, 1, 0))
# Swaps of two neighbouring fingers: (thumb, index), (index, middle), ...
ADJACENT_SWAPS = tuple(
    _finger_permutation(tuple(f + 1 if f == a else f - 1 if f == a + 1 else f for f in range(5)))
    for a in range(4)
)


def hand_size(keypoints: np.ndarray) -> float:
    """Longer side of the box around `(21, 2)` keypoints, in pixels (at least 1)."""
    extent = keypoints.max(axis=0) - keypoints.min(axis=0)
    return max(float(extent.max()), MIN_HAND_SIZE_PX)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


@dataclass(frozen=True)
class NoiseParams:
    """Detector-noise parameters (see the module docstring); fractions are of the hand size."""

    joint_sigma: tuple[float, ...]
    hidden_scale: float = 1.0
    outlier_rate: float = 0.0
    outlier_sigma: float = 0.3
    joint_miss_rate: float = 0.0
    hand_miss_rate: float = 0.0
    finger_swap_rate: float = 0.0
    flip_rate: float = 0.0
    confidence_offset: float = 3.0
    confidence_slope: float = 20.0
    confidence_noise: float = 0.5
    confidence_hand_noise: float = 0.0
    source: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if len(self.joint_sigma) != NUM_KEYPOINTS:
            raise ValueError(
                f"joint_sigma needs {NUM_KEYPOINTS} values, got {len(self.joint_sigma)}"
            )
        spreads = (self.outlier_sigma, self.confidence_noise, self.confidence_hand_noise)
        if min(self.joint_sigma) < 0 or min(spreads) < 0:
            raise ValueError("noise standard deviations must be non-negative")
        rates = ("outlier_rate", "joint_miss_rate", "hand_miss_rate", "finger_swap_rate")
        for name in (*rates, "flip_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(
                    f"{name} must be a probability in [0, 1], got {getattr(self, name)}"
                )
        if self.finger_swap_rate + self.flip_rate > 1.0:
            raise ValueError("finger_swap_rate + flip_rate must not exceed 1")

    def to_dict(self) -> dict:
        values = asdict(self)
        values["joint_sigma"] = [float(s) for s in self.joint_sigma]
        return values

    @classmethod
    def from_dict(cls, values: dict) -> NoiseParams:
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown noise parameters: {', '.join(sorted(unknown))}")
        return cls(**{**values, "joint_sigma": tuple(float(s) for s in values["joint_sigma"])})

    def save(self, path: str | Path) -> None:
        atomic_write_bytes(path, (json.dumps(self.to_dict(), indent=2) + "\n").encode())

    @classmethod
    def load(cls, path: str | Path | None = None) -> NoiseParams:
        """Read parameters from a JSON file; None reads the package default."""
        path = Path(path) if path is not None else DEFAULT_NOISE_PATH
        if not path.is_file():
            raise FileNotFoundError(
                f"detector-noise parameters not found: {path}. The package default is written "
                "by `python data_scripts/calibrate_noise.py`."
            )
        return cls.from_dict(json.loads(path.read_text()))


class NoiseModel:
    """Turns true 2D keypoints into detector-like keypoints and confidences."""

    def __init__(self, params: NoiseParams) -> None:
        self.params = params
        self._sigma = np.asarray(params.joint_sigma, dtype=np.float64)

    def confidence(self, error: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Confidence `(21,)` of joints with errors `error` `(21,)` in hand sizes."""
        p = self.params
        shared = rng.normal(scale=p.confidence_hand_noise)
        noise = rng.normal(scale=p.confidence_noise, size=error.shape)
        return sigmoid(p.confidence_offset - p.confidence_slope * error + shared + noise)

    def _labels(self, rng: np.random.Generator) -> np.ndarray:
        """Which true keypoint is reported under each label: a flip, a swap, or none."""
        p = self.params
        draw, which = rng.uniform(), rng.integers(len(ADJACENT_SWAPS))
        if draw < p.flip_rate:
            return FLIP_PERMUTATION
        if draw < p.flip_rate + p.finger_swap_rate:
            return ADJACENT_SWAPS[which]
        return np.arange(NUM_KEYPOINTS)

    def apply(
        self, keypoints: np.ndarray, rng: np.random.Generator, visible: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Detector-like `(keypoints (21, 2), confidence (21,))` from true keypoints `(21, 2)`.

        `visible` `(21,)` bool marks the joints a camera sees (None: all); hidden ones get
        `hidden_scale` times the error. Always draws the same count of random numbers, so the
        stream stays aligned whatever happens to this hand.
        """
        p = self.params
        keypoints = np.asarray(keypoints, dtype=np.float64)
        size = hand_size(keypoints)
        visible = np.ones(NUM_KEYPOINTS, bool) if visible is None else np.asarray(visible, bool)
        hand_missed = rng.uniform() < p.hand_miss_rate
        labels = self._labels(rng)
        sigma = self._sigma * np.where(visible, 1.0, p.hidden_scale)
        outlier = rng.uniform(size=NUM_KEYPOINTS) < p.outlier_rate
        sigma = np.where(outlier, p.outlier_sigma, sigma) * size
        reported = keypoints[labels] + rng.normal(size=(NUM_KEYPOINTS, 2)) * sigma[:, None]
        error = np.linalg.norm(reported - keypoints, axis=1) / size
        confidence = self.confidence(error, rng)
        missed = (rng.uniform(size=NUM_KEYPOINTS) < p.joint_miss_rate) | hand_missed
        reported[missed] = 0.0
        confidence[missed] = 0.0
        return reported, confidence


# ---- calibration: measure a detector against the truth, fit the parameters ---------------------

RAYLEIGH_MEDIAN = math.sqrt(2 * math.log(2))  # median of |e| / sigma for 2D Gaussian e
OUTLIER_SIGMAS = 4.0  # errors beyond this many sigma count as outliers (Gaussian: 3e-4 of them)
RELABEL_MARGIN = 0.7  # a permutation explains a hand when its mean error is this much smaller
MIN_HIDDEN_SAMPLES = 20
CONFIDENCE_QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)
# S2HAND drops a FreiHAND sample's photometric terms when its least confident joint is at or
# below this (s2hand_method.md, 1.4), so the fit matches how often that happens.
S2HAND_CONFIDENCE_CUTOFF = 0.1
LOGIT_CLIP = 1e-3
SLOPE_GRID = np.linspace(0.0, 60.0, 21)
NOISE_GRID = np.linspace(0.0, 2.0, 9)


@dataclass(frozen=True)
class Detections:
    """A detector's output on N images next to the truth.

    truth (N, 21, 2) true keypoints; visible (N, 21) bool; found (N,) bool, a hand was
    reported; keypoints (N, 21, 2) and confidence (N, 21) of that hand (anything where not found).
    """

    truth: np.ndarray
    visible: np.ndarray
    found: np.ndarray
    keypoints: np.ndarray
    confidence: np.ndarray


@dataclass(frozen=True)
class DetectorStats:
    """What `measure` reads off `Detections` (rates are over found hands unless said).

    error: (M, 21) error of each correctly labelled found hand, in hand sizes; visible (M, 21);
    relabelled: 'flip' / 'swap' / '' per found hand; confidence (K, 21) of all found hands and
    error_all (K, 21) their errors (labels as reported).
    """

    hand_miss_rate: float
    joint_miss_rate: float
    flip_rate: float
    finger_swap_rate: float
    error: np.ndarray
    visible: np.ndarray
    error_all: np.ndarray
    confidence: np.ndarray

    def joint_sigma(self) -> np.ndarray:
        """(21,) robust per-axis error scale of visible joints: median |e| / Rayleigh median."""
        return (
            np.array([np.median(self.error[self.visible[:, j], j]) for j in range(NUM_KEYPOINTS)])
            / RAYLEIGH_MEDIAN
        )

    def outliers(self) -> np.ndarray:
        """(M, 21) bool: visible errors beyond OUTLIER_SIGMAS of their joint's scale."""
        return self.visible & (self.error > OUTLIER_SIGMAS * self.joint_sigma())

    def outlier_rate(self) -> float:
        """Fraction of visible joints of correctly labelled hands that are outliers."""
        return float(self.outliers().sum() / max(self.visible.sum(), 1))

    def hidden_scale(self) -> float:
        """Median error of hidden joints over that of visible ones, in units of joint_sigma."""
        scaled = self.error / self.joint_sigma()
        hidden = ~self.visible
        if hidden.sum() < MIN_HIDDEN_SAMPLES:
            return 1.0
        return float(np.median(scaled[hidden]) / np.median(scaled[self.visible]))

    def spearman(self) -> float:
        """Rank correlation of confidence and error over all joints of all found hands."""
        return _spearman(self.confidence, self.error_all)


def _relabelling(keypoints: np.ndarray, truth: np.ndarray) -> str:
    """'flip', 'swap' or '' : which finger relabelling best explains a detected hand."""
    size = hand_size(truth)
    plain = np.linalg.norm(keypoints - truth, axis=1).mean() / size
    candidates = {"flip": [FLIP_PERMUTATION], "swap": list(ADJACENT_SWAPS)}
    best, best_error = "", RELABEL_MARGIN * plain
    for kind, permutations in candidates.items():
        for perm in permutations:
            error = np.linalg.norm(keypoints - truth[perm], axis=1).mean() / size
            if error < best_error:
                best, best_error = kind, error
    return best


def measure(detections: Detections) -> DetectorStats:
    """Read a detector's error statistics off its detections (see `DetectorStats`)."""
    found = detections.found
    truth, keypoints = detections.truth[found], detections.keypoints[found]
    sizes = np.array([hand_size(t) for t in truth])
    kinds = np.array([_relabelling(k, t) for k, t in zip(keypoints, truth, strict=True)])
    error_all = np.linalg.norm(keypoints - truth, axis=-1) / sizes[:, None]
    plain = kinds == ""
    count = max(int(found.sum()), 1)
    return DetectorStats(
        hand_miss_rate=float(1.0 - found.mean()),
        joint_miss_rate=float((detections.confidence[found] == 0).mean()) if found.any() else 0.0,
        flip_rate=float((kinds == "flip").sum() / count),
        finger_swap_rate=float((kinds == "swap").sum() / count),
        error=error_all[plain],
        visible=detections.visible[found][plain],
        error_all=error_all,
        confidence=detections.confidence[found],
    )


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, LOGIT_CLIP, 1 - LOGIT_CLIP)
    return np.log(p / (1 - p))


@dataclass(frozen=True)
class ConfidenceTarget:
    """What a detector's confidences `(K, 21)` look like: quantiles at CONFIDENCE_QUANTILES,
    their Spearman correlation with the error, the spread of the per-hand mean, and the share
    of hands whose least confident joint is above S2HAND_CONFIDENCE_CUTOFF."""

    quantiles: np.ndarray
    spearman: float
    hand_spread: float
    above_cutoff: float

    @classmethod
    def of(cls, confidence: np.ndarray, error: np.ndarray) -> ConfidenceTarget:
        return cls(
            quantiles=np.quantile(confidence, CONFIDENCE_QUANTILES),
            spearman=_spearman(confidence, error),
            hand_spread=float(confidence.mean(axis=1).std()),
            above_cutoff=float((confidence.min(axis=1) > S2HAND_CONFIDENCE_CUTOFF).mean()),
        )

    def distance(self, other: ConfidenceTarget) -> float:
        return float(
            ((self.quantiles - other.quantiles) ** 2).sum()
            + (self.spearman - other.spearman) ** 2
            + (self.hand_spread - other.hand_spread) ** 2
            + (self.above_cutoff - other.above_cutoff) ** 2
        )


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import spearmanr

    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return 0.0
    return float(spearmanr(a.ravel(), b.ravel()).statistic)


def fit_confidence(
    error: np.ndarray, target: ConfidenceTarget, rng: np.random.Generator
) -> tuple[float, float, float, float]:
    """(offset, slope, joint noise, hand noise) of the confidence map (module docstring) whose
    confidences, for errors like `error` `(K, 21)`, look like `target`. Grid search over slope
    and the two noises; for each, the offset puts the median on the target's."""
    target_median = _logit(target.quantiles[CONFIDENCE_QUANTILES.index(0.5)])
    joint_z = rng.normal(size=error.shape)
    hand_z = rng.normal(size=(error.shape[0], 1))
    best, best_cost = (0.0, 0.0, 0.0, 0.0), np.inf
    for slope in SLOPE_GRID:
        for noise in NOISE_GRID:
            for hand_noise in NOISE_GRID:
                raw = -slope * error + noise * joint_z + hand_noise * hand_z
                offset = target_median - np.median(raw)
                simulated = ConfidenceTarget.of(sigmoid(offset + raw), error)
                cost = simulated.distance(target)
                if cost < best_cost:
                    best = (float(offset), float(slope), float(noise), float(hand_noise))
                    best_cost = cost
    return best


def _first_fit(stats: DetectorStats, rng: np.random.Generator) -> NoiseParams:
    """Parameters read directly off the measurements."""
    outliers = stats.outliers()
    outlier_errors = stats.error[outliers]
    target = ConfidenceTarget.of(stats.confidence, stats.error_all)
    offset, slope, noise, hand_noise = fit_confidence(stats.error_all, target, rng)
    return NoiseParams(
        joint_sigma=tuple(float(s) for s in stats.joint_sigma()),
        hidden_scale=stats.hidden_scale(),
        outlier_rate=stats.outlier_rate(),
        outlier_sigma=float(np.sqrt((outlier_errors**2).mean() / 2)) if outliers.any() else 0.3,
        joint_miss_rate=stats.joint_miss_rate,
        hand_miss_rate=stats.hand_miss_rate,
        finger_swap_rate=stats.finger_swap_rate,
        flip_rate=stats.flip_rate,
        confidence_offset=offset,
        confidence_slope=slope,
        confidence_noise=noise,
        confidence_hand_noise=hand_noise,
    )


def _ratio(measured: float, simulated: float) -> float:
    return measured / simulated if simulated > 0 else 1.0


def fit(
    detections: Detections,
    rng: np.random.Generator,
    rounds: int = 2,
    repeats: int = 5,
    source: str = "",
) -> NoiseParams:
    """Noise-model parameters that reproduce what `measure` reads off `detections`.

    The direct reading is biased (noise hides some finger swaps; swaps and outliers inflate the
    scales), so each round simulates the model on the same true keypoints (`repeats` draws
    each), measures the simulation the same way, and corrects every parameter by the ratio of
    measured to simulated value; the confidence map is refitted to the simulated errors.
    """
    stats = measure(detections)
    target = ConfidenceTarget.of(stats.confidence, stats.error_all)
    params = _first_fit(stats, rng)
    truth = np.repeat(detections.truth, repeats, axis=0)
    visible = np.repeat(detections.visible, repeats, axis=0)
    for _ in range(rounds):
        sim = measure(simulate(NoiseModel(params), truth, visible, rng))
        offset, slope, noise, hand_noise = fit_confidence(sim.error_all, target, rng)
        sigma = np.asarray(params.joint_sigma) * stats.joint_sigma() / sim.joint_sigma()
        params = replace(
            params,
            joint_sigma=tuple(float(s) for s in sigma),
            hidden_scale=params.hidden_scale * _ratio(stats.hidden_scale(), sim.hidden_scale()),
            outlier_rate=min(
                1.0, params.outlier_rate * _ratio(stats.outlier_rate(), sim.outlier_rate())
            ),
            finger_swap_rate=min(
                0.5, params.finger_swap_rate * _ratio(stats.finger_swap_rate, sim.finger_swap_rate)
            ),
            flip_rate=min(0.5, params.flip_rate * _ratio(stats.flip_rate, sim.flip_rate)),
            confidence_offset=offset,
            confidence_slope=slope,
            confidence_noise=noise,
            confidence_hand_noise=hand_noise,
        )
    return replace(params, source=source)


def simulate(
    model: NoiseModel, truth: np.ndarray, visible: np.ndarray, rng: np.random.Generator
) -> Detections:
    """What the noise model reports for the true keypoints `(N, 21, 2)` (to check a fit)."""
    drawn = [model.apply(t, rng, v) for t, v in zip(truth, visible, strict=True)]
    keypoints = np.stack([k for k, _ in drawn])
    confidence = np.stack([c for _, c in drawn])
    return Detections(truth, visible, confidence.max(axis=1) > 0, keypoints, confidence)
