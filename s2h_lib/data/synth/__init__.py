"""S2H-Synth, the synthetic benchmark: a hand posed, placed and rendered from one seed per sample.

config      SynthConfig, the splits and each sample's seed
poses, placement, forearm, scene    what one frame shows (and the scenes of a clip)
appearance, backgrounds, occluders    skin, lights, exposure; backgrounds; occluders
motion, noise    smooth clip paths; the detector-noise model of the stored keypoints
generator   renders a sample or a clip;  store: writes the benchmark;  layout: its files
dataset     SynthDataset, SynthClips over the files;  preview: the contact sheet
"""

from s2h_lib.data.synth.config import SynthConfig
from s2h_lib.data.synth.dataset import SynthClips, SynthDataset
from s2h_lib.data.synth.generator import SynthGenerator
from s2h_lib.data.synth.layout import read_manifest
from s2h_lib.data.synth.noise import NoiseModel, NoiseParams
from s2h_lib.data.synth.store import build_synth

__all__ = [
    "NoiseModel",
    "NoiseParams",
    "SynthClips",
    "SynthConfig",
    "SynthDataset",
    "SynthGenerator",
    "build_synth",
    "read_manifest",
]
