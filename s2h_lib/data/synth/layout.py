"""S2H-Synth on disk: the files a built benchmark holds, their names, and the manifest's reader.

`store.py` writes them, `dataset.py` reads them.

Layout (N samples in a shard; clips add a time axis: (C, T, ...) and images `CCCCCC_TT.png`):

    ROOT/manifest.json            written last: generator version, seed, config, counts, image
                                  size, hand model, detector, noise parameters, shard list with
                                  sha256 of every file, summary statistics
    ROOT/contact_sheet.png        24 training samples with their keypoints drawn
    ROOT/SPLIT/shard_SSS.zip      the images, one PNG per sample (`IIIIII.png`, stored uncompressed:
                                  PNG is compressed already)
    ROOT/SPLIT/shard_SSS.truth.npz   evaluation only: joints3d (N, 21, 3), verts (N, V, 3),
                                  keypoints2d (N, 21, 2), pose (N, 48), betas (N, 10), trans (N, 3)
                                  (float32, metres, camera frame), mask and occluder (N, H*W/8)
                                  bit-packed silhouettes, visible (N, 21) bool, lights (N, 11),
                                  skin (N, 3), view (N,) int8 (0 palm, 1 back, 2 side),
                                  box_fraction (N,)
    ROOT/SPLIT/shard_SSS.inputs.npz  what training reads, written last in a shard: K (N, 3, 3)
                                  float64, keypoints_noise (N, 21, 2), confidence_noise (N, 21)
                                  [, keypoints_detector, confidence_detector], index (N,) and
                                  seed (N,) int64, config_hash
"""

from __future__ import annotations

import json
from pathlib import Path

from s2h_lib.data.synth.config import GENERATOR_VERSION

MANIFEST_NAME = "manifest.json"
CONTACT_SHEET_NAME = "contact_sheet.png"
FLOAT_TRUTH = ("joints3d", "verts", "keypoints2d", "pose", "betas", "trans", "lights", "skin")
PACKED_TRUTH = ("mask", "occluder")


class SynthDataError(FileNotFoundError):
    """The benchmark folder, its manifest or one of its shards is missing or unreadable."""


def build_hint(root: Path) -> str:
    return f"run `s2h data synth --out {root}` first (or data_scripts/make_synth.py)"


def image_name(index: int, frame: int | None = None) -> str:
    """Zip member of sample `index` (or frame `frame` of clip `index`)."""
    return f"{index:06d}.png" if frame is None else f"{index:06d}_{frame:02d}.png"


def read_manifest(root: str | Path) -> dict:
    """The manifest of a built benchmark, with a clear error when it is not there."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise SynthDataError(f"S2H-Synth folder not found: {root}; {build_hint(root)}")
    path = root / MANIFEST_NAME
    if not path.is_file():
        raise SynthDataError(
            f"{path} is missing, so the benchmark in {root} is absent or unfinished; "
            f"{build_hint(root)} (an interrupted build resumes where it stopped)"
        )
    manifest = json.loads(path.read_text())
    if manifest.get("generator") != GENERATOR_VERSION:
        raise SynthDataError(
            f"{path} was written by generator {manifest.get('generator')!r}, this library reads "
            f"{GENERATOR_VERSION!r}; rebuild: {build_hint(root)}"
        )
    return manifest
