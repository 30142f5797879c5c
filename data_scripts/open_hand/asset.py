"""Write the open hand model in the MANO layout as a byte-for-byte reproducible `.npz`."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np

from s2h_lib.atomic import atomic_write_bytes

from .skeleton import NUM_JOINTS, PARENTS, ROOT_PARENT

ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # fixed member timestamps: same inputs, same bytes
NUM_POSEDIRS = 9 * (NUM_JOINTS - 1)


def kintree_table() -> np.ndarray:
    """MANO's `(2, 16)` table: parents (root = uint32(-1)) over joint ids."""
    parents = np.where(PARENTS < 0, ROOT_PARENT, PARENTS).astype(np.int64)
    return np.stack([parents, np.arange(NUM_JOINTS, dtype=np.int64)])


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Like `np.savez_compressed`, with fixed timestamps and member order, written atomically."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(arrays):
            member = io.BytesIO()
            np.lib.format.write_array(member, np.asarray(arrays[name]), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, member.getvalue())
    atomic_write_bytes(path, buffer.getvalue())


def mano_layout(
    verts: np.ndarray,
    faces: np.ndarray,
    joints: np.ndarray,
    regressor: np.ndarray,
    weights: np.ndarray,
    shapedirs: np.ndarray,
    components: np.ndarray,
    mean: np.ndarray,
    coeffs: np.ndarray,
    tip_ids: np.ndarray,
    meta: dict,
) -> dict[str, np.ndarray]:
    """The arrays under MANO's pkl key names, plus `tip_vertex_ids` and a JSON `meta` string."""
    return {
        "v_template": verts,
        "f": faces.astype(np.int64),
        "J": joints,
        "J_regressor": regressor,
        "kintree_table": kintree_table(),
        "weights": weights,
        "posedirs": np.zeros((len(verts), 3, NUM_POSEDIRS)),
        "shapedirs": shapedirs,
        "hands_components": components,
        "hands_mean": mean,
        "hands_coeffs": coeffs.astype(np.float32),
        "tip_vertex_ids": tip_ids.astype(np.int64),
        "meta": np.array(json.dumps(meta, sort_keys=True)),
    }
