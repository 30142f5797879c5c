"""Time one update of the hand explorer (s2h_lib.viz.explorer): budget 100 ms for a MANO-sized mesh.

    .venv/bin/python bench/bench_explorer.py [--repeats 50]

One update is what a slider release costs on the Python side: the articulation, a `ManoLayer`
forward pass, and the new coordinates sent to the `go.FigureWidget` in one `batch_update`. Here
there is no browser, so the comm message is built and queued but nobody renders it; the
browser test (tests/test_browser.py) checks the round trip. Also shown: the layer alone, and
the size of the static figure (what a headless notebook stores per explorer picture).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np

from s2h_lib.viz.explorer import HandExplorer

BUDGET_MS = 100.0


def median_ms(step: Callable[[int], object], repeats: int) -> tuple[float, float]:
    """Median and maximum wall time of step(i) in ms, after two warm-up calls."""
    step(0)
    step(1)
    times = []
    for i in range(repeats):
        start = time.perf_counter()
        step(i)
        times.append(1e3 * (time.perf_counter() - start))
    return float(np.median(times)), float(np.max(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args()

    explorer = HandExplorer(n_pca=6, n_betas=5)
    values = np.linspace(-2.0, 2.0, 7)
    rows = []

    def mesh_only(i: int) -> None:
        explorer.state.pca[0] = values[i % len(values)]
        explorer.mesh()

    rows.append(("articulation + ManoLayer forward", *median_ms(mesh_only, args.repeats)))
    explorer.widget()

    def slider_release(i: int) -> None:
        explorer.set_pca(0, float(values[i % len(values)]))

    rows.append(
        ("slider release (set_pca + widget update)", *median_ms(slider_release, args.repeats))
    )

    def joint_change(i: int) -> None:
        explorer.set_joint_angle(4, 2, float(10 * (i % 9)))

    rows.append(("joint angle (set_joint_angle + update)", *median_ms(joint_change, args.repeats)))
    figure_kb = len(explorer.figure().to_json()) / 1e3

    print(f"hand: {explorer.layer.num_verts} vertices, {len(explorer.faces)} faces")
    print(f"{'operation':<44}{'median ms':>10}{'max ms':>10}")
    for name, median, worst in rows:
        print(f"{name:<44}{median:>10.2f}{worst:>10.2f}")
    print(f"static figure JSON: {figure_kb:.0f} KB")
    verdict = "within" if rows[1][1] < BUDGET_MS else "OVER"
    print(f"slider update {verdict} the {BUDGET_MS:.0f} ms budget")


if __name__ == "__main__":
    main()
