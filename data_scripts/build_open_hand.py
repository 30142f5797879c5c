"""Build the open hand model: a procedural right hand in the MANO layout.

    python data_scripts/build_open_hand.py [--out s2h_lib/assets/open_hand_right.npz]
        [--sheet docs/open_hand_contact_sheet.png] [--seed 0]

Deterministic: the same seed and library versions give the same bytes. Needs the `build` extra
(scikit-image, trimesh, fast-simplification).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from open_hand.asset import mano_layout, write_npz
from open_hand.pose_space import sample_pose_space
from open_hand.shape_space import sample_hands, shape_blend_shapes
from open_hand.skeleton import rest_skeleton
from open_hand.skinning import fingertip_vertices, joint_regressor, skinning_weights
from open_hand.surface import check_mesh, extract_mesh

GENERATOR_VERSION = "1"
REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "s2h_lib" / "assets" / "open_hand_right.npz"
DEFAULT_SHEET = REPO / "docs" / "open_hand_contact_sheet.png"
MAX_REGRESSOR_ERROR_M = 1e-3


def build(seed: int) -> dict[str, np.ndarray]:
    """Every array of the asset, in the MANO layout."""
    started = time.perf_counter()

    def step(message: str) -> None:
        print(f"[{time.perf_counter() - started:5.1f} s] {message}", flush=True)

    skeleton = rest_skeleton()
    step("meshing the surface")
    verts, faces = extract_mesh(skeleton)
    stats = check_mesh(verts, faces)
    step(f"surface: {stats['vertices']} vertices, {stats['faces']} faces")
    weights = skinning_weights(verts, faces, skeleton)
    regressor = joint_regressor(verts, skeleton.joints)
    error = np.linalg.norm(regressor @ verts - skeleton.joints, axis=1).max()
    if error > MAX_REGRESSOR_ERROR_M:
        raise RuntimeError(f"joint regressor misses a rest joint by {error * 1e3:.2f} mm")
    step(f"rigged: regressor reproduces the skeleton within {error * 1e3:.3f} mm")
    rng = np.random.default_rng(seed)
    samples = sample_hands(verts, skeleton.joints, skeleton.tips, weights, rng)
    shapedirs = shape_blend_shapes(verts, samples)
    step("shape space: 10 components")
    components, mean, coeffs = sample_pose_space(rng)
    step("pose space: 45 components")
    meta = {
        "name": "s2hand-lab open hand (right)",
        "generator": f"data_scripts/build_open_hand.py v{GENERATOR_VERSION}",
        "seed": seed,
        "units": "metres",
        "frame": "MANO rest frame: fingers along -x, palm facing -y, thumb towards +z",
        "posedirs": "zero: no pose-corrective blend shapes are fitted",
        "tip_order": "thumb, index, middle, ring, pinky",
        "shapedirs_x_sign_fixed": True,
        "license": "MIT, procedurally generated; contains nothing from the MANO model",
    }
    return mano_layout(
        verts,
        faces,
        skeleton.joints,
        regressor,
        weights,
        shapedirs,
        components,
        mean,
        coeffs,
        fingertip_vertices(verts, skeleton),
        meta,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--sheet", type=Path, default=DEFAULT_SHEET, help="contact-sheet PNG")
    parser.add_argument("--no-sheet", action="store_true", help="skip the contact sheet")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    write_npz(args.out, build(args.seed))
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB)")
    if not args.no_sheet:
        from open_hand.contact_sheet import write_contact_sheet

        write_contact_sheet(args.out, args.sheet)
        print(f"wrote {args.sheet}")


if __name__ == "__main__":
    main()
