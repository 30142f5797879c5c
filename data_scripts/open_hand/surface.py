"""The open hand's surface: a signed distance field of palm, wrist and tapered phalanges, meshed.

The field is sampled on a regular grid, meshed by marching cubes, reduced by quadric decimation and
smoothed (Taubin, which does not shrink the hand). All steps are deterministic.
"""

from __future__ import annotations

import numpy as np
import trimesh
from fast_simplification import simplify
from skimage.measure import marching_cubes

from .skeleton import FINGER_ORDER, TIP_ORDER, Skeleton

VOXEL = 0.0012  # metres; fine enough for the 6.4 mm radius of the pinky tip
PALM_HALF_THICKNESS = 0.0085
PALM_ROUNDING = 0.0065
FINGER_BLEND = 0.006  # smooth-union width between the palm and the digits
THUMB_BLEND = 0.012
WRIST_CUT_X = 0.030  # the forearm stump ends in a flat cap here
TARGET_VERTICES = 900
TAUBIN_ITERATIONS = 12

# Palm outline in the (x, z) plane, counter-clockwise seen from +y, metres.
PALM_OUTLINE = np.array(
    [
        (0.012, -0.026),
        (0.012, 0.022),
        (-0.030, 0.028),
        (-0.094, 0.030),
        (-0.098, 0.006),
        (-0.093, -0.015),
        (-0.084, -0.034),
        (-0.050, -0.040),
        (-0.010, -0.031),
    ]
)


def smooth_min(a: np.ndarray, b: np.ndarray, k: float) -> np.ndarray:
    """Polynomial smooth minimum: equals min(a, b) where |a - b| > k, blends inside."""
    h = np.clip(k - np.abs(a - b), 0.0, None) / k
    return np.minimum(a, b) - h * h * k / 4.0


def tapered_capsule(
    p: np.ndarray, a: np.ndarray, b: np.ndarray, ra: float, rb: float
) -> np.ndarray:
    """Distance-like field of a capsule whose radius runs linearly from ra at a to rb at b.

    p: `(N, 3)`. Exact for equal radii; for the mild tapers of a finger its zero set is the
    intended surface, which is all marching cubes needs.
    """
    ab = b - a
    t = np.clip((p - a) @ ab / (ab @ ab), 0.0, 1.0)
    closest = a + t[:, None] * ab
    return np.linalg.norm(p - closest, axis=1) - (ra + t * (rb - ra))


def polygon_distance_2d(q: np.ndarray, outline: np.ndarray) -> np.ndarray:
    """Signed distance from points `(N, 2)` to a closed polygon `(M, 2)`, negative inside."""
    dist2 = np.full(len(q), np.inf)
    inside = np.zeros(len(q), dtype=bool)
    for i in range(len(outline)):
        a, b = outline[i], outline[(i + 1) % len(outline)]
        e = b - a
        w = q - a
        t = np.clip(w @ e / (e @ e), 0.0, 1.0)
        dist2 = np.minimum(dist2, ((w - t[:, None] * e) ** 2).sum(axis=1))
        crosses = (a[1] <= q[:, 1]) != (b[1] <= q[:, 1])
        x_at = a[0] + (q[:, 1] - a[1]) * e[0] / np.where(e[1] == 0, 1.0, e[1])
        inside ^= crosses & (q[:, 0] < x_at)
    return np.where(inside, -1.0, 1.0) * np.sqrt(dist2)


def palm_field(p: np.ndarray) -> np.ndarray:
    """A rounded slab with the outline `PALM_OUTLINE`, thickness 2 * (half + rounding)."""
    d2 = polygon_distance_2d(p[:, [0, 2]], PALM_OUTLINE) + PALM_ROUNDING
    dy = np.abs(p[:, 1]) - PALM_HALF_THICKNESS
    outside = np.sqrt(np.clip(d2, 0, None) ** 2 + np.clip(dy, 0, None) ** 2)
    return outside + np.minimum(np.maximum(d2, dy), 0.0) - PALM_ROUNDING


def wrist_field(p: np.ndarray) -> np.ndarray:
    """An elliptic forearm stump behind the palm, cut flat at `WRIST_CUT_X`."""
    scaled = p * np.array([1.0, 1.35, 1.0])
    stump = tapered_capsule(
        scaled, np.array([-0.01, 0.0, -0.002]), np.array([0.06, 0.0, 0.0]), 0.026, 0.025
    )
    return np.maximum(stump, p[:, 0] - WRIST_CUT_X)


def digit_field(p: np.ndarray, skeleton: Skeleton, finger: str) -> np.ndarray:
    """Three tapered capsules along the digit; the last one ends flush with the fingertip."""
    chain = skeleton.chain(finger)
    ids = skeleton.chain_joint_ids(finger)
    radii = [skeleton.joint_radii[j] for j in ids[1:]] + [
        skeleton.tip_radii[TIP_ORDER.index(finger)]
    ]
    field = np.full(len(p), np.inf)
    for k in range(3):
        a, b = chain[k + 1], chain[k + 2]
        if k == 2:
            b = b - radii[3] * (b - a) / np.linalg.norm(b - a)
        field = np.minimum(field, tapered_capsule(p, a, b, radii[k], radii[k + 1]))
    return field


def thenar_field(p: np.ndarray, skeleton: Skeleton) -> np.ndarray:
    """The ball of the thumb: a fat capsule from the heel of the palm to the thumb's MCP."""
    thumb_mcp = skeleton.chain("thumb")[2]
    heel = np.array([-0.004, -0.006, 0.010])
    return tapered_capsule(p, heel, thumb_mcp, 0.016, 0.011)


def hand_field(p: np.ndarray, skeleton: Skeleton) -> np.ndarray:
    """Signed distance-like field of the whole hand, negative inside. p: `(N, 3)`."""
    body = smooth_min(palm_field(p), wrist_field(p), 0.02)
    fingers = np.min([digit_field(p, skeleton, f) for f in FINGER_ORDER if f != "thumb"], axis=0)
    body = smooth_min(body, fingers, FINGER_BLEND)
    thumb = np.minimum(digit_field(p, skeleton, "thumb"), thenar_field(p, skeleton))
    return smooth_min(body, thumb, THUMB_BLEND)


def sample_grid(skeleton: Skeleton) -> tuple[np.ndarray, np.ndarray]:
    """Evaluate the field on a grid around the hand; returns (values `(X, Y, Z)`, origin `(3,)`)."""
    margin = 0.02
    points = np.vstack([skeleton.joints, skeleton.tips])
    low = np.minimum(points.min(axis=0), [0.0, -0.03, -0.05]) - margin
    high = np.maximum(points.max(axis=0), [WRIST_CUT_X, 0.03, 0.05]) + margin
    axes = [np.arange(lo, hi, VOXEL) for lo, hi in zip(low, high, strict=True)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1)
    values = hand_field(grid.reshape(-1, 3), skeleton).reshape(grid.shape[:3])
    return values, low


def extract_mesh(skeleton: Skeleton) -> tuple[np.ndarray, np.ndarray]:
    """Mesh the zero level set: vertices `(V, 3)` float64, faces `(F, 3)` int64, outward winding."""
    values, origin = sample_grid(skeleton)
    verts, faces, _, _ = marching_cubes(
        values, level=0.0, spacing=(VOXEL,) * 3, gradient_direction="descent"
    )
    verts = verts.astype(np.float64) + origin
    reduction = 1.0 - TARGET_VERTICES / len(verts)
    verts, faces = simplify(verts.astype(np.float32), faces.astype(np.int32), reduction)
    mesh = trimesh.Trimesh(verts.astype(np.float64), faces.astype(np.int64), process=True)
    mesh.remove_unreferenced_vertices()
    trimesh.smoothing.filter_taubin(mesh, iterations=TAUBIN_ITERATIONS)
    return np.asarray(mesh.vertices, dtype=np.float64), np.asarray(mesh.faces, dtype=np.int64)


def check_mesh(verts: np.ndarray, faces: np.ndarray) -> dict[str, float]:
    """Raise if the surface is not one clean, closed, outward-wound piece; return its statistics."""
    mesh = trimesh.Trimesh(verts, faces, process=False)
    problems = []
    if len(mesh.split(only_watertight=False)) != 1:
        problems.append("more than one connected piece")
    if not mesh.is_watertight:
        problems.append("not watertight")
    if not mesh.is_winding_consistent:
        problems.append("inconsistent winding")
    if mesh.volume <= 0:
        problems.append("faces wound inward (negative volume)")
    min_area = float(mesh.area_faces.min())
    if min_area < 1e-9:
        problems.append(f"degenerate face (area {min_area:.2e} m^2)")
    if problems:
        raise ValueError("open hand surface is broken: " + "; ".join(problems))
    return {
        "vertices": len(verts),
        "faces": len(faces),
        "volume_cm3": mesh.volume * 1e6,
        "min_face_area_mm2": min_area * 1e6,
    }
