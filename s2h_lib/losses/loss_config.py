"""Loss weights, ablation groups and the stage presets of the staged schedule.

Term names and their counterparts in the original code (s2hand_method.md, sections 3 and 4):

| term                | original          | default weight                                   |
|---------------------|-------------------|--------------------------------------------------|
| keypoints_2d        | open_2dj          | 1e-3                                             |
| bone_direction      | open_bone_direc   | 0.1                                              |
| heatmap_2d          | hm_integral       | 1e-3                                             |
| consistency_2d3d    | kp_cons           | 2e-4                                             |
| scale_prior         | mscale            | 0.1                                              |
| joint_limits        | tsa_poses         | 0.1                                              |
| laplacian           | triangle          | 0.1                                              |
| shape_prior         | mshape            | 1e-2                                             |
| photometric         | texture           | 5e-3                                             |
| photometric_ssim    | ssim_tex          | 0 (computed, never added by the original; 1e-3)  |
| mean_colour         | mrgb              | 1e-3                                             |
| texture_outliers    | mtex              | 5e-3                                             |
| image_pose          | -                 | 1 per metre of mean joint distance: only the     |
|                     |                   | image pose head learns from it                   |
| joints_3d           | joint_3d          | 100 (supervision="full" only)                    |
| verts_3d            | -                 | 100 (supervision="full" only; same scale)        |
| motion_smooth       | - (video)         | 0.5: 5 mm of jitter costs as much as 5 px of     |
|                     |                   | reprojection error (0.5 x 5e-3 = 1e-3 x 2.5)     |
| motion_2d           | - (video)         | 1e-3: pixels and Huber like keypoints_2d         |
| shape_consistency   | - (video)         | 0.1: ten times the shape prior, since a hand's   |
|                     |                   | shape cannot change within a clip                |
| bone_consistency    | - (video)         | 1.0: a 1 mm change costs 1e-3, like a 3.2 px     |
|                     |                   | reprojection error; ten times mscale's rate      |
| texture_consistency | - (video)         | 5e-3: colour L1 like the photometric term        |

A weight of 0 turns a term off (it is then not computed). Presets and ablations only zero
weights or pick terms; nothing else changes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from types import MappingProxyType
from typing import Any

DEFAULT_WEIGHTS: MappingProxyType[str, float] = MappingProxyType(
    {
        "keypoints_2d": 1e-3,
        "bone_direction": 0.1,
        "heatmap_2d": 1e-3,
        "consistency_2d3d": 2e-4,
        "scale_prior": 0.1,
        "joint_limits": 0.1,
        "laplacian": 0.1,
        "shape_prior": 1e-2,
        "photometric": 5e-3,
        "photometric_ssim": 0.0,
        "mean_colour": 1e-3,
        "texture_outliers": 5e-3,
        "image_pose": 1.0,
        "joints_3d": 100.0,
        "verts_3d": 100.0,
        "motion_smooth": 0.5,
        "motion_2d": 1e-3,
        "shape_consistency": 0.1,
        "bone_consistency": 1.0,
        "texture_consistency": 5e-3,
    }
)
TERMS = tuple(DEFAULT_WEIGHTS)
BONE_WEIGHTINGS = ("confidence", "length")

# Terms that read a (B, T) clip.
VIDEO_TERMS = frozenset(
    {"motion_smooth", "motion_2d", "shape_consistency", "bone_consistency", "texture_consistency"}
)
# Terms that read the image pose head (ModelConfig.without_anchors="image"): computed only for
# a prediction that has one.
IMAGE_TERMS = frozenset({"image_pose"})
# Terms that read 3D labels: computed only when supervision is "full".
SUPERVISED_TERMS = frozenset({"joints_3d", "verts_3d"})

# Ablation groups (they may overlap: texture_consistency is both texture and video).
# "biomech" is the joint-angle-limit prior, the paper's biomechanical constraint (method notes
# 3.6: "unlike an average-pose prior", it penalises only infeasible articulations). The bone
# direction term compares with detected keypoints, so it is a data term and has its own group,
# "bone" (the paper's ablation adds it as a separate row, -19.5 % PA-MPJPE); the scale prior is
# what makes size and depth identifiable (method notes 2.4, 3.5) and stays in every ablation.
GROUPS: MappingProxyType[str, frozenset[str]] = MappingProxyType(
    {
        "texture": frozenset(
            {
                "photometric",
                "photometric_ssim",
                "mean_colour",
                "texture_outliers",
                "texture_consistency",
            }
        ),
        "biomech": frozenset({"joint_limits"}),
        "bone": frozenset({"bone_direction"}),
        "consistency": frozenset({"consistency_2d3d"}),
        "motion": VIDEO_TERMS,
        "branch2d": frozenset({"heatmap_2d", "consistency_2d3d"}),
        "supervised": SUPERVISED_TERMS,
    }
)

_SHAPE_STAGE = frozenset(
    {"keypoints_2d", "bone_direction", "scale_prior", "joint_limits", "shape_prior", "image_pose"}
)
_FINETUNE_STAGE = _SHAPE_STAGE | {
    "heatmap_2d",
    "consistency_2d3d",
    "photometric",
    "photometric_ssim",
    "texture_outliers",
}
_E2E_STAGE = _FINETUNE_STAGE | {"laplacian", "mean_colour"}
# Which terms each stage of method notes section 4 uses. Differences from the released configs:
# shape_prior is on wherever the 3D branch trains (the original's betas were forced to 0, which
# made mshape 0, so this is the same for the mean shape and needed once betas are regressed);
# the supervised terms ride along with the 3D stages but count only with supervision="full";
# "video" is e2e plus the clip terms.
STAGES: MappingProxyType[str, frozenset[str]] = MappingProxyType(
    {
        "shape": _SHAPE_STAGE | SUPERVISED_TERMS,
        "kp": frozenset({"heatmap_2d"}),
        "finetune": _FINETUNE_STAGE | SUPERVISED_TERMS,
        "e2e": _E2E_STAGE | SUPERVISED_TERMS,
        "video": _E2E_STAGE | SUPERVISED_TERMS | VIDEO_TERMS,
    }
)


def _check_names(names: object, known: tuple[str, ...] | frozenset[str], what: str) -> None:
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise ValueError(f"unknown {what} {unknown}; known: {', '.join(sorted(known))}")


@dataclass(frozen=True)
class LossConfig:
    """Term weights plus the few constants inside the terms.

    weights: term name -> weight >= 0; terms left out keep their default (`DEFAULT_WEIGHTS`).
    huber_delta_px: switch of the Huber rho from quadratic to linear, pixels.
    wrist_weight, tip_weight: per-joint weights of the keypoint reprojection term.
    reference_bone_m: the scale prior's target length of the middle proximal phalanx, metres.
    min_photometric_confidence: a sample whose least confident joint is at or below this gets
        no weight in the appearance terms.
    outlier_sigmas: the texture outlier band, in standard deviations.
    bone_weighting: how the bone-direction term weighs a bone: "confidence" (the original: the
        product of its two keypoints' confidences) or "length" (that times the detected bone's
        squared length over the sample's mean, the inverse of its direction's noise variance).
    """

    weights: dict[str, float] = field(default_factory=dict)
    huber_delta_px: float = 5.0
    wrist_weight: float = 2.0
    tip_weight: float = 1.5
    reference_bone_m: float = 0.0282
    min_photometric_confidence: float = 0.1
    outlier_sigmas: float = 2.0
    bone_weighting: str = "confidence"

    def __post_init__(self) -> None:
        _check_names(self.weights, TERMS, "loss term(s)")
        merged = dict(DEFAULT_WEIGHTS) | {name: float(w) for name, w in self.weights.items()}
        negative = {name: w for name, w in merged.items() if not w >= 0.0}
        if negative:
            raise ValueError(f"loss weights must be >= 0 (and not NaN), got {negative}")
        object.__setattr__(self, "weights", merged)
        positive = ("huber_delta_px", "reference_bone_m", "outlier_sigmas")
        bad = {name: getattr(self, name) for name in positive if not getattr(self, name) > 0.0}
        if bad:
            raise ValueError(f"these loss parameters must be > 0: {bad}")
        if self.bone_weighting not in BONE_WEIGHTINGS:
            raise ValueError(
                f"bone_weighting must be one of {BONE_WEIGHTINGS}, got {self.bone_weighting!r}"
            )

    def weight(self, term: str) -> float:
        """The weight of `term` (0 = off)."""
        _check_names([term], TERMS, "loss term")
        return self.weights[term]

    def without(self, *names: str) -> LossConfig:
        """A copy with every term of the named groups (or the named terms) turned off."""
        _check_names(names, (*GROUPS, *TERMS), "group(s) or term(s)")
        off = set().union(*(GROUPS.get(name, {name}) for name in names))
        return replace(self, weights={t: 0.0 if t in off else w for t, w in self.weights.items()})

    def active_terms(self, stage: str) -> frozenset[str]:
        """Terms with a positive weight that `stage` uses."""
        _check_names([stage], tuple(STAGES), "stage")
        return frozenset(t for t in STAGES[stage] if self.weights[t] > 0.0)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (YAML/JSON-ready) that `from_dict` reads back to an equal config."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> LossConfig:
        """Build from a plain dict such as `to_dict`'s; partial `weights` keep the defaults."""
        _check_names(values, tuple(f.name for f in fields(cls)), "loss config key(s)")
        return cls(**{**values, "weights": dict(values.get("weights") or {})})
