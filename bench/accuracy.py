"""Accuracy targets of the method: self / weak / full supervision and the bone and biomech
ablations, several seeds, the same budget, next to per-image fitting and the mean pose.

    .venv/bin/python bench/accuracy.py [--preset synth-full] [--data data/s2h_synth]
        [--out runs/accuracy] [--seeds 3] [--budget 1.0] [--eval-samples N]
        [--variants self,weak,full,self-no-bone,self-no-biomech] [--set key=value ...]

Build the benchmark first (`s2h data synth`). The preset's full schedule wants a GPU; on CPU
pass the largest `--budget` (fraction of every stage's steps) that fits, and the table says
which budget it ran. Prints the table (mean ± std over seeds) and one PASS/FAIL line per
target; writes summary.md and summary.csv into --out. An interrupted run resumes.
"""

from __future__ import annotations

import argparse

from s2h_lib.accuracy import VARIANTS, AccuracyConfig, run_accuracy
from s2h_lib.cli import parse_assignments


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="synth-full", help="preset name or YAML config")
    parser.add_argument("--data", default="data/s2h_synth")
    parser.add_argument("--out", default="runs/accuracy")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--budget", type=float, default=1.0, help="fraction of the steps")
    parser.add_argument("--eval-samples", type=int, default=None)
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    variants = tuple(v for v in (p.strip() for p in args.variants.split(",")) if v)
    config = AccuracyConfig(
        preset=args.preset,
        data_root=args.data,
        out=args.out,
        seeds=args.seeds,
        budget=args.budget,
        variants=variants,
        eval_samples=args.eval_samples,
        overrides=parse_assignments(args.set),
    )
    result = run_accuracy(config)
    print(result.summary_md.read_text())
    print(f"wrote {result.summary_md} and {result.summary_csv}")


if __name__ == "__main__":
    main()
