"""Datasets, the 2D detector and image transforms. Every dataset yields `HandSample`s.

    synth/     S2H-Synth: the generator, the files on disk and the datasets over them
    photos/    photos and their detections: the hand detector, detection files, PhotoFolder
    freihand, ho3d    the public benchmarks;  factory: the dataset a `DataConfig` names
    sample, crop, augment, image_io, keypoint_table    what every dataset shares

Builds on hand/ and render/ only.
"""

from s2h_lib.data.factory import DataConfig, make_dataset
from s2h_lib.data.sample import HandSample, HandTruth, collate_samples

__all__ = ["DataConfig", "HandSample", "HandTruth", "collate_samples", "make_dataset"]
