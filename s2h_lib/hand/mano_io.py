"""Read hand models in the MANO layout: the official pkl files (without chumpy), converted
`.npz` files, and the open hand model shipped in `s2h_lib/assets/`.

Everything is returned as a `ManoModelData` of plain numpy arrays; `hand_model.ManoLayer` turns
it into torch buffers.
"""

import copyreg
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import scipy.sparse

from s2h_lib.atomic import atomic_open
from s2h_lib.restricted_pickle import NUMPY_GLOBALS, UnreadablePickleError, load_restricted

MANO_URL = "https://mano.is.tue.mpg.de"
OPEN_MODEL_PATH = Path(__file__).resolve().parent.parent / "assets" / "open_hand_right.npz"
SIDES = ("right", "left")
NUM_JOINTS = 16
NUM_BETAS = 10
NUM_HAND_POSE = 45  # 15 articulated joints x 3 axis-angle values
NUM_POSE_FEATURES = 135  # 15 articulated joints x 9 entries of (R - I)
MANO_PARENTS = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 0, 10, 11, 0, 13, 14)
ROOT_PARENT_UINT32 = 4294967295
# Fingertip vertices of the official 778-vertex mesh, ordered thumb, index, middle, ring, pinky.
# "skeleton" are manopth's choice, "regressed" FreiHAND's (mano_render_eval.md, 1.5).
OFFICIAL_SKELETON_TIPS = {"right": (745, 317, 444, 556, 673), "left": (745, 317, 445, 556, 673)}
OFFICIAL_REGRESSED_TIPS = (744, 320, 443, 555, 672)
JOINT_MODES = ("skeleton", "regressed")
# Set in the metadata of every file whose left-hand shapedirs already have the x-sign fix.
SHAPEDIRS_FIXED_FLAG = "shapedirs_x_sign_fixed"
CONVERTED_FORMAT = "s2h-mano-npz/1"
REQUIRED_KEYS = (
    "v_template",
    "f",
    "J_regressor",
    "kintree_table",
    "weights",
    "posedirs",
    "shapedirs",
    "hands_components",
    "hands_mean",
)


class HandModelError(Exception):
    """Base class for every problem found while locating or reading a hand model file."""


class HandModelNotFoundError(HandModelError, FileNotFoundError):
    """The hand model file is not where it was looked for."""


class HandModelFormatError(HandModelError, ValueError):
    """The file exists but is not a usable hand model (missing key, wrong shape, bad pickle)."""


@dataclass(frozen=True, eq=False)
class ManoModelData:
    """One hand model as numpy arrays, ready for `ManoLayer`.  V vertices, F faces.

    v_template (V, 3) metres; faces (F, 3) int64; J_regressor (16, V) dense; weights (V, 16);
    posedirs (V, 3, 135); shapedirs (V, 3, 10); hands_components (45, 45), rows orthogonal but
    not unit-norm; hands_mean (45,); hands_coeffs (N, 45) or None; kintree_parents (16,) int64
    with -1 for the root; tip_vertex_ids maps "skeleton" and "regressed" to (5,) int64, thumb
    to pinky.
    """

    v_template: np.ndarray
    faces: np.ndarray
    J_regressor: np.ndarray
    weights: np.ndarray
    posedirs: np.ndarray
    shapedirs: np.ndarray
    hands_components: np.ndarray
    hands_mean: np.ndarray
    hands_coeffs: np.ndarray | None
    kintree_parents: np.ndarray
    tip_vertex_ids: Mapping[str, np.ndarray]
    side: str
    source: str
    meta: Mapping[str, Any]

    @property
    def num_verts(self) -> int:
        return self.v_template.shape[0]


# --------------------------------------------------------------------------------------------
# Restricted unpickling of the official files


class _ChumpyStub:
    """Stands in for any chumpy class: keeps the pickled state and nothing else."""

    chumpy_class = "chumpy"
    state: Mapping[str, Any] = MappingProxyType({})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Accepts anything, for pickles that rebuild objects by calling their class."""

    def __setstate__(self, state: Any) -> None:
        # Objects with __slots__ pickle their state as (dict, slots_dict).
        parts = state if isinstance(state, tuple) else (state,)
        self.state = {k: v for part in parts if isinstance(part, dict) for k, v in part.items()}


class _SparseStub:
    """Stands in for a pickled scipy sparse matrix; `_densify` rebuilds it from its arrays,
    which does not depend on the private layout of the scipy version that wrote it."""

    build = staticmethod(scipy.sparse.csc_matrix)
    state: Mapping[str, Any] = MappingProxyType({})

    def __setstate__(self, state: Mapping[str, Any]) -> None:
        self.state = dict(state)


class _CsrStub(_SparseStub):
    build = staticmethod(scipy.sparse.csr_matrix)


_ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    **NUMPY_GLOBALS,
    ("__builtin__", "set"): set,
    ("builtins", "set"): set,
    ("__builtin__", "object"): object,
    ("builtins", "object"): object,
    ("copy_reg", "_reconstructor"): copyreg._reconstructor,
    ("copyreg", "_reconstructor"): copyreg._reconstructor,
    ("scipy.sparse.csc", "csc_matrix"): _SparseStub,
    ("scipy.sparse._csc", "csc_matrix"): _SparseStub,
    ("scipy.sparse.csr", "csr_matrix"): _CsrStub,
    ("scipy.sparse._csr", "csr_matrix"): _CsrStub,
}


def _chumpy_stand_in(module: str, name: str) -> type | None:
    """A `_ChumpyStub` subclass named after any chumpy class (None for other modules)."""
    if module == "chumpy" or module.startswith("chumpy."):
        return type(name, (_ChumpyStub,), {"chumpy_class": f"{module}.{name}"})
    return None


def _unpickle(path: Path) -> dict[str, Any]:
    refusal = ": a MANO file only refers to numpy, scipy.sparse and chumpy classes"
    try:
        data = load_restricted(path, _ALLOWED_GLOBALS, _chumpy_stand_in, refusal)
    except UnreadablePickleError as err:
        raise HandModelFormatError(f"{path} is not a readable MANO pickle: {err}") from err
    if not isinstance(data, dict):
        raise HandModelFormatError(
            f"{path} is not a MANO file: it holds a {type(data).__name__}, expected a dict "
            f"with the keys {', '.join(REQUIRED_KEYS)}"
        )
    return data


def _chumpy_array(value: Any, key: str, path: Path) -> np.ndarray:
    """The numbers behind a chumpy object: a `Ch` holds them in `x`; a `Select` picks
    `a.ravel()[idxs]` and reshapes to `preferred_shape`."""
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, _ChumpyStub):
        state = value.state
        if "x" in state:
            return _chumpy_array(state["x"], key, path)
        if {"a", "idxs"} <= state.keys():
            source = _chumpy_array(state["a"], key, path)
            picked = source.ravel()[np.asarray(state["idxs"]).ravel()]
            return picked.reshape(state.get("preferred_shape", picked.shape))
        raise HandModelFormatError(
            f"{path}: cannot read '{key}' from a chumpy {value.chumpy_class} with state keys "
            f"{sorted(state)} (expected 'x', or 'a' and 'idxs')"
        )
    raise HandModelFormatError(f"{path}: '{key}' is a {type(value).__name__}, expected an array")


def _densify(value: Any, key: str, path: Path) -> np.ndarray:
    if isinstance(value, _SparseStub):
        state = value.state
        shape = state.get("_shape", state.get("shape"))
        try:
            arrays = (state["data"], state["indices"], state["indptr"])
            return value.build(arrays, shape=shape).toarray()
        except (KeyError, ValueError, TypeError) as err:
            raise HandModelFormatError(f"{path}: cannot rebuild sparse '{key}': {err}") from err
    if scipy.sparse.issparse(value):
        return value.toarray()
    return _chumpy_array(value, key, path)


# --------------------------------------------------------------------------------------------
# Checking and assembling


def _require_keys(data: Mapping[str, Any], path: Path) -> None:
    for key in REQUIRED_KEYS:
        if key not in data:
            raise HandModelFormatError(
                f"{path} is not a MANO file: key '{key}' is missing "
                f"(a MANO file has {', '.join(REQUIRED_KEYS)}; found {', '.join(sorted(data))})"
            )


def _check_shape(array: np.ndarray, key: str, expected: tuple, path: Path) -> None:
    """`expected` holds ints, or None for "any size"."""
    ok = array.ndim == len(expected) and all(
        want is None or want == got for want, got in zip(expected, array.shape, strict=True)
    )
    if not ok:
        sizes = ["N" if size is None else str(size) for size in expected]
        wanted = f"({sizes[0]},)" if len(sizes) == 1 else f"({', '.join(sizes)})"
        raise HandModelFormatError(
            f"{path}: '{key}' has shape {tuple(array.shape)}, expected {wanted}"
        )


def _parents_from_kintree(kintree: np.ndarray, path: Path) -> np.ndarray:
    _check_shape(kintree, "kintree_table", (2, NUM_JOINTS), path)
    order = np.argsort(kintree[1])
    parents = kintree[0][order].astype(np.int64)
    parents[parents == ROOT_PARENT_UINT32] = -1
    if tuple(parents) != MANO_PARENTS:
        raise HandModelFormatError(
            f"{path}: 'kintree_table' gives parents {parents.tolist()}, expected MANO's "
            f"{list(MANO_PARENTS)}"
        )
    return parents


def _check_tips(tips: Mapping[str, np.ndarray], num_verts: int, path: Path) -> None:
    for mode, ids in tips.items():
        _check_shape(ids, f"tip_vertex_ids ({mode})", (5,), path)
        if ids.min() < 0 or ids.max() >= num_verts:
            raise HandModelFormatError(
                f"{path}: {mode} fingertip vertex ids {ids.tolist()} do not fit a mesh of "
                f"{num_verts} vertices (a file without its own 'tip_vertex_ids' is taken to be "
                "the official MANO mesh, and these are its fingertips)"
            )


def _assemble(
    data: Mapping[str, Any],
    tips: Mapping[str, np.ndarray],
    side: str,
    path: Path,
    meta: Mapping[str, Any],
) -> ManoModelData:
    """Validate the raw arrays under MANO's key names and pack them, float64 / int64."""
    v_template = np.asarray(data["v_template"], dtype=np.float64)
    _check_shape(v_template, "v_template", (None, 3), path)
    V = v_template.shape[0]
    arrays = {
        "J_regressor": ((NUM_JOINTS, V), np.float64),
        "weights": ((V, NUM_JOINTS), np.float64),
        "posedirs": ((V, 3, NUM_POSE_FEATURES), np.float64),
        "shapedirs": ((V, 3, NUM_BETAS), np.float64),
        "hands_components": ((NUM_HAND_POSE, NUM_HAND_POSE), np.float64),
        "hands_mean": ((NUM_HAND_POSE,), np.float64),
        "f": ((None, 3), np.int64),
    }
    checked = {}
    for key, (shape, dtype) in arrays.items():
        try:
            checked[key] = np.asarray(data[key]).astype(dtype)
        except (TypeError, ValueError) as err:
            raise HandModelFormatError(f"{path}: '{key}' is not a numeric array: {err}") from err
        _check_shape(checked[key], key, shape, path)
    faces = checked["f"]
    if faces.size and (faces.min() < 0 or faces.max() >= V):
        raise HandModelFormatError(f"{path}: 'f' indexes vertex {faces.max()}, but V = {V}")
    coeffs = data.get("hands_coeffs")
    if coeffs is not None:
        coeffs = np.asarray(coeffs, dtype=np.float64)
        _check_shape(coeffs, "hands_coeffs", (None, NUM_HAND_POSE), path)
    tips = {mode: np.asarray(ids, dtype=np.int64) for mode, ids in tips.items()}
    _check_tips(tips, V, path)
    return ManoModelData(
        v_template=v_template,
        faces=faces,
        J_regressor=checked["J_regressor"],
        weights=checked["weights"],
        posedirs=checked["posedirs"],
        shapedirs=checked["shapedirs"],
        hands_components=checked["hands_components"],
        hands_mean=checked["hands_mean"],
        hands_coeffs=coeffs,
        kintree_parents=_parents_from_kintree(np.asarray(data["kintree_table"]), path),
        tip_vertex_ids=tips,
        side=side,
        source=str(path),
        meta=dict(meta),
    )


def _official_tips(side: str) -> dict[str, np.ndarray]:
    return {
        "skeleton": np.array(OFFICIAL_SKELETON_TIPS[side]),
        "regressed": np.array(OFFICIAL_REGRESSED_TIPS),
    }


def _fix_left_shapedirs(data: dict[str, Any], side: str, meta: dict[str, Any]) -> None:
    """The official left model's shapedirs have the wrong x sign (smplx#48): flip it, once.

    `meta` records the fix, so a file converted after it is never flipped again.
    """
    if side != "left" or meta.get(SHAPEDIRS_FIXED_FLAG, False):
        return
    shapedirs = np.array(data["shapedirs"], dtype=np.float64)
    shapedirs[:, 0, :] *= -1
    data["shapedirs"] = shapedirs
    meta[SHAPEDIRS_FIXED_FLAG] = True
    meta["shapedirs_x_sign_fixed_on_load"] = True


def _read_official_pkl(path: Path) -> dict[str, Any]:
    """The pkl's arrays as plain numpy: shapedirs out of chumpy, J_regressor dense."""
    raw = _unpickle(path)
    _require_keys(raw, path)
    data = {key: raw[key] for key in (*REQUIRED_KEYS, "hands_coeffs") if key in raw}
    for key in data:
        data[key] = _densify(data[key], key, path)
    return data


def _load_pkl(path: Path, side: str) -> ManoModelData:
    data = _read_official_pkl(path)
    meta = {"source_file": path.name}
    _fix_left_shapedirs(data, side, meta)
    return _assemble(data, _official_tips(side), side, path, meta)


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
    return _official_tips(side)


def _load_npz(path: Path, side: str) -> ManoModelData:
    try:
        with np.load(path, allow_pickle=False) as archive:
            npz = {key: archive[key] for key in archive.files}
    except (ValueError, OSError) as err:
        raise HandModelFormatError(f"{path} is not a readable .npz hand model: {err}") from err
    _require_keys(npz, path)
    meta = _read_meta(npz, path)
    recorded = meta.get("side")
    if recorded in SIDES and recorded != side:
        raise HandModelFormatError(f"{path} holds a {recorded} hand, but side='{side}' was asked")
    data = dict(npz)
    _fix_left_shapedirs(data, side, meta)
    return _assemble(data, _npz_tips(npz, side), side, path, meta)


# --------------------------------------------------------------------------------------------
# Mirroring (the left open hand)

# Pose values are 15 joints x (x, y, z) axis-angle; mirroring in x keeps a_x, negates a_y, a_z.
_MIRROR_AXIS_ANGLE = np.tile([1.0, -1.0, -1.0], NUM_HAND_POSE // 3)
_MIRROR_XYZ = np.array([-1.0, 1.0, 1.0])


def mirror_model(model: ManoModelData) -> ManoModelData:
    """The other hand, by reflecting x: S = diag(-1, 1, 1) on positions, S R S on rotations.

    Faces are re-wound so normals still point outwards. A pose feature entry (R - I)[a, b]
    becomes s_a s_b (R - I)[a, b], so posedirs[v, c, 9 j + 3 a + b] gains the sign s_c s_a s_b.
    """
    signs_ab = np.outer(_MIRROR_XYZ, _MIRROR_XYZ).ravel()
    pose_signs = _MIRROR_XYZ[:, None] * np.tile(signs_ab, NUM_POSE_FEATURES // 9)[None, :]
    side = "left" if model.side == "right" else "right"
    return ManoModelData(
        v_template=model.v_template * _MIRROR_XYZ,
        faces=model.faces[:, ::-1].copy(),
        J_regressor=model.J_regressor,
        weights=model.weights,
        posedirs=model.posedirs * pose_signs,
        shapedirs=model.shapedirs * _MIRROR_XYZ[:, None],
        hands_components=model.hands_components * _MIRROR_AXIS_ANGLE,
        hands_mean=model.hands_mean * _MIRROR_AXIS_ANGLE,
        hands_coeffs=model.hands_coeffs,
        kintree_parents=model.kintree_parents,
        tip_vertex_ids=model.tip_vertex_ids,
        side=side,
        source=f"mirror of {model.source}",
        meta={**model.meta, "side": side, "mirrored": True},
    )


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
