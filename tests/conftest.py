"""Synthetic hand models in the MANO layout, so no test needs the licensed MANO files.

The hand is a rough skinned mesh: rings of vertices around each bone of a plausible MANO
skeleton (joints in MANO's order), blend weights shared with the parent joint, random
pose/shape blend shapes, and random pose components that are orthogonal but not unit-norm.
It is written three ways: as an open-model `.npz` (own tip ids), and as fake official
`MANO_RIGHT.pkl` / `MANO_LEFT.pkl` that refer to `chumpy` classes like the real ones.
"""

import json
import pickle
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse

PARENTS = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 0, 10, 11, 0, 13, 14)
ROOT_PARENT = 4294967295
# Per finger in MANO order (index, middle, pinky, ring, thumb): knuckle position, direction,
# and the lengths of its 3 bones plus the tip segment, in metres.
FINGERS = (
    ((0.090, 0.025, 0.000), (1.0, 0.10, 0.0), (0.040, 0.025, 0.020, 0.018)),
    ((0.095, 0.005, 0.000), (1.0, 0.00, 0.0), (0.045, 0.028, 0.022, 0.018)),
    ((0.080, -0.040, 0.000), (1.0, -0.20, 0.0), (0.030, 0.020, 0.016, 0.015)),
    ((0.090, -0.018, 0.000), (1.0, -0.10, 0.0), (0.042, 0.026, 0.020, 0.017)),
    ((0.030, 0.030, 0.020), (0.6, 0.80, 0.3), (0.035, 0.030, 0.025, 0.020)),
)
TIP_ORDER = (4, 0, 1, 3, 2)  # thumb, index, middle, ring, pinky among FINGERS
OFFICIAL_SKELETON_TIPS_RIGHT = (745, 317, 444, 556, 673)
MIRROR = np.array([-1.0, 1.0, 1.0])
MIRROR_POSE = np.tile([1.0, -1.0, -1.0], 15)


def skeleton() -> tuple[np.ndarray, np.ndarray]:
    """Rest joints (16, 3) and fingertip points (5, 3) in MANO's joint order / FINGERS order."""
    joints, tips = [np.zeros(3)], []
    for knuckle, direction, lengths in FINGERS:
        unit = np.asarray(direction) / np.linalg.norm(direction)
        point = np.asarray(knuckle, dtype=float)
        for length in lengths[:3]:
            joints.append(point.copy())
            point = point + length * unit
        tips.append(point + lengths[3] * unit)
    return np.array(joints), np.array(tips)


def _ring(center: np.ndarray, axis: np.ndarray, radius: float, count: int) -> np.ndarray:
    axis = axis / np.linalg.norm(axis)
    helper = np.array([0.0, 0.0, 1.0]) if abs(axis[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
    u = np.cross(axis, helper)
    u /= np.linalg.norm(u)
    v = np.cross(axis, u)
    angles = np.linspace(0, 2 * np.pi, count, endpoint=False)
    return center + radius * (np.cos(angles)[:, None] * u + np.sin(angles)[:, None] * v)


def build_hand(seed: int, rings: int = 3, per_ring: int = 6) -> dict[str, np.ndarray]:
    """A right hand in MANO's layout, as plain arrays (dense J_regressor, int64 faces).

    Each joint owns `rings` rings of `per_ring` vertices along its bone; the first ring is
    centred on the joint, so J_regressor (the mean of that ring) reproduces the joint exactly.
    """
    rng = np.random.default_rng(seed)
    joints, tips = skeleton()
    ends = np.array([joints[j + 1] if j % 3 else tips[(j - 1) // 3] for j in range(1, 16)])
    ends = np.vstack([joints[[1, 4, 7, 10, 13]].mean(0), ends])  # the palm bone
    verts, owner, faces, regressor_rows = [], [], [], []
    for joint in range(16):
        start, end = joints[joint], ends[joint]
        radius = 0.02 if joint == 0 else 0.008
        first = len(verts)
        for k in range(rings):
            center = start + (end - start) * k / rings
            verts.extend(_ring(center, end - start, radius, per_ring))
            owner.extend([joint] * per_ring)
        regressor_rows.append(range(first, first + per_ring))
        for k in range(rings - 1):
            a, b = first + k * per_ring, first + (k + 1) * per_ring
            for i in range(per_ring):
                i2 = (i + 1) % per_ring
                faces += [(a + i, a + i2, b + i), (a + i2, b + i2, b + i)]
    tip_ids = []
    for finger in TIP_ORDER:
        tip_ids.append(len(verts))
        verts.append(tips[finger])
        owner.append(3 * finger + 3)
    verts, owner = np.array(verts), np.array(owner)
    V = len(verts)
    weights = np.zeros((V, 16))
    blend = rng.uniform(0.0, 0.4, V)
    parents = np.array(PARENTS)
    has_parent = parents[owner] >= 0
    weights[np.arange(V), owner] = 1.0 - blend * has_parent
    weights[np.arange(V)[has_parent], parents[owner[has_parent]]] = blend[has_parent]
    regressor = np.zeros((16, V))
    for joint, rows in enumerate(regressor_rows):
        regressor[joint, list(rows)] = 1.0 / per_ring
    q, _ = np.linalg.qr(rng.normal(size=(45, 45)))
    components = np.linspace(1.3, 0.05, 45)[:, None] * q.T
    kintree = np.stack([np.where(parents < 0, ROOT_PARENT, parents), np.arange(16)])
    return {
        "v_template": verts,
        "f": np.array(faces, dtype=np.int64),
        "J_regressor": regressor,
        "J": regressor @ verts,
        "kintree_table": kintree.astype(np.int64),
        "weights": weights,
        "posedirs": rng.normal(scale=2e-3, size=(V, 3, 135)),
        "shapedirs": rng.normal(scale=5e-3, size=(V, 3, 10)),
        "hands_components": components,
        "hands_mean": rng.normal(scale=0.15, size=45),
        "hands_coeffs": rng.normal(size=(20, 45)),
        "tip_vertex_ids": np.array(tip_ids, dtype=np.int64),
    }


def mirror_hand(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The left hand of `arrays`, reflected in x (written independently of s2h_lib)."""
    signs = MIRROR[:, None] * np.einsum("a,b->ab", MIRROR, MIRROR).ravel()
    out = dict(arrays)
    out["v_template"] = arrays["v_template"] * MIRROR
    out["J"] = arrays["J"] * MIRROR
    out["f"] = arrays["f"][:, ::-1].copy()
    out["posedirs"] = arrays["posedirs"] * np.tile(signs, 15)
    out["shapedirs"] = arrays["shapedirs"] * MIRROR[:, None]
    out["hands_components"] = arrays["hands_components"] * MIRROR_POSE
    out["hands_mean"] = arrays["hands_mean"] * MIRROR_POSE
    return out


def place_official_tips(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Reorder vertices so the fingertips sit at the official MANO right-hand tip ids."""
    V = len(arrays["v_template"])
    old_tips = list(arrays["tip_vertex_ids"])
    order = np.full(V, -1)
    order[list(OFFICIAL_SKELETON_TIPS_RIGHT)] = old_tips
    order[order < 0] = [i for i in range(V) if i not in old_tips]
    new_index = np.argsort(order)
    out = dict(arrays)
    for key in ("v_template", "weights", "posedirs", "shapedirs"):
        out[key] = arrays[key][order]
    out["J_regressor"] = arrays["J_regressor"][:, order]
    out["f"] = new_index[arrays["f"]]
    out["tip_vertex_ids"] = np.array(OFFICIAL_SKELETON_TIPS_RIGHT)
    return out


def save_open_npz(arrays: dict[str, np.ndarray], path: Path) -> Path:
    meta = {"name": "synthetic test hand", "shapedirs_x_sign_fixed": True}
    np.savez(path, **arrays, meta=np.array(json.dumps(meta)))
    return path


class _FakeChumpy:
    """Registers modules `chumpy`, `chumpy.ch`, `chumpy.reordering` while pickling, so the
    pickle refers to `chumpy.ch.Ch` and `chumpy.reordering.Select` like the official files."""

    def __enter__(self) -> tuple[type, type]:
        self.modules = {name: types.ModuleType(name) for name in self.names}
        ch = type("Ch", (), {"__module__": "chumpy.ch"})
        select = type("Select", (), {"__module__": "chumpy.reordering"})
        self.modules["chumpy.ch"].Ch = ch
        self.modules["chumpy.reordering"].Select = select
        sys.modules.update(self.modules)
        return ch, select

    def __exit__(self, *exc: object) -> None:
        for name in self.names:
            sys.modules.pop(name, None)

    names = ("chumpy", "chumpy.ch", "chumpy.reordering")


def save_official_pkl(
    arrays: dict[str, np.ndarray], path: Path, shapedirs_bug: bool, drop: tuple[str, ...] = ()
) -> Path:
    """Write `arrays` the way MANO_*.pkl stores them: uint32 faces, sparse regressor, shapedirs
    as a chumpy Select of the first 10 of 20 shape directions; no tip ids. `shapedirs_bug`
    stores the x component with the wrong sign, as the official left file does; `drop` leaves
    keys out."""
    V = len(arrays["v_template"])
    shapedirs = arrays["shapedirs"].copy()
    if shapedirs_bug:
        shapedirs[:, 0, :] *= -1
    full = np.concatenate([shapedirs, np.random.default_rng(1).normal(size=(V, 3, 10))], -1)
    idxs = np.arange(full.size).reshape(full.shape)[..., :10].ravel()
    with _FakeChumpy() as (ch_class, select_class):
        ch = ch_class()
        ch.__dict__.update(x=full)
        select = select_class()
        select.__dict__.update(a=ch, idxs=idxs, preferred_shape=(V, 3, 10))
        data = {key: arrays[key] for key in arrays if key != "tip_vertex_ids"}
        data.update(
            f=arrays["f"].astype(np.uint32),
            J_regressor=scipy.sparse.csc_matrix(arrays["J_regressor"]),
            shapedirs=select,
            bs_style="lbs",
            bs_type="lrotmin",
        )
        for key in drop:
            del data[key]
        with path.open("wb") as file:
            pickle.dump(data, file, protocol=2)
    return path


@pytest.fixture(scope="session")
def hand_arrays() -> dict[str, np.ndarray]:
    """The small synthetic right hand (a few hundred vertices) as arrays."""
    return build_hand(seed=0)


@pytest.fixture(scope="session")
def open_npz(tmp_path_factory: pytest.TempPathFactory, hand_arrays) -> Path:
    """The small hand saved like the open model asset (tip ids in the file)."""
    return save_open_npz(hand_arrays, tmp_path_factory.mktemp("open") / "open_hand_right.npz")


@pytest.fixture(scope="session")
def official_arrays() -> dict[str, np.ndarray]:
    """A larger synthetic right hand whose fingertips sit at the official MANO tip ids."""
    return place_official_tips(build_hand(seed=1, rings=7, per_ring=8))


@pytest.fixture(scope="session")
def mano_dir(tmp_path_factory: pytest.TempPathFactory, official_arrays) -> Path:
    """A folder like MANO's models/: fake MANO_RIGHT.pkl and MANO_LEFT.pkl. The left file is
    the exact mirror of the right one, except for the official left shapedirs x-sign bug."""
    folder = tmp_path_factory.mktemp("mano_models")
    save_official_pkl(official_arrays, folder / "MANO_RIGHT.pkl", shapedirs_bug=False)
    save_official_pkl(mirror_hand(official_arrays), folder / "MANO_LEFT.pkl", shapedirs_bug=True)
    return folder


@pytest.fixture()
def no_chumpy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make `import chumpy` fail, so a successful load proves chumpy is not needed."""
    for name in _FakeChumpy.names:
        monkeypatch.setitem(sys.modules, name, None)
