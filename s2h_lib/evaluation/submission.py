"""`pred.json` for the benchmarks' own scorers: FreiHAND's `eval.py` and HO3D's CodaLab server.

Both read `[xyz_list, verts_list]`: per sample, in the dataset's order, the 21 joints (21 x 3)
and the mesh vertices (V x 3) in metres, absolute camera coordinates (no root-centring; the
scorers align with Procrustes themselves). What differs is the convention:
- "freihand": FreiHAND joint order and the OpenCV camera frame: the library's own;
- "ho3d": HO3D joint order (MANO's 16 joints, then the tips thumb..pinky,
  `skeleton.freihand_to_ho3d`) and HO3D's OpenGL camera frame (y up, z backwards): y and z
  negated, the inverse of what `data/ho3d.py` does on reading.
The labels are never read, so a split whose ground truth a server holds can be written.
Mesh metrics need the official MANO mesh (778 vertices): train with `mano_root` for those.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from s2h_lib.atomic import atomic_write_bytes
from s2h_lib.data.sample import collate_samples
from s2h_lib.hand.skeleton import freihand_to_ho3d
from s2h_lib.net.prediction import Predictor

SUBMISSION_FORMATS = ("freihand", "ho3d")
PRED_FILE = "pred.json"
OPENCV_TO_OPENGL = (1.0, -1.0, -1.0)
DECIMALS = 6  # micrometres, as FreiHAND's own files


def predict_all(
    predictor: Predictor, dataset: Dataset, batch_size: int = 32, progress: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """The predicted joints (N, 21, 3) and vertices (N, V, 3), metres, OpenCV camera frame,
    FreiHAND order, of every sample of `dataset` in order; any truth the samples carry is
    dropped before the predictor sees them."""
    loader = DataLoader(dataset, batch_size=batch_size, collate_fn=collate_samples)
    joints, verts = [], []
    for batch in tqdm(loader, desc="predict", unit="batch", disable=not progress):
        pred = predictor(batch.without_truth())
        joints.append(pred.joints.detach().float().cpu().numpy())
        verts.append(pred.verts.detach().float().cpu().numpy())
    return np.concatenate(joints), np.concatenate(verts)


def to_benchmark(
    joints: np.ndarray, verts: np.ndarray, benchmark: str
) -> tuple[np.ndarray, np.ndarray]:
    """Joints (N, 21, 3) and vertices (N, V, 3) in the library's convention turned into
    `benchmark`'s (`SUBMISSION_FORMATS`, module docstring)."""
    if benchmark not in SUBMISSION_FORMATS:
        raise ValueError(f"benchmark must be one of {SUBMISSION_FORMATS}, got {benchmark!r}")
    if benchmark == "freihand":
        return joints, verts
    flip = np.array(OPENCV_TO_OPENGL)
    ho3d_joints = freihand_to_ho3d(torch.from_numpy(joints)).numpy()
    return ho3d_joints * flip, verts * flip


def write_pred_json(path: str | Path, joints: np.ndarray, verts: np.ndarray) -> Path:
    """Write `[xyz_list, verts_list]` (joints (N, 21, 3), vertices (N, V, 3)) as JSON."""
    if joints.ndim != 3 or joints.shape[1:] != (21, 3):
        raise ValueError(f"joints must be (N, 21, 3), got {joints.shape}")
    if verts.ndim != 3 or verts.shape[2] != 3 or len(verts) != len(joints):
        raise ValueError(f"verts must be (N, V, 3) with N = {len(joints)}, got {verts.shape}")
    content = [np.round(joints, DECIMALS).tolist(), np.round(verts, DECIMALS).tolist()]
    path = Path(path)
    atomic_write_bytes(path, json.dumps(content).encode())
    return path


def write_submission(
    predictor: Predictor,
    dataset: Dataset,
    out_dir: str | Path,
    benchmark: str,
    batch_size: int = 32,
    progress: bool = True,
) -> Path:
    """Predict every sample of `dataset` and write `out_dir/pred.json` for `benchmark`."""
    joints, verts = predict_all(predictor, dataset, batch_size, progress)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return write_pred_json(out_dir / PRED_FILE, *to_benchmark(joints, verts, benchmark))
