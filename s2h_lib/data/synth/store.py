"""S2H-Synth on disk, the writer: renders the shards, in parallel and resumably, and writes the
manifest last (`layout.py` describes the files).

Every file is written atomically and byte-for-byte reproducibly (fixed zip timestamps), so the
same config gives the same files. A shard counts as done when its inputs file exists and carries
the current config hash; a restarted build redoes only the shards that are not done.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import multiprocessing
import os
import signal
import zipfile
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from s2h_lib.atomic import atomic_open, atomic_write_bytes
from s2h_lib.data.synth.config import GENERATOR_VERSION, SPLITS, SynthConfig, sample_seed
from s2h_lib.data.synth.generator import SynthGenerator
from s2h_lib.data.synth.layout import (
    CONTACT_SHEET_NAME,
    FLOAT_TRUTH,
    MANIFEST_NAME,
    PACKED_TRUTH,
    image_name,
)
from s2h_lib.data.synth.noise import NoiseModel, NoiseParams
from s2h_lib.data.synth.preview import write_contact_sheet

ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # fixed member timestamps: same content, same bytes
MAX_DEFAULT_WORKERS = 8


# ---- files ---------------------------------------------------------------------------------------


def _zip_member(name: str, compress: bool) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
    info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    info.external_attr = 0o644 << 16
    return info


def write_npz(path: Path, arrays: dict[str, np.ndarray], compress: bool) -> None:
    """`np.savez` with fixed timestamps, written atomically (readable with `np.load`)."""
    with atomic_open(path) as file, zipfile.ZipFile(file, "w") as archive:
        for key, value in arrays.items():
            with archive.open(_zip_member(f"{key}.npy", compress), "w") as member:
                np.lib.format.write_array(member, np.asarray(value), allow_pickle=False)


def encode_png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def write_png_zip(path: Path, images: dict[str, np.ndarray]) -> None:
    """PNG-encode `(H, W, 3)` uint8 images into one zip, atomically, names as given."""
    with atomic_open(path) as file, zipfile.ZipFile(file, "w") as archive:
        for name, image in images.items():
            archive.writestr(_zip_member(name, compress=False), encode_png(image))


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# ---- the plan ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShardJob:
    """Samples (clips for 'clips') `start` .. `start + count - 1` of `split`, as shard `shard`."""

    split: str
    shard: int
    start: int
    count: int

    @property
    def stem(self) -> str:
        return f"{self.split}/shard_{self.shard:03d}"

    def paths(self, root: Path) -> dict[str, Path]:
        return {
            kind: root / f"{self.stem}{suffix}"
            for kind, suffix in (
                ("images", ".zip"),
                ("truth", ".truth.npz"),
                ("inputs", ".inputs.npz"),
            )
        }


def samples_per_shard(config: SynthConfig, split: str) -> int:
    """Samples per shard: `shard_size` images, i.e. whole clips for 'clips'."""
    frames = config.clip_length if split == "clips" else 1
    return max(1, config.shard_size // frames)


def plan_shards(config: SynthConfig) -> list[ShardJob]:
    jobs = []
    for split in SPLITS:
        per_shard = samples_per_shard(config, split)
        total = config.count(split)
        for shard in range(math.ceil(total / per_shard)):
            start = shard * per_shard
            jobs.append(ShardJob(split, shard, start, min(per_shard, total - start)))
    return jobs


def images_in(job: ShardJob, config: SynthConfig) -> int:
    return job.count * (config.clip_length if job.split == "clips" else 1)


def config_hash(config: SynthConfig, noise: NoiseParams) -> str:
    """Fingerprint of everything that decides the files' content."""
    content = {"version": GENERATOR_VERSION, "config": asdict(config), "noise": noise.to_dict()}
    content["config"].pop("noise_file")  # the parameters themselves are hashed
    content["noise"].pop("source")
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:16]


def shard_done(job: ShardJob, root: Path, fingerprint: str) -> bool:
    paths = job.paths(root)
    if not all(p.is_file() for p in paths.values()):
        return False
    try:
        with np.load(paths["inputs"]) as inputs:
            return str(inputs["config_hash"]) == fingerprint and len(inputs["index"]) == job.count
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        return False


# ---- writing one shard ---------------------------------------------------------------------------


def _stack(frames: list, key: str, part: str) -> np.ndarray:
    """Stack field `key` of `part` ('inputs' / 'truth') over frames, or over clips of frames."""
    if isinstance(frames[0], list):
        return np.stack([_stack(clip, key, part) for clip in frames])
    return np.stack([getattr(frame, part)[key] for frame in frames])


def pack_truth(frames: list) -> dict[str, np.ndarray]:
    first = frames[0][0] if isinstance(frames[0], list) else frames[0]
    arrays = {}
    for key in first.truth:
        value = _stack(frames, key, "truth")
        if key in FLOAT_TRUTH or key == "box_fraction":
            value = value.astype(np.float32)
        elif key in PACKED_TRUTH:
            value = np.packbits(value.reshape(*value.shape[:-2], -1), axis=-1)
        arrays[key] = value
    return arrays


def pack_inputs(frames: list, job: ShardJob, config: SynthConfig, fingerprint: str) -> dict:
    first = frames[0][0] if isinstance(frames[0], list) else frames[0]
    arrays = {}
    for key in first.inputs:
        value = _stack(frames, key, "inputs")
        arrays[key] = value if key == "K" else value.astype(np.float32)
    indices = np.arange(job.start, job.start + job.count)
    arrays["index"] = indices
    arrays["seed"] = np.array([sample_seed(config, job.split, int(i)) for i in indices])
    arrays["config_hash"] = np.array(fingerprint)
    return arrays


def generate_shard(generator: SynthGenerator, job: ShardJob) -> list:
    """The shard's frames (a list of clips, each a list of frames, for 'clips')."""
    indices = range(job.start, job.start + job.count)
    if job.split == "clips":
        return [generator.clip(i) for i in indices]
    return [generator.sample(job.split, i) for i in indices]


def write_shard(
    root: Path, job: ShardJob, frames: list, config: SynthConfig, fingerprint: str
) -> None:
    """Write images, truth, then inputs (the 'done' marker), each atomically."""
    paths = job.paths(root)
    images = {}
    for offset, item in enumerate(frames):
        index = job.start + offset
        if isinstance(item, list):
            images |= {image_name(index, t): f.image for t, f in enumerate(item)}
        else:
            images[image_name(index)] = item.image
    write_png_zip(paths["images"], images)
    write_npz(paths["truth"], pack_truth(frames), compress=True)
    write_npz(paths["inputs"], pack_inputs(frames, job, config, fingerprint), compress=False)


# ---- the build -----------------------------------------------------------------------------------


def default_workers() -> int:
    return max(1, min(os.cpu_count() or 1, MAX_DEFAULT_WORKERS))


def make_generator(config: SynthConfig, noise: NoiseParams) -> SynthGenerator:
    detector = None
    if config.keypoints == "detector":
        from s2h_lib.data.photos.detector import HandDetector

        detector = HandDetector()
    return SynthGenerator(config, NoiseModel(noise), detector=detector)


_WORKER: dict = {}


def _init_worker(config: SynthConfig, noise: NoiseParams, root: Path, fingerprint: str) -> None:
    import torch

    torch.set_num_threads(1)
    _WORKER.update(
        generator=make_generator(config, noise), config=config, root=root, fingerprint=fingerprint
    )


def _init_spawned_worker(*init_args) -> None:
    """A pool worker leaves Ctrl-C to the parent: interrupted mid-call, the pool deadlocks."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _init_worker(*init_args)


def _run_job(job: ShardJob) -> ShardJob:
    frames = generate_shard(_WORKER["generator"], job)
    write_shard(_WORKER["root"], job, frames, _WORKER["config"], _WORKER["fingerprint"])
    return job


def _run_jobs(jobs: list[ShardJob], workers: int, init_args: tuple) -> Iterator[ShardJob]:
    """Build the shards, yielding each as it is done: in this process or in a spawned pool
    (spawn, not fork: a forked torch/OpenMP runtime can deadlock). A worker that fails to start
    breaks the pool with an error instead of being restarted forever (multiprocessing.Pool)."""
    if workers <= 1 or len(jobs) <= 1:
        import torch

        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # as in the workers: same threads, same floating-point sums
        try:
            _init_worker(*init_args)
            yield from map(_run_job, jobs)
        finally:
            torch.set_num_threads(threads)
            detector = _WORKER.get("generator") and _WORKER["generator"].detector
            if detector is not None:
                detector.close()  # spawned workers release theirs when they exit
            _WORKER.clear()
        return
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(min(workers, len(jobs)), context, _init_spawned_worker, init_args)
    try:
        futures = [pool.submit(_run_job, job) for job in jobs]
        for future in as_completed(futures):
            yield future.result()
    finally:  # on Ctrl-C or an error: drop the queued shards, let running ones finish
        pool.shutdown(wait=True, cancel_futures=True)


def build_synth(
    out: str | Path,
    config: SynthConfig | None = None,
    *,
    workers: int | None = None,
    progress: bool = True,
    contact_sheet: bool = True,
) -> Path:
    """Build (or finish building) the benchmark in `out`; returns the manifest's path.

    Shards already done with this exact config are kept; the manifest is written last, so a
    folder with a manifest is complete.
    """
    root = Path(out).expanduser()
    config = config or SynthConfig()
    noise = NoiseParams.load(config.noise_file)
    fingerprint = config_hash(config, noise)
    _check_existing_manifest(root, fingerprint)
    jobs = plan_shards(config)
    pending = [job for job in jobs if not shard_done(job, root, fingerprint)]
    total = sum(images_in(job, config) for job in jobs)
    done = total - sum(images_in(job, config) for job in pending)
    bar = tqdm(total=total, initial=done, unit="img", desc="S2H-Synth", disable=not progress)
    init_args = (config, noise, root, fingerprint)
    with bar:
        for job in _run_jobs(pending, default_workers() if workers is None else workers, init_args):
            bar.update(images_in(job, config))
    shards = shard_entries(root, jobs)
    if contact_sheet and shards["train"]:
        write_contact_sheet(root, shards["train"], config.image_size, root / CONTACT_SHEET_NAME)
    manifest = make_manifest(root, config, noise, fingerprint, jobs, shards)
    atomic_write_bytes(root / MANIFEST_NAME, (json.dumps(manifest, indent=2) + "\n").encode())
    return root / MANIFEST_NAME


def _check_existing_manifest(root: Path, fingerprint: str) -> None:
    path = root / MANIFEST_NAME
    if not path.is_file():
        return
    old = json.loads(path.read_text()).get("config_hash")
    if old != fingerprint:
        raise ValueError(
            f"{root} already holds an S2H-Synth benchmark built with other settings "
            f"(config hash {old}, now {fingerprint}): choose another --out or delete that folder"
        )


# ---- the manifest --------------------------------------------------------------------------------


def _detector_info(config: SynthConfig) -> dict | None:
    if config.keypoints != "detector":
        return None
    from s2h_lib.data.photos.detector import DetectorConfig, import_mediapipe

    mediapipe = import_mediapipe()

    return {"name": "mediapipe hands", "version": mediapipe.__version__, **asdict(DetectorConfig())}


def split_statistics(root: Path, jobs: list[ShardJob]) -> dict:
    """Summary numbers of one split's shards (what the benchmark contains, for the record)."""
    keys = ("view", "visible", "box_fraction", "occluder", "keypoints2d")
    truth = {k: [] for k in keys}
    noisy, confidence = [], []
    for job in jobs:
        paths = job.paths(root)
        with np.load(paths["truth"]) as t, np.load(paths["inputs"]) as i:
            for key in keys:
                truth[key].append(
                    t[key].reshape(-1, *t[key].shape[2 if job.split == "clips" else 1 :])
                )
            noisy.append(i["keypoints_noise"].reshape(-1, 21, 2))
            confidence.append(i["confidence_noise"].reshape(-1, 21))
    arrays = {k: np.concatenate(v) for k, v in truth.items()}
    noisy, confidence = np.concatenate(noisy), np.concatenate(confidence)
    found = confidence > 0
    error = np.linalg.norm(noisy - arrays["keypoints2d"], axis=-1)
    views = np.bincount(arrays["view"], minlength=3) / len(arrays["view"])
    return {
        "images": len(arrays["view"]),
        "views": {
            "palm": round(float(views[0]), 4),
            "back": round(float(views[1]), 4),
            "side": round(float(views[2]), 4),
        },
        "visible_joints": round(float(arrays["visible"].mean()), 4),
        "with_occluder": round(float(arrays["occluder"].any(axis=-1).mean()), 4),
        "box_fraction": {
            "min": round(float(arrays["box_fraction"].min()), 4),
            "mean": round(float(arrays["box_fraction"].mean()), 4),
            "max": round(float(arrays["box_fraction"].max()), 4),
        },
        "noise_keypoints": {
            "found_joints": round(float(found.mean()), 4),
            "median_error_px": round(float(np.median(error[found])), 3) if found.any() else None,
        },
    }


def shard_entries(root: Path, jobs: list[ShardJob]) -> dict[str, list[dict]]:
    """The manifest's record of every shard, per split: range, files and their sha256."""
    shards = {split: [] for split in SPLITS}
    for job in jobs:
        paths = job.paths(root)
        shards[job.split].append(
            {
                "start": job.start,
                "count": job.count,
                "files": {kind: path.relative_to(root).as_posix() for kind, path in paths.items()},
                "sha256": {kind: file_sha256(path) for kind, path in paths.items()},
            }
        )
    return shards


def make_manifest(
    root: Path,
    config: SynthConfig,
    noise: NoiseParams,
    fingerprint: str,
    jobs: list[ShardJob],
    shards: dict[str, list[dict]],
) -> dict:
    from s2h_lib.data.synth.backgrounds import check_backgrounds
    from s2h_lib.hand.hand_model import ManoLayer

    layer = ManoLayer(mano_root=config.mano_root)
    return {
        "generator": GENERATOR_VERSION,
        "config_hash": fingerprint,
        "seed": config.seed,
        "image_size": config.image_size,
        "counts": {split: config.count(split) for split in SPLITS},
        "clip_length": config.clip_length,
        "hand_model": {
            "model": "open hand model" if config.mano_root is None else config.mano_root,
            "file": Path(layer.source).name,  # no absolute path: same files on every machine
            "side": layer.side,
            "num_verts": layer.num_verts,
        },
        "keypoints": ["noise", "detector"] if config.keypoints == "detector" else ["noise"],
        "detector": _detector_info(config),
        "noise": noise.to_dict(),
        "backgrounds": list(check_backgrounds()),
        "config": asdict(config),
        "shards": shards,
        "statistics": {
            split: split_statistics(root, [j for j in jobs if j.split == split])
            for split in SPLITS
            if config.count(split) > 0
        },
    }
