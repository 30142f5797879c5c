"""HO3D v2 / v3 (Hampali et al., CVPR 2020): hands holding objects, as `HandSample` crops.

Camera frame. HO3D stores 3D points in the OpenGL camera frame (x right, y up, the scene along
-z), while `camMat` is an ordinary pinhole matrix (fx, fy > 0) that HO3D applies after flipping
the points: u = camMat (F X_gl) / z with F = diag(1, -1, -1). Here every 3D point is flipped
once on reading, X = F X_gl, so joints and vertices are in the OpenCV frame of DESIGN.md and K is
`camMat` itself, followed by the crop affine. S2HAND reached the same K differently: it
right-multiplied camMat by F (so the OpenGL points could be projected directly), then multiplied
K's 2nd and 3rd columns by -1 after cropping, which undoes that product; it flipped the GT
joints but not its predicted vertices (method notes section 1.3). F is a rotation by pi about x,
so the flip also turns the MANO root rotation: `truth.pose` holds F R_root.

Joint order. HO3D lists MANO's 16 joints and then the 5 fingertips thumb..pinky; they are put
into FreiHAND order with `skeleton.ho3d_to_freihand` (the inverse, for a submission, is
`freihand_to_ho3d`).

Validation. HO3D withholds its evaluation labels (its CodaLab server scores them), so a
validation set is held out of the training sequences (`held_out_recordings`), as FreiHAND's is
held out of its training hands: `part="train"` leaves it out, `part="val"` is only it. It is
split by recording, never by frame: consecutive frames of a sequence are near copies, and
HO3D names the camera views of one multi-camera recording by a last digit after the
recording's number (ABF10 to ABF14 are recording ABF1 seen by five cameras), so all views of a
recording sit on the same side too.

Crop (S2HAND's, method notes section 1.3). The box of the 21 projected joints (training) or the
dataset's `handBoundingBox` (evaluation), padded by 10 px and clipped to the image; a square of
side 4 x its largest half-extent, clamped to [50, 640] px, divided by a factor from U(0.8, 0.9)
drawn per index from `seed`; resized to `size`. The crop centre may get N(0, centre_noise_px^2)
of noise. It is off by default: S2HAND hard-wired 5 px also at test time, where it only makes
the evaluation crops random, and training jitter belongs to `augment`, which moves the image,
keypoints and K together.
Training crops centred on the ground-truth joints use a 3D label (as S2HAND's code did, while
its paper says detected keypoints); `crop_from="detections"` centres them on the detections
instead, so a self-supervised run reads no 3D label at all.
"""

from __future__ import annotations

import functools
import re
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from s2h_lib.data.crop import CropBox, apply_affine, project_points, update_intrinsics, warp_image
from s2h_lib.data.freihand import KEYPOINT_SOURCES, MANO_NUM_VERTS, POSE_SIZE
from s2h_lib.data.image_io import read_rgb, to_tensor
from s2h_lib.data.keypoint_table import (
    DetectionSource,
    KeypointTable,
    check_coverage,
    load_keypoint_table,
)
from s2h_lib.data.sample import HandSample, HandTruth
from s2h_lib.hand.hand_model import ManoLayer
from s2h_lib.hand.mano_data import NUM_BETAS
from s2h_lib.hand.rotations import axis_angle_to_matrix, matrix_to_axis_angle
from s2h_lib.hand.skeleton import NUM_KEYPOINTS, ho3d_to_freihand
from s2h_lib.restricted_pickle import UnreadablePickleError, load_restricted

SPLITS = ("train", "evaluation")
PARTS = ("all", "train", "val")
VAL_FRACTION = 0.05  # of the training frames, at least, held out as whole recordings
VERSIONS = ("v2", "v3")
IMAGE_SUFFIXES = {"v2": (".png", ".jpg"), "v3": (".jpg", ".png")}  # v3 re-released as jpg
CROP_SOURCES = ("truth", "detections")
OPENGL_TO_OPENCV = torch.diag(torch.tensor([1.0, -1.0, -1.0], dtype=torch.float64))
BOX_PADDING_PX = 10.0
CROP_SIDE_PER_HALF_EXTENT = 4.0
CROP_SIDE_RANGE_PX = (50.0, 640.0)
CROP_SHRINK_RANGE = (0.8, 0.9)
DETECTION_FILE = "detect.json"  # S2HAND's per-sequence layout: <dir>/<SEQ>/detect.json

LAYOUT = """\
  <root>/
    train.txt, evaluation.txt             one "SEQ/FRAME" per line
    train/SEQ/rgb/FRAME.png               (v2; v3: .jpg)
    train/SEQ/meta/FRAME.pkl              camMat (3, 3), handJoints3D (21, 3) OpenGL frame,
                                          handPose (48,), handBeta (10,), handTrans (3,)
    evaluation/SEQ/rgb/FRAME.png
    evaluation/SEQ/meta/FRAME.pkl         camMat, handJoints3D (3,) root only,
                                          handBoundingBox [x0, y0, x1, y1]"""


@dataclass(frozen=True)
class _Frame:
    """What one frame's annotations give: joints (21, 3) FreiHAND order, OpenCV frame (train
    split only) and the detection (keypoints (21, 2), confidence (21,)) if there is one."""

    name: str
    meta: dict[str, Any]
    meta_path: Path
    joints: Tensor | None
    detection: tuple[Tensor, Tensor] | None


class HO3DLayoutError(FileNotFoundError):
    """A file or folder of the HO3D layout is missing."""


def _missing(path: Path, root: Path) -> HO3DLayoutError:
    return HO3DLayoutError(
        f"HO3D file not found: {path}\nExpected this layout under {root}:\n{LAYOUT}"
    )


def read_meta(path: Path) -> dict[str, Any]:
    """One HO3D `meta/FRAME.pkl` (written by Python 2, hence latin1) as a dict."""
    try:
        meta = load_restricted(path)  # numpy arrays, numbers and strings only
    except UnreadablePickleError as error:
        raise ValueError(f"{path} is not a readable HO3D meta pickle: {error}") from error
    if not isinstance(meta, dict):
        raise ValueError(f"{path}: expected a dict of annotations, got {type(meta).__name__}")
    return meta


def _meta_array(meta: dict[str, Any], key: str, shape: tuple[int, ...], path: Path) -> Tensor:
    value = meta.get(key)
    if value is None:
        raise ValueError(f"{path} has no '{key}' annotation (HO3D leaves some frames unannotated)")
    array = np.asarray(value, dtype=np.float64)
    if array.size != int(np.prod(shape)):
        raise ValueError(f"{path}: '{key}' has shape {array.shape}, expected {shape}")
    return torch.from_numpy(array.reshape(shape))


def opengl_to_opencv(points: Tensor) -> Tensor:
    """Points (..., 3) from HO3D's OpenGL camera frame to the OpenCV frame: (x, -y, -z)."""
    return points @ OPENGL_TO_OPENCV.to(points)


def _flip_root_rotation(pose: Tensor) -> Tensor:
    """MANO pose (48,) whose root rotation is turned by the OpenGL -> OpenCV flip."""
    root = OPENGL_TO_OPENCV.to(pose) @ axis_angle_to_matrix(pose[:3])
    return torch.cat([matrix_to_axis_angle(root), pose[3:]])


def padded_box(box: Tensor, width: int, height: int) -> Tensor:
    """[x0, y0, x1, y1] grown by BOX_PADDING_PX and clipped to the image's pixel centres."""
    low = (box[:2] - BOX_PADDING_PX).clamp(min=0)
    high = torch.minimum(box[2:] + BOX_PADDING_PX, box.new_tensor([width - 1, height - 1]))
    return torch.cat([low, high])


def crop_around(box: Tensor, rng: np.random.Generator, centre_noise_px: float) -> CropBox:
    """S2HAND's HO3D crop square around a padded [x0, y0, x1, y1] box (module docstring)."""
    shrink = rng.uniform(*CROP_SHRINK_RANGE)
    noise = rng.normal(0.0, 1.0, size=2) * centre_noise_px
    half_extent = float((box[2:] - box[:2]).max()) / 2
    side = np.clip(CROP_SIDE_PER_HALF_EXTENT * half_extent, *CROP_SIDE_RANGE_PX) / shrink
    centre = (box[:2] + box[2:]).numpy() / 2 + noise
    return CropBox(float(centre[0]), float(centre[1]), float(side))


def _frame_key(sequence: str, name: str) -> str:
    """'SEQ/FRAME' of a frame file name inside one sequence's detection file."""
    return f"{sequence}/{Path(name).stem}"


def _sequence_key(name: str) -> str:
    """'SEQ/FRAME' from a detection's image name: 'SEQ/rgb/FRAME.png', 'SEQ/FRAME.jpg', ..."""
    parts = Path(name).parts
    if len(parts) < 2:
        raise ValueError(f"HO3D detection names must include the sequence, got {name!r}")
    sequence = parts[-3] if parts[-2] == "rgb" and len(parts) >= 3 else parts[-2]
    return f"{sequence}/{Path(name).stem}"


def recording(sequence: str) -> str:
    """The recording a sequence's frames come from: a multi-camera view's name without its
    camera digit ('ABF12' -> 'ABF1'); a single-camera sequence (one digit: 'MC2') is its own."""
    match = re.fullmatch(r"(.*\D\d)\d", sequence)
    return match.group(1) if match else sequence


def _hash_position(name: str) -> int:
    """A fixed place in [0, 2^32) for a recording's name: the same on every machine and
    library version, independent of the other names."""
    return zlib.crc32(name.encode("utf-8"))


def held_out_recordings(frames: list[str]) -> set[str]:
    """The recordings ('SEQ/FRAME' lines grouped by `recording`) held out for validation: in
    the fixed order of `_hash_position`, the first ones that together hold at least
    VAL_FRACTION of the frames, never all of them. Raises ValueError when fewer than two
    recordings are given (none would be left to train on)."""
    sizes: dict[str, int] = {}
    for frame in frames:
        key = recording(frame.split("/")[0])
        sizes[key] = sizes.get(key, 0) + 1
    if len(sizes) < 2:
        raise ValueError(
            f"cannot hold out a validation recording from {len(sizes)} training recording(s)"
        )
    held_out: set[str] = set()
    for name in sorted(sizes, key=_hash_position)[:-1]:  # the last one always trains
        if sum(sizes[n] for n in held_out) >= VAL_FRACTION * len(frames):
            break
        held_out.add(name)
    return held_out


def frames_of_part(frames: list[str], part: str) -> list[str]:
    """The 'SEQ/FRAME' lines of the training split's `part` ("all", "train" or "val"), in the
    list's order."""
    if part == "all":
        return frames
    held_out = held_out_recordings(frames)
    in_val = [recording(frame.split("/")[0]) in held_out for frame in frames]
    return [frame for frame, val in zip(frames, in_val, strict=True) if val == (part == "val")]


def _check_options(
    split: str, part: str, version: str, keypoints: str, crop_from: str, size: int, noise: float
) -> None:
    if part not in PARTS or (split == "evaluation" and part != "all"):
        raise ValueError(
            f"part must be one of {PARTS} for the train split and 'all' for the evaluation "
            f"split, got part={part!r} with split={split!r}"
        )
    for value, choices, what in (
        (split, SPLITS, "split"),
        (version, VERSIONS, "version"),
        (keypoints, KEYPOINT_SOURCES, "keypoints"),
        (crop_from, CROP_SOURCES, "crop_from"),
    ):
        if value not in choices:
            raise ValueError(f"{what} must be one of {choices}, got {value!r}")
    if size < 1:
        raise ValueError(f"size must be a positive number of pixels, got {size}")
    if not noise >= 0:
        raise ValueError(f"centre_noise_px must be >= 0, got {noise}")


class HO3D(Dataset):
    """HO3D frames as square hand crops (`HandSample`), in FreiHAND keypoint order.

    root: the folder holding train.txt, evaluation.txt, train/ and evaluation/ (LAYOUT).
    split: "train" or "evaluation". version: "v2" (png images) or "v3" (jpg); both suffixes
        are accepted either way.
    part: of the train split, "all" frames, the "train" part or the held-out "val" recordings
        (module docstring); the evaluation split is always "all".
    size: crop side in pixels.
    with_truth: attach `HandTruth` (train split only: HO3D withholds the evaluation labels,
        which are scored by its CodaLab server). joints3d in FreiHAND order and the OpenCV
        frame; keypoints2d their projection with the crop's K; pose (root turned into the OpenCV
        frame, hand mean included: HO3D's `handPose` is a `flat_hand_mean=True` pose) and betas;
        verts from the official MANO model at `mano_root`. Without `mano_root` there is no mesh:
        has_mesh False and verts, pose, betas zeros (HO3D's pose and betas are parameters of
        the official model and mean nothing to the open one). mask: zeros.
    keypoints: "detections" (the self-supervised setting) or "truth" (the projected
        ground-truth joints with confidence 1: the labelled weak-supervision run; train only).
    detections: 2D keypoints in full-image pixels, FreiHAND order. A mapping 'SEQ/FRAME' ->
        (keypoints (21, 2), confidence (21,)); a detection JSON whose names include the
        sequence ('SEQ/rgb/0000.png'); or a folder with one JSON per sequence,
        `<dir>/SEQ/detect.json` (S2HAND's layout) or `<dir>/SEQ.json`, named by frame file.
        S2HAND published none for HO3D (its issue #17): make them with `s2h data detect`.
        Frames without a detection get confidence 0 (`missing_detections` counts them).
    crop_from: "truth" (S2HAND's code: the projected GT joints, train split) or "detections"
        (no 3D label read; needs `detections`). With "truth" the evaluation split crops
        around the dataset's handBoundingBox (its joints are withheld).
    seed: seeds the per-index crop scale factor and centre noise (same seed, same crops).
    centre_noise_px: standard deviation of the crop centre noise (see the module docstring).
    """

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        version: str = "v2",
        *,
        part: str = "all",
        size: int = 224,
        with_truth: bool = False,
        keypoints: str = "detections",
        detections: DetectionSource | None = None,
        crop_from: str = "truth",
        seed: int = 0,
        centre_noise_px: float = 0.0,
        mano_root: str | Path | None = None,
    ) -> None:
        self.root = Path(root).expanduser()
        _check_options(split, part, version, keypoints, crop_from, size, centre_noise_px)
        if split == "evaluation" and (with_truth or keypoints == "truth"):
            raise ValueError(
                "HO3D's evaluation labels are withheld (only the root joint and the hand box are "
                "published): score predictions on the HO3D CodaLab server; with_truth and "
                "keypoints='truth' need split='train'"
            )
        self.split, self.part, self.version, self.size = split, part, version, size
        self.with_truth, self.keypoint_source, self.crop_from = with_truth, keypoints, crop_from
        self.seed, self.centre_noise_px = seed, centre_noise_px
        self.frames = self._read_list()
        self.detections, self.missing_detections = self._load_detections(detections)
        self._mano = self._mano_layer(mano_root) if with_truth and mano_root is not None else None

    # ---- construction -----------------------------------------------------------------------

    def _read_list(self) -> list[str]:
        path = self.root / f"{self.split}.txt"
        if not path.is_file():
            raise _missing(path, self.root)
        frames = [line.strip() for line in path.read_text().splitlines() if line.strip()]
        malformed = [line for line in frames if len(line.split("/")) != 2]
        if malformed:
            raise ValueError(f"{path}: lines must read 'SEQ/FRAME', got {malformed[0]!r}")
        return frames_of_part(frames, self.part)

    def _load_detections(self, source: DetectionSource | None) -> tuple[KeypointTable | None, int]:
        needed = self.keypoint_source == "detections" or self.crop_from == "detections"
        if not needed:
            return None, 0
        if source is None:
            if self.split == "train" or self.crop_from == "detections":
                raise ValueError(
                    "HO3D needs 2D detections here: S2HAND published none (its issue #17); run "
                    "`s2h data detect` per sequence and pass detections=, or use "
                    "keypoints='truth' (the labelled weak-supervision run)"
                )
            return None, 0
        table = self._detection_table(source)
        return table, check_coverage(table, self.frames, f"HO3D {self.split}")

    def _detection_table(self, source: DetectionSource) -> KeypointTable:
        folder = Path(source).expanduser() if isinstance(source, str | Path) else None
        if folder is None or not folder.is_dir():
            return load_keypoint_table(source, key=_sequence_key)
        table: KeypointTable = {}
        for sequence in sorted({frame.split("/")[0] for frame in self.frames}):
            for path in (folder / sequence / DETECTION_FILE, folder / f"{sequence}.json"):
                if path.is_file():
                    key = functools.partial(_frame_key, sequence)
                    table.update(load_keypoint_table(path, key=key))
                    break
        return table

    @staticmethod
    def _mano_layer(mano_root: str | Path) -> ManoLayer:
        return ManoLayer(mano_root=mano_root, use_pca=False, flat_hand_mean=True).double()

    # ---- items ------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.frames)

    def name(self, index: int) -> str:
        """'SEQ/FRAME' of item `index`."""
        return self.frames[index]

    def _image_path(self, sequence: str, frame: str) -> Path:
        folder = self.root / self.split / sequence / "rgb"
        for suffix in IMAGE_SUFFIXES[self.version]:
            if (folder / f"{frame}{suffix}").is_file():
                return folder / f"{frame}{suffix}"
        raise _missing(folder / f"{frame}{IMAGE_SUFFIXES[self.version][0]}", self.root)

    def _frame(self, index: int) -> _Frame:
        name = self.frames[index]
        sequence, frame = name.split("/")
        path = self.root / self.split / sequence / "meta" / f"{frame}.pkl"
        if not path.is_file():
            raise _missing(path, self.root)
        meta = read_meta(path)
        joints = self._joints(meta, path) if self.split == "train" else None
        found = None if self.detections is None else self.detections.get(name)
        detection = None if found is None else tuple(torch.from_numpy(a) for a in found)
        return _Frame(name, meta, path, joints, detection)

    def __getitem__(self, index: int) -> HandSample:
        frame = self._frame(index)
        rgb = read_rgb(self._image_path(*frame.name.split("/")))
        height, width = rgb.shape[:2]
        K_full = _meta_array(frame.meta, "camMat", (3, 3), frame.meta_path)
        box = padded_box(self._hand_box(frame, K_full), width, height)
        rng = np.random.default_rng([self.seed, index])
        A = crop_around(box, rng, self.centre_noise_px).matrix(self.size)
        K = update_intrinsics(A, K_full)
        keypoints, confidence = self._keypoints(frame, A, K)
        truth = self._truth(frame, K) if self.with_truth else None
        return HandSample(
            image=warp_image(to_tensor(rgb), A, self.size),
            K=K.float(),
            keypoints=keypoints.float(),
            confidence=confidence.float(),
            truth=truth,
            name=frame.name,
        )

    def _joints(self, meta: dict[str, Any], path: Path) -> Tensor:
        """(21, 3) float64 joints, FreiHAND order, OpenCV frame."""
        joints_gl = _meta_array(meta, "handJoints3D", (NUM_KEYPOINTS, 3), path)
        return ho3d_to_freihand(opengl_to_opencv(joints_gl))

    def _hand_box(self, frame: _Frame, K: Tensor) -> Tensor:
        """[x0, y0, x1, y1] full-image box the crop is built around."""
        if self.crop_from == "detections":
            if frame.detection is None or not bool((frame.detection[1] > 0).any()):
                raise ValueError(
                    f"HO3D frame {frame.name} has no detection to crop around "
                    "(crop_from='detections')"
                )
            points = frame.detection[0][frame.detection[1] > 0]
        elif frame.joints is None:
            return _meta_array(frame.meta, "handBoundingBox", (4,), frame.meta_path)
        else:
            points = project_points(frame.joints, K)
        return torch.cat([points.min(dim=0).values, points.max(dim=0).values])

    def _keypoints(self, frame: _Frame, A: Tensor, K: Tensor) -> tuple[Tensor, Tensor]:
        """(21, 2) crop pixels and (21,) confidence."""
        if self.keypoint_source == "truth":
            return project_points(frame.joints, K), torch.ones(NUM_KEYPOINTS)
        if frame.detection is None:
            return torch.zeros(NUM_KEYPOINTS, 2), torch.zeros(NUM_KEYPOINTS)
        return apply_affine(A, frame.detection[0]), frame.detection[1]

    def _truth(self, frame: _Frame, K: Tensor) -> HandTruth:
        verts, pose, betas = self._mesh(frame.meta, frame.meta_path)
        return HandTruth(
            joints3d=frame.joints.float(),
            verts=verts.float(),
            keypoints2d=project_points(frame.joints, K).float(),
            pose=pose.float(),
            betas=betas.float(),
            mask=torch.zeros(self.size, self.size),
            has_mesh=torch.tensor(self._mano is not None),
        )

    def _mesh(self, meta: dict[str, Any], path: Path) -> tuple[Tensor, Tensor, Tensor]:
        """(verts (V, 3) OpenCV frame, pose (48,), betas (10,)), zeros without `mano_root`."""
        if self._mano is None:
            return torch.zeros(MANO_NUM_VERTS, 3), torch.zeros(POSE_SIZE), torch.zeros(NUM_BETAS)
        pose = _meta_array(meta, "handPose", (POSE_SIZE,), path)
        betas = _meta_array(meta, "handBeta", (NUM_BETAS,), path)
        trans = _meta_array(meta, "handTrans", (3,), path)
        with torch.no_grad():
            verts_gl, _ = self._mano(pose[None], betas[None], trans[None])
        return opengl_to_opencv(verts_gl[0]), _flip_root_rotation(pose), betas
