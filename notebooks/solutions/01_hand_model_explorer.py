"""Solutions to notebook 01's exercises: sweep each coefficient from -2 to +2 standard
deviations and measure what it changes."""

import numpy as np

from s2h_lib.lab.exercises import finger_to_palm_ratio, tip_spread
from s2h_lib.viz.explorer import HandExplorer
from s2h_lib.hand.hand_model import ManoLayer


def finger_length_beta(layer: ManoLayer, count: int = 10) -> int:
    """Exercise 01.1: the beta that changes finger length relative to the palm the most."""
    poser = HandExplorer(layer, n_pca=1, n_betas=count)
    changes = []
    for k in range(count):
        ratios = []
        for value in (-2.0, 2.0):
            poser.reset()
            poser.set_named_pose("flat")  # straight fingers, so their length is easy to read
            poser.set_beta(k, value)
            ratios.append(finger_to_palm_ratio(poser.mesh()[1]))
        changes.append(abs(ratios[1] - ratios[0]))
    return int(np.argmax(changes))


def closing_component(layer: ManoLayer, count: int = 6) -> tuple[int, int]:
    """Exercise 01.2: the PCA component that closes the hand the most, and the sign that does."""
    poser = HandExplorer(layer, n_pca=count, n_betas=0)
    changes = []
    for k in range(count):
        spreads = []
        for value in (-2.0, 2.0):
            poser.reset()
            poser.set_pca(k, value)
            spreads.append(tip_spread(poser.mesh()[1]))
        changes.append(spreads[1] - spreads[0])  # < 0: +2 sd brings the tips to the wrist
    best = int(np.argmax(np.abs(changes)))
    return best, -int(np.sign(changes[best]))
