"""`s2h fit`: find the hands in your photos, crop them, fit the hand model, write the results.

For a folder of photos (or one photo) it writes into `out`:
- `overlays/<photo>_hand<k>.png`: the fitted mesh's silhouette and skeleton over the crop, the
  detector's keypoints as white crosses;
- `fits.json` (`FITS_FORMAT`): per hand the crop box (photo pixels), the crop's K, the fitted
  parameters, the 3D joints in metres (camera frame of the photo's default intrinsics,
  `detector.default_intrinsics`), the final loss and the confidence-weighted mean distance to
  the detector's keypoints (crop pixels);
- `contact_sheet.png`: every overlay on one page;
- `keypoints.json` (folders only): the detector's results, reused when run again.

Left hands are fitted as right hands in the mirrored crop and mirrored back (`mirror.py`), so
the right hand's joint-angle limits apply. Their pose coefficients are those of the left model
that mirrors the right one: exact for the open hand model, whose left hand is built that way.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from torch import Tensor
from tqdm.auto import tqdm

from s2h_lib.atomic import atomic_write_bytes
from s2h_lib.config_io import to_dict
from s2h_lib.data.crop import CropBox
from s2h_lib.data.image_io import read_rgb
from s2h_lib.data.photos.detector import HandDetector
from s2h_lib.data.photos.folder import PhotoFolder, PhotoHand, crop_photo_hand
from s2h_lib.data.sample import HandSample, collate_samples
from s2h_lib.devices import choose_device
from s2h_lib.fit.fit_config import FitConfig, default_hand_model
from s2h_lib.fit.fitter import FitResult, fit_batch
from s2h_lib.hand.hand_model import ManoLayer
from s2h_lib.net.mirror import mirror_prediction, mirror_sample
from s2h_lib.net.prediction import HandPrediction
from s2h_lib.net.prediction import reprojection_px as prediction_reprojection_px
from s2h_lib.viz.overlays import PANEL_INCHES, draw_overlay, mesh_alpha, save_figure

FITS_FORMAT = "s2h-fits/1"
KEYPOINTS_CACHE = "keypoints.json"
OVERLAY_DIR = "overlays"
CONTACT_SHEET = "contact_sheet.png"
FITS_FILE = "fits.json"
CROP_SIZE = 256
BATCH_SIZE = 16
SHEET_COLUMNS = 5
OVERLAY_DPI = 200  # one hand per picture: large enough to judge the fit
SHEET_DPI = 110
TITLE_CHARS = 14  # photo names are long (uuids); the panel titles keep their start
DECIMALS = 6


@dataclass(frozen=True)
class FoundHand:
    """A detected hand, the box it was cropped from and its crop (as in the photo)."""

    hand: PhotoHand
    box: CropBox
    crop: HandSample

    @property
    def side(self) -> str:
        return self.hand.detection.handedness

    @property
    def to_fit(self) -> HandSample:
        """What the fitter gets: the crop, mirrored for a left hand."""
        return mirror_sample(self.crop) if self.side == "left" else self.crop


def find_hands(images: Path, out: Path, size: int = CROP_SIZE) -> tuple[list[FoundHand], dict]:
    """The hands in a folder of photos (detections cached in `out/keypoints.json`) or in one
    photo, as `size` crops; and the photos skipped, name -> why."""
    images = images.expanduser()
    if images.is_dir():
        folder = PhotoFolder(images, size=size, cache=out / KEYPOINTS_CACHE)
        skipped = {name: "no hand found" for name in folder.without_hand} | folder.failures
        found = [
            FoundHand(hand, folder.crop_box(i), folder[i]) for i, hand in enumerate(folder.hands)
        ]
        return found, skipped
    if not images.is_file():
        raise FileNotFoundError(f"{images}: no such photo or folder of photos")
    rgb = read_rgb(images)
    with HandDetector() as detector:
        detections = detector.detect(rgb)
    hands = [PhotoHand(images.name, rank, found) for rank, found in enumerate(detections)]
    found = [FoundHand(hand, *crop_photo_hand(rgb, hand, size)) for hand in hands]
    return found, {} if found else {images.name: "no hand found"}


# ---- fitting ------------------------------------------------------------------------------


def _unmirror(hands: list[FoundHand], pred: HandPrediction) -> HandPrediction:
    """The batch's predictions with the left hands mirrored back into their own crops."""
    left = torch.tensor([hand.side == "left" for hand in hands], device=pred.joints.device)
    if not bool(left.any()):
        return pred
    back = mirror_prediction(pred, hands[0].crop.image.shape[-1])

    def pick(values: list[Tensor]) -> Tensor:
        own, mirrored = values
        return torch.where(left.reshape(-1, *[1] * (own.dim() - 1)), mirrored, own)

    return HandPrediction.combine([pred, back], pick)


def _on_cpu(result: FitResult) -> FitResult:
    pred = result.prediction
    return replace(
        result,
        prediction=pred.map(Tensor.cpu),
        loss=result.loss.cpu(),
        history=result.history.cpu(),
        fitted=result.fitted.cpu(),
    )


def fit_hands(
    hands: list[FoundHand],
    config: FitConfig,
    hand_model: ManoLayer,
    batch_size: int,
    device: torch.device | str = "cpu",
) -> FitResult:
    """Fit every hand, `batch_size` at a time, on `device`; the predictions (on the CPU) are
    in the hands' own crops."""
    config = replace(config, progress=True)
    results = []
    with tqdm(total=len(hands), desc="fitting hands", unit="hand") as bar:
        for start in range(0, len(hands), batch_size):
            part = hands[start : start + batch_size]
            batch = collate_samples([hand.to_fit for hand in part]).to(device)
            result = _on_cpu(fit_batch(batch, config, hand_model))
            results.append(replace(result, prediction=_unmirror(part, result.prediction)))
            bar.update(len(part))
    return FitResult(
        prediction=HandPrediction.combine([r.prediction for r in results], torch.cat),
        loss=torch.cat([r.loss for r in results]),
        history=torch.cat([r.history for r in results], dim=1),
        restart=[name for r in results for name in r.restart],
        fitted=torch.cat([r.fitted for r in results]),
    )


def reprojection_px(pred: HandPrediction, crops: HandSample) -> Tensor:
    """(N,) confidence-weighted mean distance of the fitted joints' projections to the
    detector's keypoints, crop pixels."""
    return prediction_reprojection_px(pred, crops.keypoints, crops.confidence)


# ---- writing ------------------------------------------------------------------------------


def _listed(tensor: Tensor) -> list:
    return np.round(tensor.detach().double().cpu().numpy(), DECIMALS).tolist()


def _record(hand: FoundHand, pred: HandPrediction, result: FitResult, i: int, px: float) -> dict:
    """The fits.json entry of hand `i`."""
    return {
        "name": hand.hand.name,
        "file": hand.hand.file,
        "rank": hand.hand.rank,
        "side": hand.side,
        "detector_score": round(float(hand.hand.detection.score), 4),
        "crop": {**asdict(hand.box), "size": hand.crop.image.shape[-1]},
        "K": _listed(hand.crop.K),
        "pose_coeffs": _listed(pred.pose_coeffs[i]),
        "betas": _listed(pred.betas[i]),
        "global_rot": _listed(pred.global_rot[i]),
        "scale": round(float(pred.scale[i]), DECIMALS),
        "trans": _listed(pred.trans[i]),
        "joints3d": _listed(pred.joints[i]),
        "keypoints2d": _listed(pred.keypoints2d[i]),
        "final_loss": float(result.loss[i]),
        "restart": result.restart[i],
        "fitted": bool(result.fitted[i]),
        "reprojection_px": round(px, 3),
    }


def _silhouettes(hands: list[FoundHand], pred: HandPrediction, crops: HandSample, faces: Tensor):
    """(N, H, W) mesh silhouettes over the crops. A mirrored (left) mesh needs its triangles'
    winding reversed, or the renderer culls them as seen from behind."""
    size = tuple(crops.image.shape[-2:])
    alpha = mesh_alpha(pred, faces, size, crops.K)
    left = torch.tensor([hand.side == "left" for hand in hands], device=alpha.device)
    if bool(left.any()):
        mirrored = mesh_alpha(pred, faces.flip(-1), size, crops.K)
        alpha = torch.where(left[:, None, None], mirrored, alpha)
    return alpha.cpu().numpy()


def _figure(panels: list[tuple], columns: int) -> Figure:
    """A grid of `overlays.draw_overlay` panels (image, alpha, keypoints, reference, title)."""
    rows, cols = -(-len(panels) // columns), min(columns, len(panels))
    figure = Figure(figsize=(PANEL_INCHES * cols, PANEL_INCHES * rows))
    FigureCanvasAgg(figure)
    for i, panel in enumerate(panels):
        draw_overlay(figure.add_subplot(rows, cols, i + 1), *panel)
    figure.tight_layout(pad=0.3)
    return figure


def overlay_name(name: str) -> str:
    """The overlay file of a hand: "photo.jpg#0" -> "photo_hand0.png"."""
    photo, _, rank = name.rpartition("#")
    return f"{Path(photo).stem}_hand{rank}.png"


def _title(hand: FoundHand, px: float) -> str:
    photo = Path(hand.hand.file).stem[:TITLE_CHARS]
    return f"{photo}#{hand.hand.rank} {hand.side} {px:.1f} px"


def _write_pictures(
    hands: list[FoundHand], pred: HandPrediction, px: Tensor, faces: Tensor, out: Path
) -> None:
    crops = collate_samples([hand.crop for hand in hands])
    alpha = _silhouettes(hands, pred, crops, faces)
    images = crops.image.permute(0, 2, 3, 1).cpu().numpy()
    keypoints, reference = pred.keypoints2d.cpu().numpy(), crops.keypoints.cpu().numpy()
    (out / OVERLAY_DIR).mkdir(exist_ok=True)
    panels = []
    for i, hand in enumerate(hands):
        panels.append((images[i], alpha[i], keypoints[i], reference[i], _title(hand, px[i])))
        path = out / OVERLAY_DIR / overlay_name(hand.hand.name)
        save_figure(_figure(panels[-1:], 1), path, dpi=OVERLAY_DPI)
    save_figure(_figure(panels, SHEET_COLUMNS), out / CONTACT_SHEET, dpi=SHEET_DPI)


def fit_photos(
    images: str | Path,
    out: str | Path,
    config: FitConfig | None = None,
    size: int = CROP_SIZE,
    batch_size: int = BATCH_SIZE,
    device: str = "auto",
    found: list[FoundHand] | None = None,
) -> dict:
    """Detect, crop, fit and write (see the module docstring); returns the fits.json content.
    `device`: where to fit (`devices.choose_device`). `found`: the hands of the photo `images`
    when the caller has detected and cropped them already (`predict.photo_crops`), so the
    detector does not run twice.

    Raises FileNotFoundError for a missing photo or folder, ValueError when no hand is found.
    """
    config = config or FitConfig()
    torch_device = choose_device(device)
    out = Path(out).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    hands, skipped = find_hands(Path(images), out, size) if found is None else (found, {})
    if not hands:
        reasons = "; ".join(f"{name}: {why}" for name, why in skipped.items()) or "no photos"
        raise ValueError(f"no hand to fit in {images} ({reasons})")
    hand_model = default_hand_model(config)
    result = fit_hands(hands, config, hand_model, batch_size, torch_device)
    pred = result.prediction
    px = reprojection_px(pred, collate_samples([hand.crop for hand in hands]))
    _write_pictures(hands, pred, px, hand_model.faces.cpu(), out)
    report = {
        "format": FITS_FORMAT,
        "images": str(Path(images).expanduser().resolve()),
        "hand_model": hand_model.source,
        "config": to_dict(replace(config, loss=config.losses)),
        "skipped": skipped,
        "hands": [_record(h, pred, result, i, float(px[i])) for i, h in enumerate(hands)],
    }
    atomic_write_bytes(out / FITS_FILE, json.dumps(report, indent=1).encode())
    return report
