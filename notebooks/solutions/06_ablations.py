"""Solutions to notebook 06's exercises."""

from s2h_lib.losses.loss_config import GROUPS
from s2h_lib.train.train_config import load_config


def acting_groups(preset: str) -> set[str]:
    """Exercise 06.1: the groups with a term that one of the preset's stages optimises (the
    3D-label terms never count in a self-supervised run)."""
    config = load_config(preset)
    used = set()
    for stage in config.stages:
        used |= config.losses.active_terms(stage.name)
    used -= GROUPS["supervised"]
    return {group for group, terms in GROUPS.items() if terms & used}


def grown_grid(grid: list[str], seeds: int, preset: str, group: str) -> tuple[list[str], int, bool]:
    """Exercise 06.2: the grid with `group` added, its number of runs (the baseline and one
    configuration per group, each with every seed), and whether the group acts in `preset`."""
    new_grid = [*grid, group]
    return new_grid, (len(new_grid) + 1) * seeds, group in acting_groups(preset)
