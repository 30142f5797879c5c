"""LossConfig: the original's weights, validation, groups, stage presets, dict round trip."""

import json

import pytest

from s2h_lib.losses.loss_config import (
    DEFAULT_WEIGHTS,
    GROUPS,
    IMAGE_TERMS,
    STAGES,
    TERMS,
    LossConfig,
)

# Method notes section 3: the effective lambdas of the released code.
ORIGINAL_LAMBDAS = {
    "keypoints_2d": 1e-3,
    "bone_direction": 0.1,
    "heatmap_2d": 1e-3,
    "consistency_2d3d": 2e-4,
    "scale_prior": 0.1,
    "joint_limits": 0.1,
    "laplacian": 0.1,
    "shape_prior": 1e-2,
    "photometric": 5e-3,
    "mean_colour": 1e-3,
    "texture_outliers": 5e-3,
}


def test_defaults_are_the_original_lambdas():
    config = LossConfig()
    for term, weight in ORIGINAL_LAMBDAS.items():
        assert config.weight(term) == weight
    assert config.weight("photometric_ssim") == 0.0  # computed but never added by the original
    assert config.reference_bone_m == 0.0282 and config.huber_delta_px == 5.0


def test_partial_weights_keep_the_other_defaults():
    config = LossConfig(weights={"laplacian": 0.5})
    assert config.weight("laplacian") == 0.5
    assert config.weight("photometric") == DEFAULT_WEIGHTS["photometric"]


def test_unknown_term_and_negative_weight_raise():
    with pytest.raises(ValueError, match=r"unknown loss term.*'lapalcian'.*known: "):
        LossConfig(weights={"lapalcian": 0.1})
    with pytest.raises(ValueError, match=r">= 0.*'photometric': -1.0"):
        LossConfig(weights={"photometric": -1.0})
    with pytest.raises(ValueError, match=">= 0"):
        LossConfig(weights={"photometric": float("nan")})
    with pytest.raises(ValueError, match="must be > 0"):
        LossConfig(huber_delta_px=0.0)
    with pytest.raises(ValueError, match="unknown loss term"):
        LossConfig().weight("texture")
    with pytest.raises(ValueError, match=r"bone_weighting must be one of.*'lenght'"):
        LossConfig(bone_weighting="lenght")


def test_without_groups_and_terms():
    config = LossConfig()
    no_biomech = config.without("biomech")
    assert no_biomech.weight("joint_limits") == 0.0
    changed = {t for t in TERMS if no_biomech.weight(t) != config.weight(t)}
    assert changed == {"joint_limits"}
    no_texture = config.without("texture", "laplacian")
    off = {t for t in TERMS if no_texture.weight(t) == 0.0}
    assert off == {
        "photometric",
        "photometric_ssim",
        "mean_colour",
        "texture_outliers",
        "texture_consistency",
        "laplacian",
    }
    assert config.weight("photometric") > 0  # the original is unchanged
    with pytest.raises(ValueError, match="unknown group"):
        config.without("biomechanics")


def test_groups_name_known_terms():
    for group, terms in GROUPS.items():
        assert terms <= set(TERMS), group
    assert GROUPS["consistency"] == {"consistency_2d3d"}
    assert GROUPS["motion"] == {
        "motion_smooth",
        "motion_2d",
        "shape_consistency",
        "bone_consistency",
        "texture_consistency",
    }


def test_stage_presets_follow_the_schedule():
    config = LossConfig()
    assert config.active_terms("kp") == {"heatmap_2d"}
    # the distillation of the image pose head rides along with every 3D stage
    for stage in ("shape", "finetune", "e2e", "video"):
        assert config.active_terms(stage) >= IMAGE_TERMS
    shape = config.active_terms("shape") - GROUPS["supervised"] - IMAGE_TERMS
    assert shape == {"keypoints_2d", "bone_direction", "scale_prior", "joint_limits", "shape_prior"}
    finetune = config.active_terms("finetune") - GROUPS["supervised"] - IMAGE_TERMS
    assert finetune == shape | {"heatmap_2d", "consistency_2d3d", "photometric", "texture_outliers"}
    e2e = config.active_terms("e2e") - GROUPS["supervised"] - IMAGE_TERMS
    assert e2e == finetune | {"laplacian", "mean_colour"}
    assert config.active_terms("video") == config.active_terms("e2e") | GROUPS["motion"]
    assert set(STAGES) == {"shape", "kp", "finetune", "e2e", "video"}
    assert "photometric" not in config.without("texture").active_terms("e2e")
    with pytest.raises(ValueError, match="unknown stage"):
        config.active_terms("pretrain")


def test_dict_round_trip_is_plain_and_exact():
    config = LossConfig(weights={"motion_smooth": 0.2}, reference_bone_m=0.0285).without("bone")
    plain = json.loads(json.dumps(config.to_dict()))
    assert LossConfig.from_dict(plain) == config
    assert LossConfig.from_dict({}) == LossConfig()
    assert LossConfig.from_dict({"weights": {"laplacian": 0.0}}).weight("laplacian") == 0.0
    with pytest.raises(ValueError, match="unknown loss config key"):
        LossConfig.from_dict({"weight": {}})
