"""Tiny fake FreiHAND and HO3D folders in the official layouts, for the loader tests.

Written independently of the loaders: the HO3D joint order and the OpenGL flip are spelled out
here by hand, so a loader bug cannot cancel against the same bug in the fixture.
"""

from __future__ import annotations

import json
import pickle
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

FREIHAND_SIZE = 224
HO3D_WIDTH, HO3D_HEIGHT = 640, 480
NUM_VERTS = 778
# HO3D joint j is FreiHAND keypoint HO3D_ORDER[j]: wrist, index 1-3, middle 1-3, pinky 1-3,
# ring 1-3, thumb 1-3, then the tips thumb, index, middle, ring, pinky.
HO3D_ORDER = (0, 5, 6, 7, 9, 10, 11, 17, 18, 19, 13, 14, 15, 1, 2, 3, 4, 8, 12, 16, 20)
GL_FLIP = np.array([1.0, -1.0, -1.0])


def hand_joints(rng: np.random.Generator, centre: np.ndarray) -> np.ndarray:
    """(21, 3) points around `centre` (metres, OpenCV frame), a hand-sized cloud."""
    return centre + rng.uniform(-0.05, 0.05, size=(21, 3))


def project(points: np.ndarray, K: np.ndarray) -> np.ndarray:
    uvw = points @ K.T
    return uvw[:, :2] / uvw[:, 2:]


def noise_image(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Smooth random colours (JPEG keeps them close), (H, W, 3) uint8."""
    coarse = rng.uniform(0, 255, size=(height // 16 + 1, width // 16 + 1, 3)).astype(np.uint8)
    return np.asarray(Image.fromarray(coarse).resize((width, height), Image.BILINEAR))


def save_image(array: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, quality=95)


@dataclass
class FakeFreiHAND:
    root: Path
    K: np.ndarray  # (N, 3, 3)
    xyz: np.ndarray  # (N, 21, 3)
    mano: np.ndarray  # (N, 61)
    verts: np.ndarray  # (N, 778, 3)
    mask_boxes: np.ndarray  # (N, 4) x0, y0, x1, y1 of the white mask rectangle
    detections: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)


def make_freihand(
    root: Path,
    split: str = "training",
    num_hands: int = 3,
    versions: int = 2,
    seed: int = 0,
) -> FakeFreiHAND:
    """A FreiHAND split with `num_hands` hands x `versions` images, masks, all JSON files, and
    detections (the projected joints plus 0.5 px, confidence 0.8) for version-0 images."""
    rng = np.random.default_rng(seed)
    K = np.zeros((num_hands, 3, 3))
    K[:, 0, 0] = rng.uniform(400, 600, num_hands)
    K[:, 1, 1] = K[:, 0, 0] * rng.uniform(0.98, 1.02, num_hands)
    K[:, 0, 2] = rng.uniform(100, 124, num_hands)
    K[:, 1, 2] = rng.uniform(100, 124, num_hands)
    K[:, 2, 2] = 1.0
    xyz = np.stack([hand_joints(rng, np.array([0.0, 0.0, 0.6])) for _ in range(num_hands)])
    mano = rng.normal(scale=0.3, size=(num_hands, 61))
    verts = rng.normal(loc=(0, 0, 0.6), scale=0.03, size=(num_hands, NUM_VERTS, 3))
    fake = FakeFreiHAND(root, K, xyz, mano, verts, np.zeros((num_hands, 4), dtype=int))
    for hand in range(num_hands):
        uv = project(xyz[hand], K[hand])
        for version in range(versions):
            number = hand + version * num_hands
            save_image(
                noise_image(rng, FREIHAND_SIZE, FREIHAND_SIZE),
                root / split / "rgb" / f"{number:08d}.jpg",
            )
        x0, y0 = np.floor(uv.min(0)).astype(int) - 2
        x1, y1 = np.ceil(uv.max(0)).astype(int) + 2
        fake.mask_boxes[hand] = (x0, y0, x1, y1)
        mask = np.zeros((FREIHAND_SIZE, FREIHAND_SIZE, 3), dtype=np.uint8)
        mask[y0 : y1 + 1, x0 : x1 + 1] = 255
        save_image(mask, root / split / "mask" / f"{hand:08d}.jpg")
        fake.detections[f"{hand:08d}.jpg"] = (uv + 0.5, np.full(21, 0.8))
    write_json(root / f"{split}_K.json", K)
    write_json(root / f"{split}_xyz.json", xyz)
    write_json(root / f"{split}_mano.json", mano[:, None, :])  # FreiHAND nests each as (1, 61)
    write_json(root / f"{split}_verts.json", verts)
    return fake


def write_json(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(np.asarray(array).tolist()))


def write_openpose(path: Path, detections: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
    """S2HAND's OpenPose file: [peaks N x 21 x 2, values N x 21 x 1, names]."""
    names = list(detections)
    peaks = [detections[n][0].tolist() for n in names]
    values = [detections[n][1][:, None].tolist() for n in names]
    write_json_value(path, [peaks, values, names])


def write_json_value(path: Path, value: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value))


@dataclass
class FakeHO3D:
    root: Path
    version: str
    frames: dict[str, list[str]]  # split -> "SEQ/FRAME" lines
    cam: dict[str, np.ndarray] = field(default_factory=dict)  # name -> (3, 3)
    joints_cv: dict[str, np.ndarray] = field(default_factory=dict)  # FreiHAND order, OpenCV
    pose: dict[str, np.ndarray] = field(default_factory=dict)  # (48,) as stored (OpenGL root)
    betas: dict[str, np.ndarray] = field(default_factory=dict)
    trans: dict[str, np.ndarray] = field(default_factory=dict)  # OpenGL frame
    boxes: dict[str, np.ndarray] = field(default_factory=dict)  # evaluation handBoundingBox

    def mesh_parameters(self, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(handPose (48,), handBeta (10,), handTrans (3,)) of a train frame, as stored."""
        return self.pose[name], self.betas[name], self.trans[name]


TRAIN_FRAMES = ("SEQA/0000", "SEQA/0001", "SEQB/0000")
EVAL_FRAMES = ("SEQC/0000", "SEQC/0001")


def make_ho3d(root: Path, version: str = "v2", seed: int = 0) -> FakeHO3D:
    """HO3D train (3 frames, 2 sequences) and evaluation (2 frames) in `version`'s layout."""
    rng = np.random.default_rng(seed)
    suffix = ".png" if version == "v2" else ".jpg"
    fake = FakeHO3D(root, version, {"train": list(TRAIN_FRAMES), "evaluation": list(EVAL_FRAMES)})
    root.mkdir(parents=True, exist_ok=True)
    for split, frames in fake.frames.items():
        (root / f"{split}.txt").write_text("\n".join(frames) + "\n")
        for name in frames:
            sequence, frame = name.split("/")
            folder = root / split / sequence
            save_image(
                noise_image(rng, HO3D_HEIGHT, HO3D_WIDTH), folder / "rgb" / f"{frame}{suffix}"
            )
            cam = np.array([[617.0, 0, 315.0], [0, 617.0, 242.0], [0, 0, 1]]) + np.diag(
                [rng.uniform(-5, 5), rng.uniform(-5, 5), 0]
            )
            centre = np.array([rng.uniform(-0.08, 0.08), rng.uniform(-0.05, 0.05), 0.55])
            joints = hand_joints(rng, centre)
            joints_gl_ho3d = joints[list(HO3D_ORDER)] * GL_FLIP
            meta = {"camMat": cam, "objName": "006_mustard_bottle"}
            if split == "train":
                fake.pose[name] = rng.normal(scale=0.3, size=48)
                fake.betas[name] = rng.normal(scale=0.5, size=10)
                fake.trans[name] = centre * GL_FLIP
                meta.update(
                    handJoints3D=joints_gl_ho3d,
                    handPose=fake.pose[name],
                    handBeta=fake.betas[name],
                    handTrans=fake.trans[name],
                )
            else:
                uv = project(joints, cam)
                fake.boxes[name] = np.concatenate([uv.min(0), uv.max(0)])
                meta.update(handJoints3D=joints_gl_ho3d[0], handBoundingBox=fake.boxes[name])
            fake.cam[name], fake.joints_cv[name] = cam, joints
            (folder / "meta").mkdir(parents=True, exist_ok=True)
            with (folder / "meta" / f"{frame}.pkl").open("wb") as file:
                pickle.dump(meta, file, protocol=2)
    return fake
