"""Triangle meshes to files other programs open (Blender, MeshLab, trimesh): OBJ and PLY.

Plain ASCII writers, so no mesh library is a dependency. Coordinates are written as given
(metres, in whatever frame the caller says); triangles are 0-based (F, 3) index arrays, written
1-based in OBJ as that format requires.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from s2h_lib.atomic import atomic_write_bytes

MESH_FORMATS = ("obj", "ply")
DECIMALS = 6  # micrometres: far below any error the reconstruction has


def _check(verts: np.ndarray, faces: np.ndarray) -> None:
    if verts.ndim != 2 or verts.shape[1] != 3:
        raise ValueError(f"verts must be (V, 3), got {verts.shape}")
    if faces.ndim != 2 or faces.shape[1] != 3:
        raise ValueError(f"faces must be (F, 3), got {faces.shape}")
    if faces.size and (faces.min() < 0 or faces.max() >= len(verts)):
        raise ValueError(f"faces index vertices outside 0..{len(verts) - 1}")


def obj_text(verts: np.ndarray, faces: np.ndarray, comment: str = "") -> str:
    """Wavefront OBJ of verts (V, 3) and 0-based triangles faces (F, 3)."""
    _check(verts, faces)
    lines = [f"# {line}" for line in comment.splitlines()]
    lines += [f"v {x:.{DECIMALS}f} {y:.{DECIMALS}f} {z:.{DECIMALS}f}" for x, y, z in verts]
    lines += [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in faces]
    return "\n".join(lines) + "\n"


def ply_text(verts: np.ndarray, faces: np.ndarray, comment: str = "") -> str:
    """ASCII PLY of verts (V, 3) and 0-based triangles faces (F, 3)."""
    _check(verts, faces)
    header = ["ply", "format ascii 1.0"]
    header += [f"comment {line}" for line in comment.splitlines()]
    header += [
        f"element vertex {len(verts)}",
        "property float x",
        "property float y",
        "property float z",
        f"element face {len(faces)}",
        "property list uchar int vertex_indices",
        "end_header",
    ]
    body = [f"{x:.{DECIMALS}f} {y:.{DECIMALS}f} {z:.{DECIMALS}f}" for x, y, z in verts]
    body += [f"3 {a} {b} {c}" for a, b, c in faces]
    return "\n".join(header + body) + "\n"


def write_mesh(path: str | Path, verts: np.ndarray, faces: np.ndarray, comment: str = "") -> Path:
    """Write the mesh as OBJ or PLY, chosen by the suffix of `path` (`MESH_FORMATS`)."""
    path = Path(path)
    writers = {"obj": obj_text, "ply": ply_text}
    kind = path.suffix.lower().lstrip(".")
    if kind not in writers:
        raise ValueError(f"mesh file {path}: the suffix must be one of {MESH_FORMATS}")
    text = writers[kind](np.asarray(verts, dtype=np.float64), np.asarray(faces), comment)
    atomic_write_bytes(path, text.encode())
    return path
