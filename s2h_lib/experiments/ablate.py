"""Loss-group ablations: the training notebook (05) run per configuration and seed, then a table.

The configurations are the baseline (every loss term) and one per group of `grid` turned off
(the `ablate` parameter of notebook 05; groups from `loss_config.GROUPS`), each trained with
every seed. Each run executes the notebook through papermill into `out/<config>/seed<k>/`
(the executed notebook is saved there beside the run's files); a run whose `metrics.json`
exists is finished and skipped, so an interrupted grid resumes. With `workers > 1` the runs go
to that many processes. Then:

  summary.csv   one row per configuration: mean and standard deviation over seeds of every
                `SUMMARY_METRICS` entry, and n (std is empty for n = 1)
  summary.md    the same as a markdown table, "mean ± std", plus notes
  summary_bars.png  a bar per configuration and metric, error bars = std over seeds
  summary_pck.png   the mean Procrustes-aligned joint PCK curve per configuration

all written atomically.
"""

from __future__ import annotations

import csv
import io
import json
import math
import multiprocessing
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from tqdm import tqdm

from s2h_lib.atomic import atomic_write_bytes
from s2h_lib.lab.notebook import declared_parameters, parameters_from_namespace, run_notebook
from s2h_lib.lab.notebook_params import TrainParams
from s2h_lib.losses.loss_config import GROUPS
from s2h_lib.paths import in_repo
from s2h_lib.train.train_run import HEADLINE_METRICS
from s2h_lib.viz.overlays import save_figure

BASELINE = "baseline"
DEFAULT_NOTEBOOK = "notebooks/05_train.ipynb"
RUN_RECORD = "metrics.json"  # written last by notebook 05: its presence means the run finished
EXECUTED_NOTEBOOK = "train.ipynb"
SUMMARY_CSV = "summary.csv"
SUMMARY_MD = "summary.md"
BARS_PNG = "summary_bars.png"
PCK_PNG = "summary_pck.png"
SUMMARY_METRICS = HEADLINE_METRICS
PCK_CURVE = "pa_joints"
# Parameters run_ablation sets per run; a base parameter of the same name would be ignored.
PER_RUN_PARAMETERS = ("out_dir", "ablate", "seed", "interactive")
MOTION_NOTE = (
    "The `motion` group holds the video terms, which only a video stage computes; this preset "
    "has none, so `no_motion` trains exactly what `baseline` trains and any difference is "
    "run-to-run noise. Ablate `motion` with a preset that has a video stage (e.g. synth-full)."
)


@dataclass(frozen=True)
class RunSpec:
    """One training run of the grid."""

    config: str
    ablate: tuple[str, ...]
    seed: int
    out_dir: Path


@dataclass
class AblationResult:
    """What `run_ablation` wrote: the summary files, the rows (configuration -> column ->
    value, as in summary.csv) and the runs that failed (run folder -> error)."""

    summary_csv: Path
    summary_md: Path
    plots: list[Path]
    rows: dict[str, dict[str, float | int | str]]
    failed: dict[str, str] = field(default_factory=dict)


def configuration_name(ablate: Sequence[str]) -> str:
    """ "baseline" for no ablated group, else "no_<group>[+<group>...]"."""
    return "no_" + "+".join(ablate) if ablate else BASELINE


def configurations(grid: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """The baseline and one configuration per group of `grid` turned off, by name."""
    unknown = [group for group in grid if group not in GROUPS]
    if unknown:
        raise ValueError(f"unknown loss group(s) {unknown} in the grid; known: {', '.join(GROUPS)}")
    if len(set(grid)) != len(grid):
        raise ValueError(f"the grid names a group twice: {list(grid)}")
    return {BASELINE: (), **{configuration_name([group]): (group,) for group in grid}}


def seed_list(seeds: int | Sequence[int]) -> list[int]:
    """`n` -> [0, ..., n-1]; a list of seeds is kept as given."""
    if isinstance(seeds, int):
        if seeds < 1:
            raise ValueError(f"seeds must be >= 1 (a count) or a list of seeds, got {seeds}")
        return list(range(seeds))
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be a non-empty list without repeats, got {list(seeds)}")
    return list(seeds)


def plan_runs(grid: Sequence[str], seeds: int | Sequence[int], out: str | Path) -> list[RunSpec]:
    """Every (configuration, seed) run of the grid, with its folder `out/<config>/seed<k>`."""
    out = Path(out)
    return [
        RunSpec(name, ablate, seed, out / name / f"seed{seed}")
        for name, ablate in configurations(grid).items()
        for seed in seed_list(seeds)
    ]


def is_finished(spec: RunSpec) -> bool:
    return (spec.out_dir / RUN_RECORD).is_file()


def per_run_parameters(spec: RunSpec) -> dict[str, object]:
    """The notebook parameters `spec` sets (`PER_RUN_PARAMETERS`)."""
    return {
        "out_dir": str(spec.out_dir.resolve()),
        "ablate": list(spec.ablate),
        "seed": spec.seed,
        "interactive": False,
    }


def execute_run(spec: RunSpec, params: Mapping[str, object], notebook: str | Path) -> Path:
    """Run the training notebook for `spec` (headless) into its folder; return the folder."""
    parameters = {**params, **per_run_parameters(spec)}
    run_notebook(notebook, spec.out_dir / EXECUTED_NOTEBOOK, parameters)
    return spec.out_dir


Runner = Callable[[RunSpec, Mapping[str, object], str | Path], Path]


def _absolute_paths(params: Mapping[str, object]) -> dict[str, object]:
    """`params` with `data_root` made absolute: the notebook's kernel runs in another folder."""
    resolved = dict(params)
    if isinstance(resolved.get("data_root"), str):
        resolved["data_root"] = str(Path(resolved["data_root"]).expanduser().resolve())
    return resolved


def check_run_parameters(notebook: Path, params: Mapping[str, object]) -> None:
    """Raise `NotebookParameterError` before any run when `params`, over the notebook's declared
    defaults and with what each run sets, would not pass `TrainParams` in the notebook."""
    per_run = per_run_parameters(RunSpec(BASELINE, (), 0, Path(".")))
    parameters_from_namespace(TrainParams, {**declared_parameters(notebook), **params, **per_run})


def _run_all(
    specs: list[RunSpec], params: dict, notebook: Path, workers: int, runner: Runner, progress
) -> dict[str, str]:
    """Run `specs`, `workers` at a time; return the failures (run folder -> error)."""
    failed: dict[str, str] = {}
    bar = tqdm(total=len(specs), desc="ablation runs", unit="run", disable=not progress)
    if workers == 1:
        for spec in specs:
            try:
                runner(spec, params, notebook)
            except Exception as error:  # one failed run must not lose the others
                failed[str(spec.out_dir)] = f"{type(error).__name__}: {error}"
            bar.update(1)
    else:
        # spawn: the workers start clean instead of forking a parent that may hold torch threads
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            futures = {pool.submit(runner, spec, params, notebook): spec for spec in specs}
            for future in as_completed(futures):
                error = future.exception()
                if error is not None:
                    failed[str(futures[future].out_dir)] = f"{type(error).__name__}: {error}"
                bar.update(1)
    bar.close()
    return failed


def run_ablation(
    grid: Sequence[str],
    seeds: int | Sequence[int],
    out: str | Path,
    *,
    params: Mapping[str, object] | None = None,
    workers: int = 1,
    notebook: str | Path | None = None,
    progress: bool = True,
    runner: Runner | None = None,
) -> AblationResult:
    """Train the baseline and every group of `grid` turned off, with each seed (`seeds`: a count
    or a list), through the training notebook; then write the summary files into `out`.

    params: notebook-05 parameters shared by every run (preset, steps, data_root, ...); a
        relative `data_root` is taken relative to the current folder. `out_dir`, `ablate`,
        `seed` and `interactive` are set per run.
    workers: runs at a time (each in its own process, with its own kernel).
    runner: what executes one run (None: `execute_run`); it must be picklable when workers > 1.
    The parameters are checked against `TrainParams` before the first run. Finished runs (their
    metrics.json exists) are skipped. Runs that fail are reported in the result's `failed` and
    left out of the summary; if none finished, RuntimeError.
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    overridden = sorted(set(params or {}) & set(PER_RUN_PARAMETERS))
    if overridden:
        raise ValueError(f"parameters {overridden} are set per run by the ablation; drop them")
    notebook = in_repo(DEFAULT_NOTEBOOK) if notebook is None else Path(notebook).resolve()
    if not notebook.is_file():
        raise FileNotFoundError(
            f"training notebook {notebook} not found; pass notebook= the path of "
            "notebooks/05_train.ipynb (the default is relative to the repository root)"
        )
    check_run_parameters(notebook, params or {})
    out = Path(out)
    specs = plan_runs(grid, seeds, out)
    todo = [spec for spec in specs if not is_finished(spec)]
    runner = execute_run if runner is None else runner
    failed = _run_all(todo, _absolute_paths(params or {}), notebook, workers, runner, progress)
    finished = [spec for spec in specs if is_finished(spec)]
    if not finished:
        raise RuntimeError(f"no run of the ablation finished; failures: {failed}")
    return write_summary(finished, out, failed)


# ------------------------------------------------------------------------------ summary


def read_records(specs: Sequence[RunSpec]) -> dict[str, list[dict]]:
    """The metrics.json of each finished run, grouped by configuration (in `specs` order)."""
    records: dict[str, list[dict]] = {}
    for spec in specs:
        path = spec.out_dir / RUN_RECORD
        try:
            records.setdefault(spec.config, []).append(json.loads(path.read_text()))
        except (OSError, json.JSONDecodeError) as error:
            raise ValueError(f"cannot read the run record {path}: {error}") from error
    return records


def _metric_values(runs: Sequence[dict], key: str) -> np.ndarray:
    """A metric over the runs, NaN where a run could not score it ("n/a")."""
    return np.array([run.get(key) if isinstance(run.get(key), float) else math.nan for run in runs])


def mean_and_std(values: np.ndarray) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof 1; NaN for fewer than 2 values) of the finite
    `values`; NaN mean when there is none."""
    finite = values[np.isfinite(values)]
    mean = float(finite.mean()) if len(finite) else math.nan
    std = float(finite.std(ddof=1)) if len(finite) > 1 else math.nan
    return mean, std


def summary_rows(records: Mapping[str, Sequence[dict]]) -> dict[str, dict]:
    """Configuration -> {"ablate", "n", "<metric>_mean", "<metric>_std", ...}."""
    rows = {}
    for name, runs in records.items():
        row: dict[str, float | int | str] = {
            "ablate": "+".join(runs[0].get("ablate", [])),
            "n": len(runs),
        }
        for key in SUMMARY_METRICS:
            row[f"{key}_mean"], row[f"{key}_std"] = mean_and_std(_metric_values(runs, key))
        rows[name] = row
    return rows


def _csv_cell(value: object) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.6g}"
    return str(value)


def summary_csv(rows: Mapping[str, dict]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    columns = ["ablate", "n", *(f"{k}_{s}" for k in SUMMARY_METRICS for s in ("mean", "std"))]
    writer.writerow(["configuration", *columns])
    for name, row in rows.items():
        writer.writerow([name, *(_csv_cell(row[column]) for column in columns)])
    return buffer.getvalue().encode()


def _mean_pm_std(mean: float, std: float) -> str:
    if math.isnan(mean):
        return "n/a"
    return f"{mean:.3f}" if math.isnan(std) else f"{mean:.3f} ± {std:.3f}"


def summary_markdown(rows: Mapping[str, dict], notes: Sequence[str] = ()) -> str:
    """A markdown table, one row per configuration, "mean ± std over seeds", then the notes."""
    header = ["configuration", "off", "n", *SUMMARY_METRICS.values()]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, row in rows.items():
        cells = [_mean_pm_std(row[f"{key}_mean"], row[f"{key}_std"]) for key in SUMMARY_METRICS]
        lines.append(
            f"| {name} | {row['ablate'] or '-'} | {row['n']} | " + " | ".join(cells) + " |"
        )
    lines.append("")
    lines.append("mean ± sample standard deviation over seeds (± omitted when n = 1).")
    lines += [f"\n{note}" for note in notes]
    return "\n".join(lines) + "\n"


def summary_notes(records: Mapping[str, Sequence[dict]]) -> list[str]:
    """Warnings the table needs: the motion group ablated without a video stage."""
    ablated_motion = any(
        "motion" in run.get("ablate", []) for runs in records.values() for run in runs
    )
    video = any(run.get("has_video_stage") for runs in records.values() for run in runs)
    return [MOTION_NOTE] if ablated_motion and not video else []


def bars_figure(rows: Mapping[str, dict]) -> Figure:
    """One panel per metric, a bar per configuration, error bars = std over seeds."""
    figure = Figure(figsize=(3.0 * len(SUMMARY_METRICS), 3.2))
    FigureCanvasAgg(figure)
    names = list(rows)
    for index, (key, label) in enumerate(SUMMARY_METRICS.items()):
        ax = figure.add_subplot(1, len(SUMMARY_METRICS), index + 1)
        means = [rows[name][f"{key}_mean"] for name in names]
        stds = [np.nan_to_num(rows[name][f"{key}_std"]) for name in names]
        ax.bar(
            range(len(names)),
            means,
            yerr=stds,
            capsize=3,
            color=[f"C{i}" for i in range(len(names))],
        )
        ax.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=7)
        ax.set_title(label, fontsize=9)
        ax.tick_params(axis="y", labelsize=7)
        ax.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    return figure


def pck_figure(records: Mapping[str, Sequence[dict]]) -> Figure:
    """The mean aligned-joint PCK curve per configuration, shaded +- std over seeds."""
    figure = Figure(figsize=(5.5, 4.0))
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    for index, (name, runs) in enumerate(records.items()):
        thresholds = runs[0]["pck_curves"]["thresholds_mm"]
        curves = np.array([run["pck_curves"][PCK_CURVE] for run in runs])
        mean = curves.mean(axis=0)
        ax.plot(thresholds, mean, color=f"C{index}", label=f"{name} (n={len(runs)})")
        if len(runs) > 1:
            spread = curves.std(axis=0, ddof=1)
            ax.fill_between(thresholds, mean - spread, mean + spread, color=f"C{index}", alpha=0.2)
    ax.set(xlabel="threshold (mm)", ylabel="PCK, Procrustes-aligned joints", ylim=(0, 1))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    figure.tight_layout()
    return figure


def write_summary(
    specs: Sequence[RunSpec], out: str | Path, failed: Mapping[str, str] | None = None
) -> AblationResult:
    """Read the finished runs' records and write summary.csv, summary.md and the two plots."""
    out = Path(out)
    records = read_records(specs)
    rows = summary_rows(records)
    notes = summary_notes(records)
    if failed:
        folders = ", ".join(f"`{folder}`" for folder in failed)
        notes.append(f"Failed runs, left out (see {EXECUTED_NOTEBOOK} in each): {folders}")
    atomic_write_bytes(out / SUMMARY_CSV, summary_csv(rows))
    atomic_write_bytes(out / SUMMARY_MD, summary_markdown(rows, notes).encode())
    plots = [
        save_figure(bars_figure(rows), out / BARS_PNG),
        save_figure(pck_figure(records), out / PCK_PNG),
    ]
    return AblationResult(out / SUMMARY_CSV, out / SUMMARY_MD, plots, rows, dict(failed or {}))
