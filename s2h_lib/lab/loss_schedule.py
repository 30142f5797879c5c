"""Which loss terms act in which training stage (00, 04): the stage table and what turning off
an ablation group removes."""

from __future__ import annotations

from s2h_lib.losses.loss_config import GROUPS, STAGES, SUPERVISED_TERMS, TERMS, LossConfig


def vanished_terms(config: LossConfig, group: str, stage: str) -> list[str]:
    """The terms of `stage` that `config.without(group)` turns off in a self-supervised run
    (the 3D-label terms are never computed there, so they cannot vanish)."""
    removed = config.active_terms(stage) - config.without(group).active_terms(stage)
    return sorted(removed - SUPERVISED_TERMS)


def ablation_table(config: LossConfig, stage: str) -> dict[str, list[str]]:
    """Every ablation group -> the terms of `stage` it turns off (empty: none in this stage)."""
    return {group: vanished_terms(config, group, stage) for group in GROUPS}


def stage_table(config: LossConfig) -> dict[str, dict[str, float]]:
    """term -> stage -> the weight the term has in that stage (0 when the stage leaves it out),
    for every term some stage uses."""
    return {
        term: {
            stage: config.weight(term) if term in terms else 0.0 for stage, terms in STAGES.items()
        }
        for term in TERMS
        if any(term in terms for terms in STAGES.values())
    }
