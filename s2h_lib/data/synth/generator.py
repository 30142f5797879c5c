"""S2H-Synth: render one synthetic hand photo (or one clip) with its keypoints and ground truth.

The scene (`scene.py`): a pose (`poses.py`), a shape, a placement before the camera
(`placement.py`), a forearm (`forearm.py`) and the looks: skin tone, lights, exposure and noise
(`appearance.py`), the background (`backgrounds.py`) and occluders (`occluders.py`). `config.py`
says how one seed decides a sample.

Rendering uses the hard (z-buffer) renderer at `supersample` times the resolution, averaged
down, then composited over the background with the coverage as alpha.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from scipy.spatial.transform import Rotation

from s2h_lib.data.synth import appearance
from s2h_lib.data.synth.backgrounds import pick_background
from s2h_lib.data.synth.config import SynthConfig, sample_seed
from s2h_lib.data.synth.forearm import ARM_FACES, ARM_OWNER, forearm_tube
from s2h_lib.data.synth.noise import NoiseModel
from s2h_lib.data.synth.occluders import Blob, paint_occluders, sample_occluders
from s2h_lib.data.synth.placement import (
    intrinsics,
    place_hand,
    project,
    verts_box_fraction,
    view_of,
)
from s2h_lib.data.synth.poses import PoseSampler
from s2h_lib.data.synth.scene import Scene, clip_scenes, sample_scene
from s2h_lib.hand.hand_model import ManoLayer
from s2h_lib.hand.mano_data import MANO_PARENTS
from s2h_lib.hand.mano_io import load_hand_model
from s2h_lib.hand.skeleton import FREIHAND_FROM_MANO, NUM_KEYPOINTS
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

CLIP_PAN = 0.1  # background canvas margin, x image side
OCCLUDED_COVERAGE = 0.5
# MANO joint a fingertip hangs from, thumb to pinky (MANO order: index 1-3, middle 4-6,
# pinky 7-9, ring 10-12, thumb 13-15).
TIP_PARENTS = (15, 3, 6, 12, 9)


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
    visible, occluder, lights, skin, view, box_fraction). See `layout.py` for shapes.
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
        """A random scene at this benchmark's image size."""
        return sample_scene(rng, self.poses, self.config.image_size)

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
        return pick_background(rng, hand.rgb, hand.alpha, luma, (side, side), offset)

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
        occluders: list[Blob] | None,
    ) -> tuple[SynthFrame, list[Blob]]:
        """Composite `hand` over `background` `(H, W, 3)`; occluders None draws new ones.

        Returns the frame and the occluders drawn (a clip keeps them for its next frames)."""
        size = self.config.image_size
        keypoints = project(hand.joints, hand.K)
        image = hand.rgb + (1 - hand.alpha[..., None]) * background
        if occluders is None:
            occluders = sample_occluders(
                scene_rng, size, keypoints, self.config.occluder_probability
            )
        image, occluder = paint_occluders(image, occluders)
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
