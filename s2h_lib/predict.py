"""`s2h predict`: a trained network on your own photos (detect, crop, predict, write).

The steps, each a function here that notebooks 00, 03 and 09 call as well:
1. `detect_photo`: read a photo and find its hands (mediapipe, the `detect` extra), once;
2. `photo_crops`: a square crop per hand, with its own intrinsics K. A photo has no
   calibration, so its K is `detector.default_intrinsics` (focal length = the longer side);
3. `predict_hand`: the network (batch of 1) on the crop, optionally refined per image
   (`refine.refine_batch`). The network is a right-hand model: a left hand is predicted in the
   mirrored crop and mirrored back (`mirror.py`), so its pose parameters are those of the left
   hand model that mirrors the right one;
4. `write_photo`: per photo `<stem>_overlay.png` (the whole photo with each hand's mesh and
   skeleton, then each hand's crop), `<stem>_hand<k>.obj|ply` (the mesh, metres) and
   `<stem>.json` (`PREDICT_FORMAT`: joints, pose, shape, camera per hand).

Camera frame. A crop is a scale and a shift of the photo's pixels, so its K is A K_photo and
3D points mean the same in both: every 3D output is in the photo's camera frame (OpenCV: x
right, y down, z forward), metres; the joints projected with the JSON's `K` land on the
photo's `keypoints2d`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from torch import Tensor
from tqdm.auto import tqdm

from s2h_lib.atomic import atomic_write_bytes
from s2h_lib.data.crop import project_points, warp_image
from s2h_lib.data.image_io import list_images, read_rgb
from s2h_lib.data.photos.detector import (
    Detection,
    DetectorConfig,
    HandDetector,
    crop_to_image,
    default_intrinsics,
)
from s2h_lib.data.photos.folder import PhotoHand, crop_photo_hand
from s2h_lib.data.sample import HandSample, collate_samples
from s2h_lib.devices import choose_device
from s2h_lib.evaluation.eval_model import load_trained_model
from s2h_lib.fit.fit_photos import FoundHand, reprojection_px
from s2h_lib.fit.refine import refine_batch
from s2h_lib.hand.mesh_io import MESH_FORMATS, write_mesh
from s2h_lib.net.mirror import mirror_prediction
from s2h_lib.net.model import HandNet
from s2h_lib.net.prediction import HandPrediction
from s2h_lib.viz.figures import draw_skeleton_2d
from s2h_lib.viz.overlays import (
    MESH_OPACITY,
    MESH_TINT,
    PANEL_INCHES,
    draw_overlay,
    mesh_alpha,
    save_figure,
)

PREDICT_FORMAT = "s2h-predict/1"
OVERLAY_SUFFIX = "_overlay.png"
DECIMALS = 6


# ---- one photo: detect, crop ----------------------------------------------------------------


@dataclass(frozen=True)
class PhotoHands:
    """A photo and the hands the detector found in it (highest score first).

    image: (H, W, 3) uint8 RGB; detections: `Detection`s in the photo's pixels.
    """

    path: Path
    image: np.ndarray
    detections: list[Detection]

    @property
    def found(self) -> bool:
        return bool(self.detections)

    def summary(self) -> str:
        """One line per hand (side, score, mean joint confidence), or why there is none."""
        if not self.found:
            return no_hand_message(self.path)
        return "\n".join(
            f"hand {rank}: {d.handedness}, score {d.score:.2f}, "
            f"mean joint confidence {d.confidence.mean():.2f}"
            for rank, d in enumerate(self.detections)
        )


def no_hand_message(path: str | Path) -> str:
    """What to tell the user when the detector finds no hand in the photo at `path`."""
    return (
        f"no hand found in {path}: the detector (mediapipe) needs a clearly visible hand, not too "
        "small (a tenth of the photo's height or more), not cut off by the border, in reasonable "
        "light. Try another photo, or crop the photo closer around the hand."
    )


def detect_photo(
    path: str | Path, config: DetectorConfig | None = None, detector: HandDetector | None = None
) -> PhotoHands:
    """Read the photo at `path` and run the hand detector on it: `detector` when given (so a
    folder opens mediapipe once), else a new one with `config`.

    Raises FileNotFoundError naming the path when it is no file, `image_io.ImageReadError`
    when it is no readable image, `extras.MissingExtraError` without mediapipe."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(
            f"photo {path} not found (resolved: {path.resolve()}); expected an image file "
            "(.jpg, .png), e.g. one of s2h_lib/assets/photos/ in the repository"
        )
    image = read_rgb(path)
    if detector is not None:
        return PhotoHands(path, image, detector.detect(image))
    with HandDetector(config or DetectorConfig()) as own:
        return PhotoHands(path, image, own.detect(image))


def photo_crop(photo: PhotoHands, size: int, rank: int = 0) -> FoundHand:
    """The `size` crop around hand `rank` of `photo` (as `s2h fit` crops it).

    Raises ValueError with `no_hand_message` when the detector found no such hand."""
    if rank >= len(photo.detections):
        raise ValueError(no_hand_message(photo.path))
    hand = PhotoHand(photo.path.name, rank, photo.detections[rank])
    return FoundHand(hand, *crop_photo_hand(photo.image, hand, size))


def photo_crops(photo: PhotoHands, size: int) -> list[FoundHand]:
    """Every detected hand of `photo` as a `size` crop, best first (empty when none)."""
    return [photo_crop(photo, size, rank) for rank in range(len(photo.detections))]


# ---- the network on one crop ----------------------------------------------------------------


def _on_cpu(pred: HandPrediction) -> HandPrediction:
    return pred.map(lambda tensor: tensor.detach().cpu())


def predict_hand(net: HandNet, hand: FoundHand, refine: bool = False) -> HandPrediction:
    """The network's prediction (batch of 1, on the CPU) for `hand`, in the hand's own crop;
    with `refine`, fitted further to the crop (`refine.refine_batch`). A left hand is predicted
    in the mirrored crop and mirrored back (the network is a right-hand model)."""
    if net.config.side != "right":
        raise ValueError(f"expected a right-hand network, got side={net.config.side!r}")
    device = next(net.parameters()).device
    batch = collate_samples([hand.to_fit]).to(device)
    if refine:
        pred = refine_batch(net, batch).prediction
    else:
        with torch.no_grad():
            pred = net.predict(batch)
    pred = _on_cpu(pred)
    return mirror_prediction(pred, hand.crop.image.shape[-1]) if hand.side == "left" else pred


def seen_in_crop(pred: HandPrediction, hand: FoundHand) -> HandPrediction:
    """A prediction (batch of 1) made in another crop of `hand`'s photo, with its keypoints2d
    (1, 21, 2) projected into `hand`'s crop instead. Every crop of a photo shares the photo's
    camera frame (its K is a scale and shift of the photo's), so the 3D hand stays as it is."""
    keypoints2d = project_points(pred.joints, hand.crop.K[None].to(pred.joints))
    return replace(pred, keypoints2d=keypoints2d)


def faces_for(hand: FoundHand, faces: Tensor) -> Tensor:
    """The right hand model's triangles `faces` (F, 3) for `hand`'s mesh: a mirrored (left)
    mesh needs their winding reversed, or it is drawn (and culled) as seen from behind."""
    return faces.flip(-1) if hand.side == "left" else faces


def crop_reprojection_px(pred: HandPrediction, hand: FoundHand) -> float:
    """Confidence-weighted mean distance, crop pixels, of the predicted joints' projections to
    the detector's keypoints (`fit_photos.reprojection_px` for one hand)."""
    crop = hand.crop
    one = HandSample(crop.image[None], crop.K[None], crop.keypoints[None], crop.confidence[None])
    return float(reprojection_px(pred, one)[0])


@dataclass(frozen=True)
class HandMesh:
    """A hand mesh in a camera frame, metres: verts (V, 3), joints (21, 3), faces (F, 3)."""

    verts: np.ndarray
    joints: np.ndarray
    faces: np.ndarray


def prediction_mesh(pred: HandPrediction, faces: Tensor, hand: FoundHand) -> HandMesh:
    """The mesh of a prediction (batch of 1) for `hand`, in the photo's (= its crop's) camera
    frame, with the right hand model's triangles `faces` turned outwards (`faces_for`)."""
    return HandMesh(
        verts=pred.verts[0].numpy(),
        joints=pred.joints[0].numpy(),
        faces=faces_for(hand, faces).cpu().numpy(),
    )


# ---- writing one photo's results ------------------------------------------------------------


@dataclass(frozen=True)
class PredictConfig:
    """Settings of `predict_photos`.

    refine: fit the network's prediction further per image (`refine.py`; slower, usually
        closer to the detector's keypoints); mesh_format: "obj" or "ply"; dpi: of the overlay;
    detector: the hand detector's settings.
    """

    refine: bool = False
    mesh_format: str = "obj"
    dpi: int = 120
    detector: DetectorConfig = field(default_factory=DetectorConfig)

    def __post_init__(self) -> None:
        if self.mesh_format not in MESH_FORMATS:
            raise ValueError(f"mesh_format must be one of {MESH_FORMATS}, got {self.mesh_format!r}")


def _listed(array: Tensor | np.ndarray) -> list:
    return np.round(np.asarray(array, dtype=np.float64), DECIMALS).tolist()


def hand_record(hand: FoundHand, pred: HandPrediction, mesh_file: str) -> dict:
    """The JSON entry of one hand: detection, crop, 3D joints (photo camera frame, metres),
    2D keypoints (photo and crop pixels), pose, shape and camera (batch-of-1 `pred`)."""
    size = hand.crop.image.shape[-1]
    return {
        "rank": hand.hand.rank,
        "side": hand.side,
        "detector_score": round(float(hand.hand.detection.score), 4),
        "mesh": mesh_file,
        "joints3d": _listed(pred.joints[0]),
        "keypoints2d": _listed(crop_to_image(pred.keypoints2d[0].double(), hand.box, size)),
        "detector_keypoints2d": _listed(hand.hand.detection.keypoints),
        "detector_confidence": _listed(hand.hand.detection.confidence),
        "reprojection_px_crop": round(crop_reprojection_px(pred, hand), 3),
        "pose": {
            "pose_coeffs": _listed(pred.pose_coeffs[0]),
            "global_rot": _listed(pred.global_rot[0]),
            "joint_angles": _listed(pred.joint_angles[0]),
        },
        "betas": _listed(pred.betas[0]),
        "camera": {
            "scale": round(float(pred.scale[0]), DECIMALS),
            "trans": _listed(pred.trans[0]),
            "crop": {**asdict(hand.box), "size": size},
            "crop_K": _listed(hand.crop.K),
        },
    }


def _photo_alpha(hand: FoundHand, pred: HandPrediction, faces: Tensor, shape: tuple) -> Tensor:
    """(H, W) the hand's mesh silhouette over the whole photo: rendered in the crop (cheap),
    then warped back into the photo's pixels."""
    size = hand.crop.image.shape[-1]
    alpha = mesh_alpha(pred, faces_for(hand, faces), (size, size), hand.crop.K[None])
    back = torch.linalg.inv(hand.box.matrix(size))
    return warp_image(alpha.cpu(), back, shape)[0]


def photo_figure(
    photo: PhotoHands, hands: list[FoundHand], preds: list[HandPrediction], faces: Tensor
) -> Figure:
    """The whole photo with every hand's mesh (tint) and skeleton, then one
    `overlays.draw_overlay` panel per hand crop with the detector's keypoints (white crosses)
    and the reprojection distance in crop pixels."""
    shape = photo.image.shape[:2]
    panels = 1 + len(hands)
    figure = Figure(figsize=(PANEL_INCHES * panels, PANEL_INCHES))
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, panels, squeeze=False)[0]
    image = photo.image / 255.0
    alpha = torch.zeros(shape)
    for hand, pred in zip(hands, preds, strict=True):
        alpha = torch.maximum(alpha, _photo_alpha(hand, pred, faces, shape))
    weight = MESH_OPACITY * alpha.numpy()[..., None]
    axes[0].imshow(np.clip(image * (1 - weight) + MESH_TINT * weight, 0, 1))
    for hand, pred in zip(hands, preds, strict=True):
        size = hand.crop.image.shape[-1]
        draw_skeleton_2d(axes[0], crop_to_image(pred.keypoints2d[0].double(), hand.box, size))
    axes[0].set_axis_off()
    axes[0].set_title(photo.path.name[:30], fontsize=7)
    for ax, hand, pred in zip(axes[1:], hands, preds, strict=True):
        crop = hand.crop
        alpha = mesh_alpha(pred, faces_for(hand, faces), tuple(crop.image.shape[-2:]), crop.K[None])
        title = f"hand {hand.hand.rank}, {hand.side}: {crop_reprojection_px(pred, hand):.1f} px"
        draw_overlay(
            ax,
            crop.image.permute(1, 2, 0).clamp(0, 1).numpy(),
            alpha[0].cpu().numpy(),
            pred.keypoints2d[0].numpy(),
            crop.keypoints.numpy(),
            title,
        )
    figure.tight_layout(pad=0.3)
    return figure


def write_photo(
    photo: PhotoHands,
    hands: list[FoundHand],
    preds: list[HandPrediction],
    faces: Tensor,
    out: Path,
    config: PredictConfig,
    about: dict,
) -> Path:
    """Write the overlay, one mesh per hand and the JSON of `photo` into `out`; `faces`: the
    right hand model's triangles; `about`: entries the JSON starts with (model, refine).
    Returns the JSON's path."""
    stem = photo.path.stem
    records = []
    for hand, pred in zip(hands, preds, strict=True):
        mesh = prediction_mesh(pred, faces, hand)
        mesh_file = f"{stem}_hand{hand.hand.rank}.{config.mesh_format}"
        comment = f"{photo.path.name} hand {hand.hand.rank} ({hand.side}): metres, camera frame"
        write_mesh(out / mesh_file, mesh.verts, mesh.faces, comment)
        records.append(hand_record(hand, pred, mesh_file))
    overlay = f"{stem}{OVERLAY_SUFFIX}"
    save_figure(photo_figure(photo, hands, preds, faces), out / overlay, dpi=config.dpi)
    height, width = photo.image.shape[:2]
    content = {
        "format": PREDICT_FORMAT,
        **about,
        "image": str(photo.path),
        "image_size": [width, height],
        "units": "metres; 3D in the photo's camera frame (x right, y down, z forward)",
        "K": _listed(default_intrinsics(height, width)),
        "overlay": overlay,
        "hands": records,
    }
    path = out / f"{stem}.json"
    atomic_write_bytes(path, json.dumps(content, indent=1).encode())
    return path


# ---- photos to files ------------------------------------------------------------------------


@dataclass
class PredictReport:
    """What `predict_photos` did: the JSON written per photo, and the photos skipped (name ->
    why: no hand, unreadable)."""

    written: dict[str, Path]
    skipped: dict[str, str]


def photo_paths(images: str | Path) -> list[Path]:
    """`images` itself when it is a file; the photos directly in it when it is a folder.

    Raises FileNotFoundError for a missing path or a folder without photos."""
    images = Path(images).expanduser()
    if images.is_file():
        return [images]
    if not images.is_dir():
        raise FileNotFoundError(f"{images}: no such photo or folder of photos")
    photos = list_images(images)
    if not photos:
        raise FileNotFoundError(f"no photo (.jpg, .png, ...) directly in the folder {images}")
    return photos


def predict_photos(
    images: str | Path,
    model_path: str | Path,
    out: str | Path,
    config: PredictConfig | None = None,
    device: str = "auto",
) -> PredictReport:
    """Run the trained network at `model_path` on a photo or a folder of photos and write the
    results into `out` (module docstring). A photo without a hand, or one that cannot be read,
    is skipped with the reason; when no photo gives a hand, that is an error (ValueError)."""
    config = config or PredictConfig()
    paths = photo_paths(images)
    net, train_config = load_trained_model(model_path, choose_device(device))
    size = train_config.data.image_size
    out = Path(out).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    about = {"model": str(Path(model_path).expanduser().resolve()), "refined": config.refine}
    report = PredictReport({}, {})
    with HandDetector(config.detector) as detector:
        for path in tqdm(paths, desc="predicting", unit="photo"):
            try:
                photo = detect_photo(path, detector=detector)
            except ValueError as error:  # an unreadable image: skipped, the others go on
                report.skipped[path.name] = str(error)
                continue
            if not photo.found:
                report.skipped[path.name] = no_hand_message(path)
                continue
            hands = photo_crops(photo, size)
            preds = [predict_hand(net, hand, config.refine) for hand in hands]
            report.written[path.name] = write_photo(
                photo, hands, preds, net.faces.cpu(), out, config, about
            )
    if not report.written:
        if len(paths) == 1:
            raise ValueError(report.skipped[paths[0].name])
        reasons = "; ".join(f"{name}: {why}" for name, why in report.skipped.items())
        raise ValueError(f"no hand found in any of the {len(paths)} photos in {images}: {reasons}")
    return report
