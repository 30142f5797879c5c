"""The MANO layout as plain numpy: its sizes, `ManoModelData`, the checks that turn raw arrays
under MANO's key names into one, the left-hand shapedirs fix, and the mirror image of a model.

`mano_io` reads files into this layout (`mano_pickle` the official pkl files);
`hand_model.ManoLayer` turns it into torch buffers.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

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
# Checking and assembling


def require_keys(data: Mapping[str, Any], path: Path) -> None:
    """HandModelFormatError naming the first of `REQUIRED_KEYS` that `data` (read from `path`)
    lacks."""
    for key in REQUIRED_KEYS:
        if key not in data:
            raise HandModelFormatError(
                f"{path} is not a MANO file: key '{key}' is missing "
                f"(a MANO file has {', '.join(REQUIRED_KEYS)}; found {', '.join(sorted(data))})"
            )


def check_shape(array: np.ndarray, key: str, expected: tuple, path: Path) -> None:
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
    check_shape(kintree, "kintree_table", (2, NUM_JOINTS), path)
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
        check_shape(ids, f"tip_vertex_ids ({mode})", (5,), path)
        if ids.min() < 0 or ids.max() >= num_verts:
            raise HandModelFormatError(
                f"{path}: {mode} fingertip vertex ids {ids.tolist()} do not fit a mesh of "
                f"{num_verts} vertices (a file without its own 'tip_vertex_ids' is taken to be "
                "the official MANO mesh, and these are its fingertips)"
            )


def assemble_model(
    data: Mapping[str, Any],
    tips: Mapping[str, np.ndarray],
    side: str,
    path: Path,
    meta: Mapping[str, Any],
) -> ManoModelData:
    """Validate the raw arrays under MANO's key names and pack them, float64 / int64."""
    v_template = np.asarray(data["v_template"], dtype=np.float64)
    check_shape(v_template, "v_template", (None, 3), path)
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
        check_shape(checked[key], key, shape, path)
    faces = checked["f"]
    if faces.size and (faces.min() < 0 or faces.max() >= V):
        raise HandModelFormatError(f"{path}: 'f' indexes vertex {faces.max()}, but V = {V}")
    coeffs = data.get("hands_coeffs")
    if coeffs is not None:
        coeffs = np.asarray(coeffs, dtype=np.float64)
        check_shape(coeffs, "hands_coeffs", (None, NUM_HAND_POSE), path)
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


def official_tips(side: str) -> dict[str, np.ndarray]:
    """The official mesh's fingertip vertex ids (5,) of `side`, by joint mode."""
    return {
        "skeleton": np.array(OFFICIAL_SKELETON_TIPS[side]),
        "regressed": np.array(OFFICIAL_REGRESSED_TIPS),
    }


def fix_left_shapedirs(data: dict[str, Any], side: str, meta: dict[str, Any]) -> None:
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
