"""Find and load hand models in the MANO layout: the official pkl files (read by `mano_pickle`),
converted `.npz` files, and the open hand model shipped in `s2h_lib/assets/`; and convert an
official pkl into such an `.npz`.

Everything is returned as a `mano_data.ManoModelData` of plain numpy arrays; `hand_model.ManoLayer`
turns it into torch buffers.
"""

import hashlib
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from s2h_lib.atomic import atomic_open
from s2h_lib.hand.mano_data import (
    JOINT_MODES,
    NUM_JOINTS,
    ROOT_PARENT_UINT32,
    SHAPEDIRS_FIXED_FLAG,
    SIDES,
    HandModelFormatError,
    HandModelNotFoundError,
    ManoModelData,
    assemble_model,
    fix_left_shapedirs,
    mirror_model,
    official_tips,
    require_keys,
)
from s2h_lib.hand.mano_pickle import read_official_pkl

MANO_URL = "https://mano.is.tue.mpg.de"
OPEN_MODEL_PATH = Path(__file__).resolve().parent.parent / "assets" / "open_hand_right.npz"
CONVERTED_FORMAT = "s2h-mano-npz/1"


def _load_pkl(path: Path, side: str) -> ManoModelData:
    data = read_official_pkl(path)
    meta = {"source_file": path.name}
    fix_left_shapedirs(data, side, meta)
    return assemble_model(data, official_tips(side), side, path, meta)


def _read_meta(npz: Mapping[str, np.ndarray], path: Path) -> dict[str, Any]:
    if "meta" not in npz:
        return {}
    try:
        meta = json.loads(str(npz["meta"]))
    except json.JSONDecodeError as err:
        raise HandModelFormatError(f"{path}: 'meta' is not a JSON string: {err}") from err
    if not isinstance(meta, dict):
        raise HandModelFormatError(f"{path}: 'meta' must be a JSON object")
    return meta


def _npz_tips(npz: Mapping[str, np.ndarray], side: str) -> dict[str, np.ndarray]:
    """A file's own tips: one set for both modes, or one per mode; else the official ones."""
    if "tip_vertex_ids" in npz:
        return {mode: npz["tip_vertex_ids"] for mode in JOINT_MODES}
    if all(f"tip_vertex_ids_{mode}" in npz for mode in JOINT_MODES):
        return {mode: npz[f"tip_vertex_ids_{mode}"] for mode in JOINT_MODES}
    return official_tips(side)


def _load_npz(path: Path, side: str) -> ManoModelData:
    try:
        with np.load(path, allow_pickle=False) as archive:
            npz = {key: archive[key] for key in archive.files}
    except (ValueError, OSError) as err:
        raise HandModelFormatError(f"{path} is not a readable .npz hand model: {err}") from err
    require_keys(npz, path)
    meta = _read_meta(npz, path)
    recorded = meta.get("side")
    if recorded in SIDES and recorded != side:
        raise HandModelFormatError(f"{path} holds a {recorded} hand, but side='{side}' was asked")
    data = dict(npz)
    fix_left_shapedirs(data, side, meta)
    return assemble_model(data, _npz_tips(npz, side), side, path, meta)


# --------------------------------------------------------------------------------------------
# Locating files


def _download_hint() -> str:
    return (
        f"The official MANO model is licensed and not shipped: download it yourself from "
        f"{MANO_URL} (free account, MANO license), unpack it and pass its models/ folder as "
        "mano_root (e.g. mano_root='mano_v1_2/models'). Or pass mano_root=None to use the open "
        "hand model shipped with s2h_lib."
    )


def _official_file(root: Path, side: str) -> Path:
    """MANO_RIGHT.pkl / MANO_LEFT.pkl inside `root`, or a converted .npz of the same name."""
    stem = f"MANO_{side.upper()}"
    candidates = [root / f"{stem}.pkl", root / f"{stem}.npz"]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    nested = root / "models" / f"{stem}.pkl"
    extra = f" (found {nested}: pass {root / 'models'} instead)" if nested.is_file() else ""
    raise HandModelNotFoundError(
        f"MANO model file {stem}.pkl not found: searched {candidates[0]} and {candidates[1]}"
        f"{extra}. {_download_hint()}"
    )


def _side_in_filename(path: Path) -> str | None:
    """'right' for MANO_RIGHT.pkl or open_hand_right.npz; None when the name says neither."""
    words = set(re.split(r"[^a-z0-9]+", path.stem.lower()))
    found = [side for side in SIDES if side in words]
    return found[0] if len(found) == 1 else None


def _check_side(side: str) -> None:
    if side not in SIDES:
        raise ValueError(f"side must be 'right' or 'left', got {side!r}")


def _open_model(side: str) -> ManoModelData:
    if not OPEN_MODEL_PATH.is_file():
        raise HandModelNotFoundError(
            f"the open hand model {OPEN_MODEL_PATH.name} is missing: searched {OPEN_MODEL_PATH}. "
            "Build it with `python data_scripts/build_open_hand.py`, or reinstall s2h_lib. "
            f"To use the official model instead: {_download_hint()}"
        )
    right = _load_npz(OPEN_MODEL_PATH, "right")
    return right if side == "right" else mirror_model(right)


def load_hand_model(mano_root: str | Path | None, side: str = "right") -> ManoModelData:
    """Load a hand model in the MANO layout.

    mano_root: None for the open hand model (the left one is its mirror image); a folder holding
    MANO_RIGHT.pkl / MANO_LEFT.pkl (or converted MANO_RIGHT.npz / MANO_LEFT.npz); or a .pkl /
    .npz file. Official left files get the shapedirs x-sign fix unless their metadata says it is
    already applied.
    """
    _check_side(side)
    if mano_root is None:
        return _open_model(side)
    root = Path(mano_root).expanduser()
    if root.is_dir():
        path = _official_file(root, side)
    elif root.is_file():
        path = root
    else:
        raise HandModelNotFoundError(f"mano_root {root} does not exist. {_download_hint()}")
    named_side = _side_in_filename(path)
    if named_side is not None and named_side != side:
        raise HandModelFormatError(f"{path} is named as a {named_side} hand, but side='{side}'")
    if path.suffix == ".npz":
        return _load_npz(path, side)
    if path.suffix == ".pkl":
        return _load_pkl(path, side)
    raise HandModelFormatError(f"{path}: expected a .pkl or .npz hand model file")


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def convert_mano_pkl(src: str | Path, dst: str | Path, side: str | None = None) -> Path:
    """Convert an official MANO pkl into a plain `.npz` that loads without pickle.

    The side comes from the file name (MANO_RIGHT / MANO_LEFT) unless given. The output holds
    the fixed left shapedirs and says so in its `meta` JSON (with the source name and md5), so
    loading it never applies the fix twice. Returns the output path.
    """
    src, dst = Path(src).expanduser(), Path(dst).expanduser()
    if not src.is_file():
        raise HandModelNotFoundError(f"MANO pkl not found: {src}. {_download_hint()}")
    side = side or _side_in_filename(src)
    if side is None:
        raise ValueError(
            f"cannot tell the hand side from the name {src.name} (it says neither right nor "
            "left): pass side='right' or side='left' (--side on the command line)"
        )
    model = load_hand_model(src, side)
    meta = {
        "format": CONVERTED_FORMAT,
        "side": side,
        "source_file": src.name,
        "source_md5": _md5(src),
        # The stored shapedirs are final: loading this file must not flip them again.
        SHAPEDIRS_FIXED_FLAG: True,
        "shapedirs_x_sign_fixed_by_converter": model.meta.get(
            "shapedirs_x_sign_fixed_on_load", False
        ),
    }
    parents = np.where(model.kintree_parents < 0, ROOT_PARENT_UINT32, model.kintree_parents)
    arrays = {
        "v_template": model.v_template,
        "f": model.faces,
        "J_regressor": model.J_regressor,
        "J": model.J_regressor @ model.v_template,
        "kintree_table": np.stack([parents, np.arange(NUM_JOINTS)]).astype(np.int64),
        "weights": model.weights,
        "posedirs": model.posedirs,
        "shapedirs": model.shapedirs,
        "hands_components": model.hands_components,
        "hands_mean": model.hands_mean,
        **{f"tip_vertex_ids_{mode}": ids for mode, ids in model.tip_vertex_ids.items()},
        "meta": np.array(json.dumps(meta, sort_keys=True)),
    }
    if model.hands_coeffs is not None:
        arrays["hands_coeffs"] = model.hands_coeffs
    with atomic_open(dst) as file:
        np.savez_compressed(file, **arrays)
    return dst
