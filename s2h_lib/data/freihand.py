"""FreiHAND (Zimmermann et al., ICCV 2019) as a dataset of `HandSample`s.

FreiHAND images are 224 x 224 crops with their own intrinsics, so no crop is needed: a sample is
the image (optionally resized), its K, 2D keypoints from a detector, and, only when asked for,
the ground truth. The training set holds 32,560 hands, each rendered in 4 versions (green-screen
original plus 3 background/colour variants): image `i + v * 32560` is version `v` of hand `i`
and shares its annotations. S2HAND trained on version 0 only (method notes section 1.2), which
is the default here.

Validation. FreiHAND has no validation set, and its evaluation set is the test set: choosing
settings on it tunes to the test. So a held-out part of the training set is carved out by
hand (`held_out_hands`: `VAL_FRACTION` of the hands, picked by a fixed rule, the same on every
machine), with all 4 versions of a hand on the same side: `part="train"` leaves them out,
`part="val"` is only them.

The annotation JSON files are large (training_verts.json is about 1.4 GB of text): each is read
at most once per process, into a read-only numpy array shared by every dataset object that
needs it, and only when the options ask for it (verts only with `with_truth`).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from s2h_lib.data.crop import (
    CropBox,
    apply_affine,
    project_points,
    update_intrinsics,
    warp_image,
)
from s2h_lib.data.image_io import read_rgb, to_tensor
from s2h_lib.data.keypoint_table import (
    DetectionSource,
    KeypointTable,
    check_coverage,
    load_keypoint_table,
)
from s2h_lib.data.sample import HandSample, HandTruth
from s2h_lib.hand.mano_data import NUM_BETAS
from s2h_lib.hand.mano_io import load_hand_model
from s2h_lib.hand.skeleton import NUM_KEYPOINTS

SPLITS = ("training", "evaluation")
PARTS = ("all", "train", "val")
VAL_FRACTION = 0.05  # of the training hands held out as the validation set (1629 of 32560)
GOLDEN_HASH = 2654435761  # round(2^32 / golden ratio): Knuth's multiplicative hash
KEYPOINT_SOURCES = ("detections", "truth")
NUM_VERSIONS = {"training": 4, "evaluation": 1}
MANO_NUM_VERTS = 778  # the official MANO mesh the verts files hold
MANO_VECTOR_SIZE = 61  # 48 pose + 10 betas + 2 uv_root + 1 scale
POSE_SIZE = 48
MASK_THRESHOLD = 0.5  # masks are JPEGs: their edges are not exactly 0 or 255

LAYOUT = """\
  <root>/                                 the unpacked FreiHAND_pub_v2 (+ _eval) folder
    training/rgb/00000000.jpg ...         4 x 32560 images; hand i, version v is i + v * 32560
    training/mask/00000000.jpg ...        32560 hand masks (optional)
    training_K.json                       32560 x 3 x 3 intrinsics, pixels
    training_xyz.json                     32560 x 21 x 3 joints, metres, camera frame
    training_mano.json                    32560 x 1 x 61 MANO vectors (optional)
    training_verts.json                   32560 x 778 x 3 vertices, metres (optional)
    evaluation/rgb/00000000.jpg ...       3960 images (evaluation/mask optional)
    evaluation_K.json, evaluation_xyz.json, evaluation_mano.json, evaluation_verts.json"""


class FreiHANDLayoutError(FileNotFoundError):
    """A file or folder of the FreiHAND layout is missing."""


def _missing(path: Path, root: Path) -> FreiHANDLayoutError:
    return FreiHANDLayoutError(
        f"FreiHAND file not found: {path}\nExpected this layout under {root}:\n{LAYOUT}"
    )


@functools.lru_cache(maxsize=8)
def _read_json_array(path: str, _mtime_ns: int, _size: int) -> np.ndarray:
    """The JSON file at `path` as a read-only float array (cache key includes mtime and size,
    so an edited file is read again)."""
    try:
        with open(path) as file:
            array = np.asarray(json.load(file), dtype=np.float32)
    except (json.JSONDecodeError, ValueError) as error:
        raise ValueError(f"{path} is not a JSON array of numbers: {error}") from error
    array.flags.writeable = False
    return array


def load_json_array(path: Path, tail: tuple[int, ...], root: Path) -> np.ndarray:
    """(N, *tail) float32 array from a FreiHAND annotation file, read once per process."""
    if not path.is_file():
        raise _missing(path, root)
    stat = path.stat()
    array = _read_json_array(str(path), stat.st_mtime_ns, stat.st_size)
    if array.ndim < 1 or int(np.prod(array.shape[1:])) != int(np.prod(tail)):
        raise ValueError(f"{path}: expected an array of shape (N, {tail}), got {array.shape}")
    return array.reshape(-1, *tail)


def held_out_hands(num_hands: int) -> np.ndarray:
    """The sorted indices of the training hands held out for validation: hand i is held out
    when frac(i x golden ratio) < VAL_FRACTION (a Weyl sequence, so the held-out hands are
    spread evenly over the file; exact integer arithmetic, no random generator whose stream
    could change between library versions, and a hand's side does not depend on how many
    hands there are). Raises ValueError when no hand would be left to train on."""
    if num_hands < 2:
        raise ValueError(f"cannot hold out validation hands from {num_hands} training hand(s)")
    ids = np.arange(num_hands, dtype=np.uint64)
    position = (ids * np.uint64(GOLDEN_HASH)) % np.uint64(2**32)
    return np.flatnonzero(position < np.uint64(round(VAL_FRACTION * 2**32)))


def _resize_matrix(height: int, width: int, size: int | None) -> Tensor | None:
    """Pixel affine resizing an image to `size` x `size` (a non-square image is padded to a
    square first), or None when nothing changes."""
    if size is None or (height == width == size):
        return None
    return CropBox((width - 1) / 2, (height - 1) / 2, float(max(height, width))).matrix(size)


class FreiHAND(Dataset):
    """FreiHAND images as `HandSample`s, in FreiHAND keypoint order.

    root: the folder holding `training/`, `evaluation/` and the `*_K.json` etc. files (LAYOUT).
    split: "training" or "evaluation".
    part: of the training split, "all" hands, the "train" part or the held-out "val" part
        (module docstring); the evaluation split is always "all".
    size: output side in pixels (the images are resized and K with them), None for the native
        224 x 224.
    with_truth: attach `HandTruth` (evaluation, or a labelled supervision run). Truth joints3d
        come from `*_xyz.json`; keypoints2d are their projection with the sample's K; verts
        from `*_verts.json` and pose and betas from `*_mano.json` when both files are present
        (has_mesh True), else zeros (has_mesh False, as `HandTruth` specifies); mask from the
        split's `mask/` folder, else zeros.
    keypoints: "detections" (the self-supervised setting: 2D keypoints from `detections`) or
        "truth" (the projected ground-truth joints with confidence 1: the labelled
        weak-supervision run; reads `*_xyz.json`).
    detections: a detection JSON (ours from `s2h data detect`, or S2HAND's OpenPose file) or a
        mapping image name -> (keypoints (21, 2), confidence (21,)) in pixels of the original
        224 x 224 images; names may be file names or stems ("00000012.jpg" or "00000012").
        Images without a detection get confidence 0 (`missing_detections` counts them).
        Required for the training split with keypoints="detections"; the evaluation split may
        leave it None (keypoints zero, confidence 0: the model reads only the image there).
    versions: which of the 4 training image versions to use (evaluation: only 0).
    mano_root: the hand model whose `hands_mean` turns FreiHAND's pose into `HandTruth.pose`.

    About the MANO vector (61 values, FreiHAND's utils/model.py): 48 axis-angle values (root,
    then 15 joints), stored *without* the hand mean (`flat_hand_mean=False`), then 10 betas,
    then the root's 2D position (2) and an orthographic scale (1), which are not a translation
    and are not needed here (joints3d and verts have their own files). `HandTruth.pose` includes
    the hand mean, so `hands_mean` of the official MANO model is added: pass its folder as
    `mano_root`. With `mano_root=None` the open hand model's mean (a relaxed pose in the same
    rest-frame convention) is added instead, so `pose` is then only an approximation; joints3d
    and verts do not depend on this choice.
    """

    def __init__(
        self,
        root: str | Path,
        split: str = "training",
        *,
        part: str = "all",
        size: int | None = 224,
        with_truth: bool = False,
        keypoints: str = "detections",
        detections: DetectionSource | None = None,
        versions: tuple[int, ...] = (0,),
        mano_root: str | Path | None = None,
    ) -> None:
        self.root = Path(root).expanduser()
        self._check_options(split, part, keypoints, versions, size)
        self.split, self.part, self.size, self.with_truth = split, part, size, with_truth
        self.keypoint_source, self.versions, self.mano_root = keypoints, tuple(versions), mano_root
        self.image_dir = self.root / split / "rgb"
        if not self.image_dir.is_dir():
            raise _missing(self.image_dir, self.root)
        self.K = load_json_array(self.root / f"{split}_K.json", (3, 3), self.root)
        self.num_hands = len(self.K)
        self.hands = self._part_hands()
        needs_xyz = with_truth or keypoints == "truth"
        self.xyz = self._annotation("xyz", (NUM_KEYPOINTS, 3)) if needs_xyz else None
        self.detections, self.missing_detections = self._load_detections(detections)
        self._mesh = self._load_mesh() if with_truth else None

    # ---- construction -----------------------------------------------------------------------

    @staticmethod
    def _check_options(
        split: str, part: str, keypoints: str, versions: tuple[int, ...], size: int | None
    ) -> None:
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        if part not in PARTS or (split == "evaluation" and part != "all"):
            raise ValueError(
                f"part must be one of {PARTS} for the training split and 'all' for the "
                f"evaluation split, got part={part!r} with split={split!r}"
            )
        if keypoints not in KEYPOINT_SOURCES:
            raise ValueError(f"keypoints must be one of {KEYPOINT_SOURCES}, got {keypoints!r}")
        allowed = range(NUM_VERSIONS[split])
        if not versions or any(v not in allowed for v in versions):
            raise ValueError(
                f"versions for the {split} split must be a non-empty subset of "
                f"{tuple(allowed)}, got {versions!r}"
            )
        if size is not None and size < 1:
            raise ValueError(f"size must be a positive number of pixels or None, got {size}")

    def _part_hands(self) -> np.ndarray:
        """The hand indices (into the annotation files) this dataset's `part` holds."""
        if self.part == "all":
            return np.arange(self.num_hands)
        held_out = held_out_hands(self.num_hands)
        if self.part == "val":
            return held_out
        return np.setdiff1d(np.arange(self.num_hands), held_out)

    def _annotation(self, kind: str, tail: tuple[int, ...]) -> np.ndarray:
        array = load_json_array(self.root / f"{self.split}_{kind}.json", tail, self.root)
        if len(array) != self.num_hands:
            raise ValueError(
                f"{self.split}_{kind}.json holds {len(array)} entries, but "
                f"{self.split}_K.json holds {self.num_hands}"
            )
        return array

    def _load_detections(self, source: DetectionSource | None) -> tuple[KeypointTable | None, int]:
        if self.keypoint_source == "truth":
            return None, 0
        if source is None:
            if self.split == "training" and self.part != "val":
                raise ValueError(
                    "FreiHAND training needs 2D keypoints: pass detections= (a `s2h data detect` "
                    "JSON, S2HAND's OpenPose file or a dict), or keypoints='truth' for the "
                    "labelled weak-supervision run"
                )
            return None, 0
        table = load_keypoint_table(source, key=lambda name: Path(name).stem)
        names = [self.name(i) for i in range(len(self))]
        return table, check_coverage(table, names, f"FreiHAND {self.split}")

    def _load_mesh(self) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """(verts (N, 778, 3), mano (N, 61), hands_mean (45,)), or None without mesh files."""
        verts_path = self.root / f"{self.split}_verts.json"
        mano_path = self.root / f"{self.split}_mano.json"
        if not (verts_path.is_file() and mano_path.is_file()):
            return None
        verts = self._annotation("verts", (MANO_NUM_VERTS, 3))
        mano = self._annotation("mano", (MANO_VECTOR_SIZE,))
        return verts, mano, load_hand_model(self.mano_root).hands_mean.astype(np.float32)

    # ---- items ------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.hands) * len(self.versions)

    def _indices(self, index: int) -> tuple[int, int]:
        """(hand index into the annotation files, image file number) of item `index`."""
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} samples")
        index %= len(self)
        hand = int(self.hands[index % len(self.hands)])
        return hand, hand + self.versions[index // len(self.hands)] * self.num_hands

    def name(self, index: int) -> str:
        """The image's file stem, e.g. "00032571" for version 1 of hand 11."""
        return f"{self._indices(index)[1]:08d}"

    def __getitem__(self, index: int) -> HandSample:
        hand, number = self._indices(index)
        rgb = read_rgb(self.image_dir / f"{number:08d}.jpg")
        image = to_tensor(rgb)
        K = torch.from_numpy(self.K[hand].astype(np.float64))
        A = _resize_matrix(rgb.shape[0], rgb.shape[1], self.size)
        if A is not None:
            image = warp_image(image, A, self.size)
            K = update_intrinsics(A, K)
        keypoints, confidence = self._keypoints(hand, number, K, A)
        truth = self._truth(hand, K, A, image.shape[-2:]) if self.with_truth else None
        return HandSample(
            image=image,
            K=K.float(),
            keypoints=keypoints.float(),
            confidence=confidence.float(),
            truth=truth,
            name=f"{number:08d}",
        )

    def _keypoints(
        self, hand: int, number: int, K: Tensor, A: Tensor | None
    ) -> tuple[Tensor, Tensor]:
        if self.keypoint_source == "truth":
            points = project_points(torch.from_numpy(self.xyz[hand].astype(np.float64)), K)
            return points, torch.ones(NUM_KEYPOINTS, dtype=torch.float64)
        found = None if self.detections is None else self.detections.get(f"{number:08d}")
        if found is None:
            return torch.zeros(NUM_KEYPOINTS, 2), torch.zeros(NUM_KEYPOINTS)
        points, confidence = (torch.from_numpy(a) for a in found)
        return (points if A is None else apply_affine(A, points)), confidence

    def _truth(self, hand: int, K: Tensor, A: Tensor | None, shape: torch.Size) -> HandTruth:
        joints = torch.from_numpy(self.xyz[hand].astype(np.float64))
        verts, pose, betas = self._mesh_truth(hand)
        return HandTruth(
            joints3d=joints.float(),
            verts=verts,
            keypoints2d=project_points(joints, K).float(),
            pose=pose,
            betas=betas,
            mask=self._mask(hand, A, shape),
            has_mesh=torch.tensor(self._mesh is not None),
        )

    def _mesh_truth(self, hand: int) -> tuple[Tensor, Tensor, Tensor]:
        if self._mesh is None:
            return torch.zeros(MANO_NUM_VERTS, 3), torch.zeros(POSE_SIZE), torch.zeros(NUM_BETAS)
        verts, mano, hands_mean = self._mesh
        pose = mano[hand, :POSE_SIZE].copy()
        pose[3:] += hands_mean
        betas = mano[hand, POSE_SIZE : POSE_SIZE + NUM_BETAS]
        return torch.from_numpy(verts[hand].copy()), torch.from_numpy(pose), torch.tensor(betas)

    def _mask(self, hand: int, A: Tensor | None, shape: torch.Size) -> Tensor:
        """(H, W) {0, 1} silhouette; zeros when the split has no mask folder."""
        path = self.root / self.split / "mask" / f"{hand:08d}.jpg"
        if not path.parent.is_dir():
            return torch.zeros(tuple(shape))
        mask = to_tensor(read_rgb(path))[:1]
        if A is not None:
            mask = warp_image(mask.expand(3, -1, -1), A, self.size)[:1]
        return (mask[0] >= MASK_THRESHOLD).float()
