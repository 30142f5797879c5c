"""What one S2H-Synth frame shows (a `Scene`: pose, shape, placement, looks, forearm), and the
scenes of a clip moving smoothly from one of them (`motion.py`)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from s2h_lib.data.synth import appearance, motion
from s2h_lib.data.synth.forearm import Forearm, sample_forearm
from s2h_lib.data.synth.placement import (
    BOX_FRACTION_RANGE,
    Placement,
    sample_global_rotation,
    sample_placement,
)
from s2h_lib.data.synth.poses import PoseSampler
from s2h_lib.hand import hand_poses
from s2h_lib.hand.mano_data import NUM_BETAS

BETA_STD, BETA_CLIP = 1.0, 2.5
# Clips: how far things move over one clip.
CLIP_KEYFRAMES = 3
CLIP_POSE_CHANGE = (0.2, 0.6)  # fraction of the way towards a second random pose
CLIP_TURN_DEG = (5.0, 40.0)
CLIP_BOX_CHANGE = 0.08
CLIP_CENTRE_CHANGE = 0.08  # x image side
CLIP_POSE_WOBBLE = 0.05  # radians: the inner keyframes stray off the straight pose path
CLIP_PLACEMENT_WOBBLE = 0.02  # box fraction, and x image side for the centre


@dataclass(frozen=True)
class Scene:
    """Everything about one frame except the background and occluders (image-space things)."""

    articulation: np.ndarray  # (15, 3)
    global_rot: np.ndarray  # (3,)
    betas: np.ndarray  # (10,)
    placement: Placement
    skin: appearance.SkinPattern
    lights: appearance.LightSetup
    look: appearance.CameraLook
    forearm: Forearm


def sample_scene(rng: np.random.Generator, poses: PoseSampler, image_size: int) -> Scene:
    """A random scene: shape betas ~ N(0, 1) clipped, the other parts from their samplers."""
    return Scene(
        articulation=poses(rng),
        global_rot=sample_global_rotation(rng),
        betas=np.clip(rng.normal(scale=BETA_STD, size=NUM_BETAS), -BETA_CLIP, BETA_CLIP),
        placement=sample_placement(rng, image_size),
        skin=appearance.sample_skin(rng),
        lights=appearance.sample_lights(rng),
        look=appearance.sample_camera_look(rng),
        forearm=sample_forearm(rng),
    )


def clip_scenes(
    rng: np.random.Generator, start: Scene, poses: PoseSampler, length: int, image_size: int
) -> list[Scene]:
    """`length` scenes moving smoothly from `start`: articulation towards another pose, a turn
    of the whole hand, a drift of its placement (camera motion); shape and looks stay."""
    count = CLIP_KEYFRAMES
    goal = start.articulation + rng.uniform(*CLIP_POSE_CHANGE) * (poses(rng) - start.articulation)
    path = motion.wander(
        rng, start.articulation.reshape(-1), goal.reshape(-1), count, CLIP_POSE_WOBBLE
    )
    articulation = motion.smooth_path(path, length)
    articulation = hand_poses.clip_to_limits(articulation.reshape(length, -1, 3))
    angle = math.radians(rng.uniform(*CLIP_TURN_DEG))
    rotations = motion.rotation_path(motion.turn(rng, start.global_rot, angle, count), length)
    p = start.placement
    box_end = np.clip(
        p.box_fraction + rng.uniform(-CLIP_BOX_CHANGE, CLIP_BOX_CHANGE), *BOX_FRACTION_RANGE
    )
    offset_end = p.offset + rng.uniform(-1, 1, 2) * CLIP_CENTRE_CHANGE * image_size
    start_vec = np.array([p.box_fraction, *p.offset])
    end_vec = np.array([box_end, *offset_end])
    wobble = CLIP_PLACEMENT_WOBBLE * np.array([1.0, image_size, image_size])
    placements = motion.smooth_path(motion.wander(rng, start_vec, end_vec, count, wobble), length)
    box = np.clip(placements[:, 0], *BOX_FRACTION_RANGE)
    room = (1 - box[:, None]) / 2 * image_size  # the hand's box stays inside the image
    offsets = np.clip(placements[:, 1:], -room, room)
    return [
        Scene(
            articulation=articulation[t],
            global_rot=rotations[t],
            betas=start.betas,
            placement=Placement(p.focal, float(box[t]), offsets[t]),
            skin=start.skin,
            lights=start.lights,
            look=start.look,
            forearm=start.forearm,
        )
        for t in range(length)
    ]
