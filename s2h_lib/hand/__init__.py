"""The hand model: the MANO layer, its files, rotations, poses, the mesh Laplacian and mesh files.

The lowest layer of the library: it imports nothing from the packages above it.
"""

from s2h_lib.hand.hand_model import ManoLayer, ManoOutput
from s2h_lib.hand.mano_io import load_hand_model

__all__ = ["ManoLayer", "ManoOutput", "load_hand_model"]
