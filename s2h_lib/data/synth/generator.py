"""S2H-Synth: render one synthetic hand photo (or one clip) with its keypoints and ground truth.

A sample is decided by one integer seed (base seed + the sample's global index), so any sample
can be regenerated alone and any number of workers gives the same benchmark. The scene:

- pose: named poses and grasps with jitter, random samples of the model's PCA pose space, and
  blends of the two, always clipped to the joint-angle limits (`hand_poses.py`);
- shape: betas ~ N(0, 1), clipped;
- global rotation: uniform over SO(3), except near end-on views where the fingers point at
  the camera (they are redrawn), so palm, back and side views all occur;
- camera: OpenCV K with focal length 1.2-2.0 x the image side and the principal point at the
  centre; the hand's depth is solved so that its projected box spans 40-80% of the image,
  centred with a jitter that keeps it inside;
- appearance (`appearance.py`): skin tone, lights, background, occluders, exposure and noise.

Rendering uses the hard (z-buffer) renderer at `supersample` times the resolution, averaged
down, then composited over the background with the coverage as alpha.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from scipy.spatial.transform import Rotation

from s2h_lib.data.synth import appearance, motion
from s2h_lib.data.synth.noise import NoiseModel
from s2h_lib.hand import hand_poses
from s2h_lib.hand.hand_model import FREIHAND_FROM_MANO, NUM_KEYPOINTS, ManoLayer
from s2h_lib.hand.mano_io import MANO_PARENTS, NUM_BETAS, load_hand_model
from s2h_lib.render import (
    Lights,
    RenderSettings,
    render_mesh,
    silhouette,
    supersampled_intrinsics,
)
from s2h_lib.render.shading import vertex_normals

if TYPE_CHECKING:
    from s2h_lib.data.photos.detector import HandDetector

GENERATOR_VERSION = "s2h-synth/2"
SPLITS = ("train", "val", "test", "clips")
# Global index of a split's first sample: fixed offsets, so resizing one split leaves the
# others' samples unchanged.
SPLIT_OFFSETS = {"train": 0, "val": 1_000_000, "test": 2_000_000, "clips": 3_000_000}
KEYPOINT_SOURCES = ("noise", "detector")

FOCAL_RANGE = (1.2, 2.0)  # x image side
BOX_FRACTION_RANGE = (0.4, 0.8)  # longer side of the hand's projected box / image side
CENTRE_JITTER = 0.7  # fraction of the free margin the hand's centre may move by
PLACEMENT_ITERATIONS = 8
BETA_STD, BETA_CLIP = 1.0, 2.5
END_ON_LIMIT = 0.85  # |cos| between the fingers' direction and the viewing axis
END_ON_TRIES = 20
# Rest-frame directions (hand_poses.py): fingers point along -x, the palm faces -y.
FINGER_DIRECTION = np.array([-1.0, 0.0, 0.0])
PALM_NORMAL = np.array([0.0, -1.0, 0.0])
VIEW_NAMES = ("palm", "back", "side")
VIEW_COS = 0.5  # |cos| between the palm normal and the viewing axis beyond which it faces it

POSE_SOURCES = ("named", "pca", "blend")
POSE_SOURCE_WEIGHTS = (0.3, 0.35, 0.35)
PCA_SCALE_RANGE = (0.4, 1.0)  # standard deviations of the PCA coefficients
JITTER_DEG = np.array([2.0, 3.0, 6.0])  # twist, splay, bend

# Clips: how far things move over one clip.
CLIP_KEYFRAMES = 3
CLIP_POSE_CHANGE = (0.2, 0.6)  # fraction of the way towards a second random pose
CLIP_TURN_DEG = (5.0, 40.0)
CLIP_BOX_CHANGE = 0.08
CLIP_CENTRE_CHANGE = 0.08  # x image side
CLIP_POSE_WOBBLE = 0.05  # radians: the inner keyframes stray off the straight pose path
CLIP_PLACEMENT_WOBBLE = 0.02  # box fraction, and x image side for the centre
CLIP_PAN = 0.1  # background canvas margin, x image side
OCCLUDED_COVERAGE = 0.5

# The forearm: a tube leaving the wrist, widening towards the elbow, bent at the wrist.
ARM_LENGTH = 0.35  # metres
ARM_RINGS, ARM_SEGMENTS = 10, 16
ARM_OVERLAP = 0.03  # the tube starts this far inside the hand's wrist end (the arm is at +x)
WRIST_SLAB = 0.02  # the hand's last this-many metres towards the arm give the tube's section
MIN_SLAB_VERTS = 3
ARM_INSET = 0.95  # the tube starts just inside the wrist's surface
ARM_WIDENING = 0.35
WRIST_FLEXION_DEG, WRIST_DEVIATION_DEG = 40.0, 15.0
ARM_TOWARD_CAMERA = -0.5  # arms pointing at the camera more than this would hide the hand
SLEEVE_PROBABILITY = 0.5
SLEEVE_START = (0.03, 0.2)  # metres from the wrist
ARM_OWNER = 16  # face owner id of the forearm (MANO joints are 0-15)
# MANO joint a fingertip hangs from, thumb to pinky (MANO order: index 1-3, middle 4-6,
# pinky 7-9, ring 10-12, thumb 13-15).
TIP_PARENTS = (15, 3, 6, 12, 9)


def _grasp(bends: dict[str, tuple[float, float, float]], opposition: float) -> np.ndarray:
    """A `(15, 3)` pose from per-finger bends and the thumb's opposition, in degrees."""
    pose = np.zeros((hand_poses.NUM_ARTICULATED_JOINTS, 3))
    for name, angles in bends.items():
        for joint, angle in zip(hand_poses.FINGER_JOINTS[name], angles, strict=True):
            pose[joint, hand_poses.BEND] = angle
    thumb_cmc = hand_poses.FINGER_JOINTS["thumb"][0]
    pose[thumb_cmc, hand_poses.TWIST] = opposition
    return np.deg2rad(pose)


_LONG_FINGERS = ("index", "middle", "ring", "pinky")
# Everyday grasps (Feix et al.'s taxonomy, roughly), beside the named poses of hand_poses.py.
GRASP_POSES = {
    "cylinder": _grasp(
        {f: (50.0, 60.0, 35.0) for f in _LONG_FINGERS} | {"thumb": (-10, 20, 30)}, 60
    ),
    "tripod": _grasp(
        {"index": (45.0, 50.0, 30.0), "middle": (50.0, 55.0, 30.0)}
        | {"ring": (65.0, 75.0, 45.0), "pinky": (70.0, 80.0, 45.0), "thumb": (-10, 20, 35)},
        70,
    ),
    "ok": _grasp(
        {"index": (40.0, 60.0, 45.0), "middle": (10.0, 10.0, 5.0)}
        | {"ring": (15.0, 15.0, 5.0), "pinky": (20.0, 15.0, 5.0), "thumb": (-10, 20, 40)},
        60,
    ),
    "thumbs_up": _grasp({f: (85.0, 95.0, 60.0) for f in _LONG_FINGERS} | {"thumb": (0, 0, 0)}, 0),
    "claw": _grasp({f: (0.0, 90.0, 70.0) for f in _LONG_FINGERS} | {"thumb": (-10, 20, 40)}, 40),
}
KEY_POSES = {**hand_poses.NAMED_POSES, **GRASP_POSES}


@dataclass(frozen=True)
class SynthConfig:
    """Everything that decides the benchmark's content (not where or how fast it is built).

    counts are samples for train/val/test and clips of `clip_length` frames for clips;
    `keypoints` picks the stored detector keypoints besides the noise model's: "noise" (noise
    model only) or "detector" (also run the real detector on every image); `shard_size` is
    images per shard file; `mano_root` None renders the open hand model; `noise_file` None
    uses the package's calibrated detector-noise parameters.
    """

    image_size: int = 128
    train: int = 4000
    val: int = 500
    test: int = 500
    clips: int = 200
    clip_length: int = 8
    seed: int = 0
    mano_root: str | None = None
    keypoints: str = "noise"
    occluder_probability: float = appearance.OCCLUDER_PROBABILITY
    supersample: int = 2
    shard_size: int = 250
    noise_file: str | None = None

    def __post_init__(self) -> None:
        if self.image_size < 16:
            raise ValueError(f"image_size must be at least 16 pixels, got {self.image_size}")
        for split in SPLITS:
            if getattr(self, split) < 0:
                raise ValueError(f"the {split} count must be >= 0, got {getattr(self, split)}")
        if self.clip_length < 2:
            raise ValueError(f"clip_length must be at least 2, got {self.clip_length}")
        if self.keypoints not in KEYPOINT_SOURCES:
            raise ValueError(f"keypoints must be one of {KEYPOINT_SOURCES}, got {self.keypoints!r}")
        if self.shard_size < 1 or self.supersample < 1:
            raise ValueError("shard_size and supersample must be positive")
        if not 0.0 <= self.occluder_probability <= 1.0:
            raise ValueError(
                f"occluder_probability must be in [0, 1], got {self.occluder_probability}"
            )

    def count(self, split: str) -> int:
        """Samples in `split` (clips for 'clips')."""
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
        return getattr(self, split)


def sample_seed(config: SynthConfig, split: str, index: int) -> int:
    """The one integer that decides sample (or clip) `index` of `split`."""
    return config.seed + SPLIT_OFFSETS[split] + index


def project(points: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Pinhole projection `u = K X / Z` of `(..., 3)` camera-frame points to `(..., 2)` pixels."""
    uvw = points @ K.T
    return uvw[..., :2] / uvw[..., 2:]


def intrinsics(focal: float, image_size: int) -> np.ndarray:
    """`(3, 3)` K: square pixels, principal point at the image centre (pixel centres at ints)."""
    centre = (image_size - 1) / 2
    return np.array([[focal, 0.0, centre], [0.0, focal, centre], [0.0, 0.0, 1.0]])


# ---- scene sampling ----------------------------------------------------------------------------


def _jitter(rng: np.random.Generator, pose: np.ndarray) -> np.ndarray:
    return pose + np.deg2rad(rng.normal(size=pose.shape) * JITTER_DEG)


class PoseSampler:
    """Articulations `(15, 3)` (radians, MANO joint order, hand mean included) from a mixture of
    key poses with jitter, PCA samples and blends of both, clipped to the joint limits."""

    def __init__(self, hands_mean: np.ndarray, hands_components: np.ndarray) -> None:
        self.mean = np.asarray(hands_mean, dtype=np.float64)
        self.components = np.asarray(hands_components, dtype=np.float64)
        self.key_names = tuple(KEY_POSES)

    def key_pose(self, rng: np.random.Generator) -> np.ndarray:
        return _jitter(rng, KEY_POSES[self.key_names[rng.integers(len(self.key_names))]])

    def pca_pose(self, rng: np.random.Generator) -> np.ndarray:
        scale = rng.uniform(*PCA_SCALE_RANGE)
        coeffs = rng.normal(size=len(self.components)) * scale
        return (self.mean + coeffs @ self.components).reshape(-1, 3)

    def __call__(self, rng: np.random.Generator) -> np.ndarray:
        source = POSE_SOURCES[rng.choice(len(POSE_SOURCES), p=POSE_SOURCE_WEIGHTS)]
        if source == "named":
            pose = self.key_pose(rng)
        elif source == "pca":
            pose = self.pca_pose(rng)
        else:
            t = rng.uniform()
            pose = (1 - t) * self.key_pose(rng) + t * self.pca_pose(rng)
        return hand_poses.clip_to_limits(pose)


def sample_global_rotation(rng: np.random.Generator) -> np.ndarray:
    """Axis-angle `(3,)`: uniform over rotations, redrawn while the fingers point at the camera
    or the forearm (opposite the fingers) comes towards it and would hide the hand."""
    for _ in range(END_ON_TRIES):
        rotation = Rotation.random(random_state=rng)
        towards = rotation.apply(FINGER_DIRECTION)[2]
        if abs(towards) < END_ON_LIMIT and -towards > ARM_TOWARD_CAMERA:
            break
    return rotation.as_rotvec()


@dataclass(frozen=True)
class Forearm:
    """wrist: (2,) flexion and deviation in radians; sleeve_start metres from the wrist where a
    sleeve of colour sleeve_colour (3,) begins, or None for a bare arm."""

    wrist: np.ndarray
    sleeve_start: float | None
    sleeve_colour: np.ndarray


def sample_forearm(rng: np.random.Generator) -> Forearm:
    wrist = np.deg2rad(rng.uniform(-1, 1, 2) * [WRIST_FLEXION_DEG, WRIST_DEVIATION_DEG])
    sleeve = rng.uniform(*SLEEVE_START) if rng.uniform() < SLEEVE_PROBABILITY else None
    colour = rng.uniform(0.05, 0.9, 3) ** rng.uniform(0.8, 1.6)
    return Forearm(wrist, sleeve, colour)


def _tube_faces(rings: int, segments: int) -> np.ndarray:
    """Triangles `(2 (rings - 1) segments, 3)` of a tube of `rings` rings of `segments`."""
    ring = np.arange(rings - 1)[:, None] * segments
    j = np.arange(segments)[None]
    a, b = ring + j, ring + (j + 1) % segments
    c, d = a + segments, b + segments
    return np.concatenate([np.stack([a, c, b], -1), np.stack([b, c, d], -1)]).reshape(-1, 3)


ARM_FACES = _tube_faces(ARM_RINGS, ARM_SEGMENTS)


def forearm_tube(
    verts_root: np.ndarray, forearm: Forearm
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The forearm in the root frame (the wrist joint at the origin, rest orientation).

    verts_root: the posed hand's vertices `(V, 3)` in that frame; the tube's elliptic section
    is fitted to those in the last WRIST_SLAB towards the arm (for the official MANO mesh:
    around its open wrist). Returns vertices `(R S, 3)`, outward normals `(R S, 3)` (before
    bending; for the skin pattern) and the distance past the hand's wrist end `(R S,)`.
    """
    wrist_end = verts_root[:, 0].max()
    order = np.argsort(-verts_root[:, 0])
    in_slab = max(MIN_SLAB_VERTS, int((verts_root[:, 0] >= wrist_end - WRIST_SLAB).sum()))
    slab = verts_root[order[:in_slab]]
    low, high = slab[:, 1:].min(axis=0), slab[:, 1:].max(axis=0)
    centre, radii = (low + high) / 2, ARM_INSET * (high - low) / 2
    theta = np.linspace(0, 2 * math.pi, ARM_SEGMENTS, endpoint=False)
    along = np.linspace(0, 1, ARM_RINGS)
    scale = 1 + ARM_WIDENING * along[:, None]
    ring = np.stack([np.cos(theta), np.sin(theta)], axis=-1)  # (S, 2)
    section = centre + scale[..., None] * radii * ring  # (R, S, 2)
    distance = along * ARM_LENGTH - ARM_OVERLAP  # past the wrist end
    x = np.broadcast_to((wrist_end + distance)[:, None, None], (*section.shape[:2], 1))
    verts = np.concatenate([x, section], axis=-1).reshape(-1, 3)
    normals = np.concatenate([np.zeros((ARM_SEGMENTS, 1)), ring / radii], axis=-1)
    normals = np.tile(normals / np.linalg.norm(normals, axis=1, keepdims=True), (ARM_RINGS, 1))
    pivot = np.array([wrist_end, *centre])
    # Flexion swings the arm towards the palm (-y) or back, deviation towards thumb or pinky.
    bend = Rotation.from_euler("zy", forearm.wrist)
    verts = bend.apply(verts - pivot) + pivot
    return verts, normals, np.repeat(distance, ARM_SEGMENTS)


def view_of(global_rot: np.ndarray) -> int:
    """Index into VIEW_NAMES: which side of the hand faces the camera."""
    facing = Rotation.from_rotvec(global_rot).apply(PALM_NORMAL)[2]
    if facing < -VIEW_COS:
        return VIEW_NAMES.index("palm")
    if facing > VIEW_COS:
        return VIEW_NAMES.index("back")
    return VIEW_NAMES.index("side")


@dataclass(frozen=True)
class Placement:
    """Where the hand sits in the image: focal length (pixels), the projected box's longer side
    as a fraction of the image side, and its centre's offset from the image centre (pixels)."""

    focal: float
    box_fraction: float
    offset: np.ndarray


def sample_placement(rng: np.random.Generator, image_size: int) -> Placement:
    box = rng.uniform(*BOX_FRACTION_RANGE)
    room = CENTRE_JITTER * (1 - box) / 2 * image_size
    return Placement(
        focal=rng.uniform(*FOCAL_RANGE) * image_size,
        box_fraction=box,
        offset=rng.uniform(-room, room, size=2),
    )


def place_hand(
    verts: np.ndarray, K: np.ndarray, image_size: int, placement: Placement
) -> np.ndarray:
    """Translation `(3,)` that puts `verts` `(V, 3)` (model frame) where `placement` says.

    Fixed-point iteration: the box side scales about as 1 / depth, and a sideways shift of d
    pixels at depth z is d z / f metres.
    """
    focal = K[0, 0]
    target_side = placement.box_fraction * image_size
    target_centre = (image_size - 1) / 2 + placement.offset
    centre3d = (verts.max(axis=0) + verts.min(axis=0)) / 2
    extent = float(np.ptp(verts, axis=0).max())
    trans = -centre3d + np.array([0.0, 0.0, focal * extent / target_side])
    for _ in range(PLACEMENT_ITERATIONS):
        uv = project(verts + trans, K)
        low, high = uv.min(axis=0), uv.max(axis=0)
        depth = centre3d[2] + trans[2]
        trans[2] = depth * float((high - low).max()) / target_side - centre3d[2]
        depth = centre3d[2] + trans[2]
        trans[:2] += (target_centre - (low + high) / 2) * depth / focal
    return trans


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


@dataclass(frozen=True)
class HandLayer:
    """A placed, rendered hand before compositing. verts (V, 3) and joints (21, 3) in the camera
    frame, pose (48,), trans (3,), K (3, 3); rgb (H, W, 3) colour premultiplied by the coverage
    alpha (H, W); face_index (sH, sW) at the supersampled size (past the hand's: the forearm's)."""

    verts: np.ndarray
    joints: np.ndarray
    pose: np.ndarray
    trans: np.ndarray
    K: np.ndarray
    rgb: np.ndarray
    alpha: np.ndarray
    face_index: np.ndarray


@dataclass
class SynthFrame:
    """One rendered image and its arrays.

    image: (H, W, 3) uint8. inputs: what training may read (K, keypoints_noise,
    confidence_noise, and keypoints_detector / confidence_detector when the detector ran).
    truth: what only evaluation reads (joints3d, verts, keypoints2d, pose, betas, trans, mask,
    visible, occluder, lights, skin, view, box_fraction). See `store.py` for shapes.
    """

    image: np.ndarray
    inputs: dict[str, np.ndarray] = field(default_factory=dict)
    truth: dict[str, np.ndarray] = field(default_factory=dict)


def _face_owners(weights: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """`(F,)` MANO joint whose skinning weight dominates each face."""
    return weights[faces].sum(axis=1).argmax(axis=1)


def _allowed_owners() -> list[set[int]]:
    """For each FreiHAND keypoint, the MANO joints whose surface may be seen 'at' it: its own
    segment and the segments it joins. A fingertip belongs to its finger's last joint."""
    children = {j: {c for c, p in enumerate(MANO_PARENTS) if p == j} for j in range(16)}
    allowed = []
    for k in range(NUM_KEYPOINTS):
        joint = FREIHAND_FROM_MANO[k]
        if joint >= len(MANO_PARENTS):  # a fingertip (16 + thumb..pinky)
            joint = TIP_PARENTS[joint - len(MANO_PARENTS)]
        parent = MANO_PARENTS[joint]
        allowed.append({joint, *children[joint]} | ({parent} if parent >= 0 else set()))
    return allowed


class SynthGenerator:
    """Renders S2H-Synth samples and clips for one `SynthConfig` (holds the hand model)."""

    def __init__(
        self, config: SynthConfig, noise: NoiseModel, detector: HandDetector | None = None
    ) -> None:
        self.config = config
        self.noise = noise
        self.detector = detector
        model = load_hand_model(config.mano_root)
        self.layer = ManoLayer(mano_root=config.mano_root, use_pca=False, flat_hand_mean=True)
        self.faces = self.layer.faces
        self.poses = PoseSampler(model.hands_mean, model.hands_components)
        rest = torch.as_tensor(model.v_template, dtype=torch.float32)[None]
        self.rest_verts = model.v_template
        self.rest_normals = vertex_normals(rest, self.faces)[0].numpy().astype(np.float64)
        hand_owners = _face_owners(model.weights, model.faces)
        self.face_owners = np.concatenate([hand_owners, np.full(len(ARM_FACES), ARM_OWNER)])
        arm_faces = torch.as_tensor(ARM_FACES + model.num_verts, dtype=torch.long)
        self.scene_faces = torch.cat([self.faces, arm_faces])
        self.allowed_owners = _allowed_owners()
        size = config.image_size * config.supersample
        self.settings = RenderSettings(
            image_size=(size, size), mode="hard", double_sided=True, shading="gouraud"
        )

    # ---- scenes ----

    def sample_scene(self, rng: np.random.Generator) -> Scene:
        return Scene(
            articulation=self.poses(rng),
            global_rot=sample_global_rotation(rng),
            betas=np.clip(rng.normal(scale=BETA_STD, size=NUM_BETAS), -BETA_CLIP, BETA_CLIP),
            placement=sample_placement(rng, self.config.image_size),
            skin=appearance.sample_skin(rng),
            lights=appearance.sample_lights(rng),
            look=appearance.sample_camera_look(rng),
            forearm=sample_forearm(rng),
        )

    def sample(self, split: str, index: int) -> SynthFrame:
        """Sample `index` of a still split ('train', 'val' or 'test')."""
        rng = np.random.default_rng(sample_seed(self.config, split, index))
        scene_rng, noise_rng = rng.spawn(2)
        scene = self.sample_scene(scene_rng)
        size = self.config.image_size
        hand = self.render_hand(scene)
        background = self._backdrop(scene_rng, scene, hand, size)
        return self.compose(scene, hand, background, scene_rng, noise_rng, occluders=None)[0]

    def clip(self, index: int) -> list[SynthFrame]:
        """Clip `index`: `clip_length` frames of one hand moving smoothly."""
        config = self.config
        rng = np.random.default_rng(sample_seed(config, "clips", index))
        scene_rng, noise_rng = rng.spawn(2)
        start = self.sample_scene(scene_rng)
        frames = clip_scenes(scene_rng, start, self.poses, config.clip_length, config.image_size)
        hands = [self.render_hand(scene) for scene in frames]
        pan = round(CLIP_PAN * config.image_size)
        side = config.image_size + 2 * pan
        # The camera's own motion pans the background: a straight glide across the margin.
        glide = scene_rng.uniform(0, 2 * pan, size=(2, 2))
        shifts = np.round(np.linspace(glide[0], glide[1], config.clip_length)).astype(int)
        canvas = self._backdrop(scene_rng, start, hands[0], side, (shifts[0, 1], shifts[0, 0]))
        occluders = None
        out = []
        for scene, hand, (dx, dy) in zip(frames, hands, shifts, strict=True):
            background = canvas[dy : dy + config.image_size, dx : dx + config.image_size]
            frame, occluders = self.compose(
                scene, hand, background, scene_rng, noise_rng, occluders
            )
            out.append(frame)
        return out

    # ---- rendering ----

    def _mesh(self, scene: Scene) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Model-frame verts `(V, 3)`, joints `(21, 3)` and the 48-value pose of a scene."""
        pose = np.concatenate([scene.global_rot, scene.articulation.reshape(-1)])
        with torch.no_grad():
            verts, joints = self.layer(
                torch.as_tensor(pose, dtype=torch.float32)[None],
                torch.as_tensor(scene.betas, dtype=torch.float32)[None],
            )
        return verts[0].double().numpy(), joints[0].double().numpy(), pose

    def _render_scene(
        self, verts: np.ndarray, joints: np.ndarray, K: np.ndarray, scene: Scene
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Render hand and forearm: premultiplied colour `(H, W, 3)`, coverage `(H, W)` and the
        supersampled face index `(sH, sW)` (faces past the hand's are the forearm's)."""
        factor = self.config.supersample
        rotation = Rotation.from_rotvec(scene.global_rot).as_matrix()
        arm_root, arm_normals, along = forearm_tube((verts - joints[0]) @ rotation, scene.forearm)
        arm_colours = scene.skin.vertex_colours(arm_root, arm_normals)
        if scene.forearm.sleeve_start is not None:
            arm_colours[along >= scene.forearm.sleeve_start] = scene.forearm.sleeve_colour
        colours = np.concatenate(
            [scene.skin.vertex_colours(self.rest_verts, self.rest_normals), arm_colours]
        )
        all_verts = np.concatenate([verts, arm_root @ rotation.T + joints[0]])
        light = torch.as_tensor(scene.lights.vector, dtype=torch.float32)[None]
        lights = Lights.from_vector(light)
        lights.specular_intensity = torch.tensor([scene.lights.specular], dtype=torch.float32)
        lights.shininess = scene.lights.shininess
        K_big = supersampled_intrinsics(torch.as_tensor(K, dtype=torch.float32)[None], factor)
        out = render_mesh(
            torch.as_tensor(all_verts, dtype=torch.float32)[None],
            self.scene_faces,
            K_big,
            self.settings,
            vertex_colors=torch.as_tensor(colours, dtype=torch.float32)[None],
            lights=lights,
        )
        rgb = F.avg_pool2d(out.rgb.clamp(0, 1) * out.alpha, factor)[0].permute(1, 2, 0)
        alpha = F.avg_pool2d(out.alpha, factor)[0, 0]
        return rgb.double().numpy(), alpha.double().numpy(), out.face_index[0].numpy()

    def _self_visible(self, keypoints: np.ndarray, face_index: np.ndarray) -> np.ndarray:
        """`(21,)` bool: the surface seen at each keypoint belongs to that joint's segments."""
        factor = self.config.supersample
        size = face_index.shape[0]
        pixels = np.clip(np.round(keypoints * factor + (factor - 1) / 2).astype(int), 0, size - 1)
        faces = face_index[pixels[:, 1], pixels[:, 0]]
        owners = np.where(faces >= 0, self.face_owners[np.maximum(faces, 0)], -1)
        return np.array(
            [o < 0 or o in allowed for o, allowed in zip(owners, self.allowed_owners, strict=True)]
        )

    def _backdrop(
        self,
        rng: np.random.Generator,
        scene: Scene,
        hand: HandLayer,
        side: int,
        offset: tuple[int, int] = (0, 0),
    ) -> np.ndarray:
        """A square background `(side, side, 3)` that `hand`, seen through the window at
        `offset` (top, left), stands out from."""
        luma = appearance.hand_luma(scene.skin, scene.lights)
        return appearance.pick_background(rng, hand.rgb, hand.alpha, luma, (side, side), offset)

    def render_hand(self, scene: Scene) -> HandLayer:
        """Place and render the hand of `scene` (and its forearm), no background yet."""
        size = self.config.image_size
        verts0, joints0, pose = self._mesh(scene)
        K = intrinsics(scene.placement.focal, size)
        trans = place_hand(verts0, K, size, scene.placement)
        verts, joints = verts0 + trans, joints0 + trans
        verts = verts.astype(np.float32).astype(np.float64)  # exactly what is stored
        rgb, alpha, face_index = self._render_scene(verts, joints, K, scene)
        return HandLayer(verts, joints, pose, trans, K, rgb, alpha, face_index)

    def compose(
        self,
        scene: Scene,
        hand: HandLayer,
        background: np.ndarray,
        scene_rng: np.random.Generator,
        noise_rng: np.random.Generator,
        occluders: list[appearance.Blob] | None,
    ) -> tuple[SynthFrame, list[appearance.Blob]]:
        """Composite `hand` over `background` `(H, W, 3)`; occluders None draws new ones.

        Returns the frame and the occluders drawn (a clip keeps them for its next frames)."""
        size = self.config.image_size
        keypoints = project(hand.joints, hand.K)
        image = hand.rgb + (1 - hand.alpha[..., None]) * background
        if occluders is None:
            occluders = appearance.sample_occluders(
                scene_rng, size, keypoints, self.config.occluder_probability
            )
        image, occluder = appearance.paint_occluders(image, occluders)
        luma = appearance.hand_luma(scene.skin, scene.lights)
        image = appearance.apply_camera_look(image, scene.look, luma, scene_rng)
        image = np.round(image * 255).astype(np.uint8)
        visible = self._visible(keypoints, hand.face_index, occluder)
        frame = SynthFrame(image=image)
        frame.inputs = self._keypoint_inputs(image, keypoints, visible, noise_rng) | {"K": hand.K}
        box = verts_box_fraction(hand.verts, hand.K, size)
        frame.truth = {
            "joints3d": hand.joints,
            "verts": hand.verts,
            "keypoints2d": keypoints,
            "pose": hand.pose,
            "betas": scene.betas,
            "trans": hand.trans,
            "mask": hand_mask(hand.verts, self.faces, hand.K, size, self.config.supersample),
            "visible": visible,
            "occluder": occluder >= 0.5,
            "lights": scene.lights.vector,
            "skin": scene.skin.base,
            "view": np.int8(view_of(scene.global_rot)),
            "box_fraction": np.float64(box),
        }
        return frame, occluders

    def _visible(
        self, keypoints: np.ndarray, face_index: np.ndarray, occluder: np.ndarray
    ) -> np.ndarray:
        size = self.config.image_size
        inside = ((keypoints > -0.5) & (keypoints < size - 0.5)).all(axis=1)
        pixels = np.clip(np.round(keypoints).astype(int), 0, size - 1)
        uncovered = occluder[pixels[:, 1], pixels[:, 0]] < OCCLUDED_COVERAGE
        return inside & uncovered & self._self_visible(keypoints, face_index)

    def _keypoint_inputs(
        self,
        image: np.ndarray,
        keypoints: np.ndarray,
        visible: np.ndarray,
        rng: np.random.Generator,
    ) -> dict[str, np.ndarray]:
        noisy, confidence = self.noise.apply(keypoints, rng, visible)
        inputs = {"keypoints_noise": noisy, "confidence_noise": confidence}
        if self.detector is not None:
            inputs |= detect_keypoints(self.detector, image)
        return inputs


def hand_mask(
    verts: np.ndarray, faces: torch.Tensor, K: np.ndarray, image_size: int, supersample: int
) -> np.ndarray:
    """`(H, W)` bool silhouette of the whole hand (also where the forearm or an occluder hides
    it): antialiased coverage at least one half."""
    settings = RenderSettings(
        image_size=(image_size, image_size), mode="hard", double_sided=True, supersample=supersample
    )
    coverage = silhouette(
        torch.as_tensor(verts, dtype=torch.float32)[None],
        faces,
        torch.as_tensor(K, dtype=torch.float32)[None],
        settings,
    )
    return coverage[0, 0].numpy() >= 0.5


def verts_box_fraction(verts: np.ndarray, K: np.ndarray, image_size: int) -> float:
    """Longer side of the projected vertices' box as a fraction of the image side."""
    uv = project(verts, K)
    return float(np.ptp(uv, axis=0).max()) / image_size


def detect_keypoints(detector: HandDetector, image: np.ndarray) -> dict[str, np.ndarray]:
    """The real detector's best hand on `image`, or zeros with confidence 0 when none."""
    detections = detector.detect(image)
    if not detections:
        return {
            "keypoints_detector": np.zeros((NUM_KEYPOINTS, 2)),
            "confidence_detector": np.zeros(NUM_KEYPOINTS),
        }
    best = detections[0]
    return {"keypoints_detector": best.keypoints, "confidence_detector": best.confidence}


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
