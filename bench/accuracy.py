"""Accuracy targets of the method: self / weak / full supervision and the bone and biomech
ablations, several seeds, the same budget, next to per-image fitting and the mean pose.

    .venv/bin/python bench/accuracy.py [--preset synth-full] [--data data/s2h_synth]
        [--out runs/accuracy] [--seeds 3] [--steps N] [--batch-size N] [--eval-samples N]
        [--variants self,weak,full,self-no-bone,self-no-biomech] [--device auto]

Build the benchmark first (`s2h data synth`). The preset's full schedule wants a GPU; on CPU
pass the largest `--steps` (every run's schedule squeezed to that many steps, stages keeping
their shares) that fits, and the table says how many steps it ran. Prints the table (mean ± std
over seeds) and one PASS/FAIL line per target; writes summary.md and summary.csv into --out.
An interrupted run resumes.
"""

from __future__ import annotations

import argparse

from s2h_lib.experiments.accuracy import VARIANTS, AccuracyConfig, run_accuracy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="synth-full", help="preset name or YAML config")
    parser.add_argument("--data", default="data/s2h_synth")
    parser.add_argument("--out", default="runs/accuracy")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=None, help="steps a run (default: all)")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--eval-samples", type=int, default=None)
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated")
    args = parser.parse_args()
    variants = tuple(v for v in (p.strip() for p in args.variants.split(",")) if v)
    config = AccuracyConfig(
        preset=args.preset,
        data_root=args.data,
        out=args.out,
        seeds=args.seeds,
        steps=args.steps,
        batch_size=args.batch_size,
        device=args.device,
        variants=variants,
        eval_samples=args.eval_samples,
    )
    result = run_accuracy(config)
    print(result.summary_md.read_text())
    print(f"wrote {result.summary_md} and {result.summary_csv}")


if __name__ == "__main__":
    main()
