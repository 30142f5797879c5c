"""The `s2h` command.

s2h mano convert MANO_RIGHT.pkl MANO_RIGHT.npz   convert your own official MANO file, once
s2h mano info [PATH] [--side left]               summarise a hand model file (default: open model)
s2h mano poses [--out runs/poses] [--hand PATH]  pose the hand model, write pictures
s2h demo [--out runs/demo] [--quick] [--pretrained W|none]   data, training, evaluation, report
s2h train --config PRESET|YAML --out DIR [--resume] [--set key=value ...]   train a model
s2h eval --model DIR/model.pt [--split test] --out DIR [--format freihand|ho3d] [--device D]
                                                 FreiHAND-protocol metrics, or a benchmark pred.json
s2h fit --images DIR_OR_FILE --out DIR [--steps N] [--device D]  fit the hand model to photos
s2h predict IMAGE|DIR --model DIR/model.pt --out DIR [--refine] [--device D]
                                                 a trained network on your photos: overlay,
                                                 mesh (.obj/.ply) and JSON per photo
s2h ablate --grid texture,biomech --seeds 3 --out runs/ablate [--workers N] [--steps N]
                                                 loss-group ablation grid through notebook 05
s2h data detect --images DIR --out keypoints.json   2D hand keypoints of your photos
s2h data synth [--out data/s2h_synth] [--workers N]  build the S2H-Synth benchmark (resumable)
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from s2h_lib.hand.mano_data import HandModelError
from s2h_lib.hand.mano_io import convert_mano_pkl, load_hand_model
from s2h_lib.hand.mesh_io import MESH_FORMATS

if TYPE_CHECKING:
    from s2h_lib.experiments.pipeline import PipelineConfig

RANDOM_INIT = "none"  # s2h demo --pretrained none: the encoder starts from random weights
METRICS_FORMAT = "metrics"  # s2h eval's default output: the FreiHAND-protocol metrics
DEVICE_HELP = "auto (CUDA when available, else CPU), cpu or cuda"


def _mano_convert(args: argparse.Namespace) -> None:
    out = convert_mano_pkl(args.pkl, args.out, side=args.side)
    print(f"wrote {out}: plain numpy arrays, loadable with ManoLayer(mano_root={str(out)!r})")


def _mano_info(args: argparse.Namespace) -> None:
    model = load_hand_model(args.path, side=args.side)
    print(f"source:    {model.source}")
    print(f"side:      {model.side}")
    print(f"vertices:  {model.num_verts}, faces: {len(model.faces)}")
    extent = model.v_template.max(axis=0) - model.v_template.min(axis=0)
    print(f"extent:    {' x '.join(f'{e * 1000:.0f}' for e in extent)} mm")
    for mode, ids in model.tip_vertex_ids.items():
        print(f"tips ({mode}): {list(map(int, ids))}")


def _mano_poses(args: argparse.Namespace) -> None:
    from s2h_lib.viz.mano_poses import run_demo

    for path in run_demo(Path(args.out), args.hand, seed=args.seed):
        print(f"wrote {path}")


def demo_config(args: argparse.Namespace) -> PipelineConfig:
    """The `PipelineConfig` of `s2h demo`; --pretrained is "none" or an existing file."""
    from s2h_lib.experiments.pipeline import PipelineConfig

    overrides = {}
    if args.pretrained == RANDOM_INIT:
        overrides = {"model": {"pretrained_weights": None}}
    elif args.pretrained is not None:
        weights = Path(args.pretrained).expanduser()
        if not weights.is_file():
            raise ValueError(
                f"--pretrained {args.pretrained}: no such file (an EfficientNet-Lite0 state "
                "dict, copied here; nothing is downloaded)"
            )
        overrides = {"model": {"pretrained_weights": str(weights)}}
    return PipelineConfig(
        out=args.out, data_root=args.data, seed=args.seed, train_overrides=overrides
    )


def _demo(args: argparse.Namespace) -> None:
    from s2h_lib.experiments.pipeline import quick_pipeline, run_pipeline

    config = demo_config(args)
    report = run_pipeline(quick_pipeline(config) if args.quick else config)
    print(f"report: {report.resolve()}")


def parse_assignments(assignments: Sequence[str]) -> dict:
    """`key.sub=value` strings (YAML values) to a nested dict; list items by index are not
    addressable this way, so stages are changed with a YAML config file."""
    import yaml

    nested: dict = {}
    for assignment in assignments:
        key, sep, text = assignment.partition("=")
        if not sep or not key:
            raise ValueError(f"--set expects key=value, got {assignment!r}")
        *parents, leaf = key.split(".")
        node = nested
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = yaml.safe_load(text)
    return nested


def _train(args: argparse.Namespace) -> None:
    from s2h_lib.train.train_config import load_config
    from s2h_lib.train.trainer import train

    config = load_config(args.config, parse_assignments(args.set))
    result = train(config, args.out, resume=args.resume)
    print(
        f"trained {result.global_step} steps ({result.skipped_steps} skipped); "
        f"model: {result.model_path}"
    )


def _eval(args: argparse.Namespace) -> None:
    from dataclasses import replace

    from s2h_lib.data.factory import make_dataset
    from s2h_lib.devices import choose_device
    from s2h_lib.evaluation.eval_model import (
        evaluate_predictor,
        load_trained_model,
        model_predictor,
    )
    from s2h_lib.evaluation.submission import SUBMISSION_FORMATS, write_submission

    if args.format not in (METRICS_FORMAT, *SUBMISSION_FORMATS):
        raise ValueError(
            f"--format {args.format}: choose {METRICS_FORMAT} or one of {SUBMISSION_FORMATS}"
        )
    model, config = load_trained_model(args.model, choose_device(args.device))
    data = config.data if args.data is None else replace(config.data, root=args.data)
    if args.format != METRICS_FORMAT:  # the benchmark scores it: its labels are not read
        dataset = make_dataset(data, args.split, with_truth=False)
        path = write_submission(model_predictor(model), dataset, args.out, args.format)
        print(f"wrote {path}: {len(dataset)} samples in the {args.format} pred.json format")
        return
    dataset = make_dataset(data, args.split, with_truth=True)
    report = evaluate_predictor(model_predictor(model), model.faces, dataset, args.out)
    print(
        f"PA-MPJPE {report['pa_mpjpe_mm']:.2f} mm, PA-MPVPE {report['pa_mpvpe_mm']} mm "
        f"on {report['num_samples']} samples; wrote {args.out}"
    )


def _fit(args: argparse.Namespace) -> None:
    from s2h_lib.fit.fit_config import FitConfig
    from s2h_lib.fit.fit_photos import CROP_SIZE, fit_photos

    if not args.images.exists():
        raise ValueError(f"--images {args.images}: no such photo or folder of photos")
    steps = {} if args.steps is None else {"steps": args.steps}
    config = FitConfig(seed=args.seed, **steps)
    report = fit_photos(
        args.images, args.out, config, size=args.size or CROP_SIZE, device=args.device
    )
    print(f"fitted {len(report['hands'])} hand(s); wrote {args.out}")
    for name, why in report["skipped"].items():
        print(f"  skipped {name}: {why}")


def _predict(args: argparse.Namespace) -> None:
    from s2h_lib.predict import PredictConfig, predict_photos

    config = PredictConfig(refine=args.refine, mesh_format=args.mesh)
    report = predict_photos(args.images, args.model, args.out, config, device=args.device)
    print(f"wrote {args.out}: hands in {len(report.written)} photo(s)")
    for name, path in report.written.items():
        print(f"  {name}: {path.name}")
    for name, why in report.skipped.items():
        print(f"  skipped {name}: {why}")


def _ablate(args: argparse.Namespace) -> None:
    from s2h_lib.experiments.ablate import run_ablation

    params = {"preset": args.preset, "data_root": args.data, **parse_assignments(args.param)}
    if args.steps is not None:
        params["steps"] = args.steps
    grid = [group.strip() for group in args.grid.split(",") if group.strip()]
    result = run_ablation(
        grid, args.seeds, args.out, params=params, workers=args.workers, notebook=args.notebook
    )
    print(result.summary_md.read_text())
    print(f"wrote {result.summary_csv}, {result.summary_md}, " + ", ".join(map(str, result.plots)))
    for folder, error in result.failed.items():
        print(f"  failed {folder}: {error.splitlines()[0]}")


def _data_detect(args: argparse.Namespace) -> None:
    from s2h_lib.data.photos.detect_folder import detect_folder
    from s2h_lib.data.photos.detector import DetectorConfig

    config = DetectorConfig(max_hands=args.max_hands)
    result = detect_folder(args.images, args.out, config, resume=args.resume)
    total = len(result.images) + len(result.failures)
    print(f"wrote {args.out}: a hand in {len(result.with_hands)} of {total} images")
    for name, error in result.failures.items():
        print(f"  skipped {name}: {error}")


def _data_synth(args: argparse.Namespace) -> None:
    from dataclasses import fields

    from s2h_lib.data.synth.config import SynthConfig
    from s2h_lib.data.synth.store import build_synth

    given = {f.name: getattr(args, f.name, None) for f in fields(SynthConfig)}
    config = SynthConfig(**{name: value for name, value in given.items() if value is not None})
    try:
        manifest = build_synth(args.out, config, workers=args.workers)
    except KeyboardInterrupt:
        print("\ninterrupted: shards already written are kept; the same command resumes")
        raise SystemExit(130) from None
    except FileNotFoundError as error:  # e.g. --noise-file: a message, not a traceback
        raise ValueError(str(error)) from error
    print(f"wrote {manifest}")


def _add_synth_command(data: argparse._SubParsersAction) -> None:
    synth = data.add_parser(
        "synth", help="render the S2H-Synth benchmark (an interrupted run resumes)"
    )
    synth.add_argument("--out", type=Path, default=Path("data/s2h_synth"))
    synth.add_argument("--workers", type=int, default=None, help="processes (default: CPUs, <= 8)")
    synth.add_argument("--image-size", type=int, help="image side in pixels (default 128)")
    for split, default in (("train", 4000), ("val", 500), ("test", 500)):
        synth.add_argument(f"--{split}", type=int, help=f"{split} images (default {default})")
    synth.add_argument("--clips", type=int, help="clips (default 200)")
    synth.add_argument("--clip-length", type=int, help="frames per clip (default 8)")
    synth.add_argument("--seed", type=int, help="base seed (default 0)")
    synth.add_argument("--mano-root", help="official MANO folder/file (default: open hand model)")
    synth.add_argument(
        "--keypoints",
        choices=("noise", "detector"),
        help="also store the real detector's keypoints ('detector'; default: noise model only)",
    )
    synth.add_argument("--noise-file", help="detector-noise JSON (default: the package's)")
    synth.add_argument("--shard-size", type=int, help="images per shard file (default 250)")
    synth.set_defaults(run=_data_synth)


def add_data_commands(data: argparse._SubParsersAction) -> None:
    """`s2h data ...`: one parser per data command; each imports its module only when run."""
    _add_synth_command(data)
    detect = data.add_parser("detect", help="find hands and their 2D keypoints in a photo folder")
    detect.add_argument("--images", type=Path, required=True, help="folder of photos")
    detect.add_argument("--out", type=Path, required=True, help="keypoints JSON to write")
    detect.add_argument("--max-hands", type=int, default=2, help="most hands per photo")
    detect.add_argument(
        "--resume",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="skip photos already in --out (default), or start over",
    )
    detect.set_defaults(run=_data_detect)


def _add_assignments(
    command: argparse.ArgumentParser, flag: str, metavar: str, help_text: str
) -> None:
    """A repeatable `flag NAME=VALUE` option of `command`, collected as a list of strings for
    `parse_assignments`."""
    command.add_argument(flag, action="append", default=[], metavar=metavar, help=help_text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="s2h", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)

    mano = commands.add_parser("mano", help="hand model files").add_subparsers(
        dest="mano_command", required=True
    )
    convert = mano.add_parser("convert", help="convert an official MANO .pkl to a plain .npz")
    convert.add_argument("pkl", type=Path, help="MANO_RIGHT.pkl or MANO_LEFT.pkl")
    convert.add_argument("out", type=Path, help="output .npz")
    convert.add_argument(
        "--side", choices=("right", "left"), default=None, help="default: read from the file name"
    )
    convert.set_defaults(run=_mano_convert)
    info = mano.add_parser("info", help="summarise a hand model")
    info.add_argument(
        "path", nargs="?", default=None, help="MANO folder or file; default: the open hand model"
    )
    info.add_argument("--side", choices=("right", "left"), default="right")
    info.set_defaults(run=_mano_info)

    data = commands.add_parser("data", help="datasets and 2D keypoints").add_subparsers(
        dest="data_command", required=True
    )
    add_data_commands(data)

    poses = mano.add_parser("poses", help="pose the hand model and write pictures")
    poses.add_argument("--out", default="runs/poses")
    poses.add_argument("--hand", default=None, help="hand model file or MANO folder")
    poses.add_argument("--seed", type=int, default=0)
    poses.set_defaults(run=_mano_poses)

    demo = commands.add_parser("demo", help="the main job: build data, train, evaluate, report")
    demo.add_argument("--out", default="runs/demo")
    demo.add_argument("--data", default="data/s2h_synth", help="S2H-Synth folder (built if absent)")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--quick", action="store_true", help="a tiny run to check the set-up")
    demo.add_argument(
        "--pretrained",
        default=None,
        help="the encoder's start: by default the ImageNet weights that install with the "
        f"package; '{RANDOM_INIT}' for a random initialisation; or a local EfficientNet-Lite0 "
        "state dict",
    )
    demo.set_defaults(run=_demo)

    train = commands.add_parser("train", help="train a model (one process or under torchrun)")
    train.add_argument("--config", required=True, help="a preset name or a YAML file")
    train.add_argument("--out", type=Path, required=True, help="run folder")
    train.add_argument("--resume", action="store_true", help="continue the run in --out")
    _add_assignments(
        train,
        "--set",
        "KEY=VALUE",
        "override a config value, e.g. --set seed=3 --set data.root=data/x",
    )
    train.set_defaults(run=_train)

    evaluate = commands.add_parser("eval", help="FreiHAND-protocol metrics of a trained model")
    evaluate.add_argument("--model", type=Path, required=True, help="model.pt of a run")
    evaluate.add_argument("--data", default=None, help="dataset root (default: the training one)")
    evaluate.add_argument("--split", default="test", choices=("val", "test"))
    evaluate.add_argument("--out", type=Path, required=True)
    evaluate.add_argument(
        "--format",
        default=METRICS_FORMAT,
        help="metrics (default): score against the split's labels; freihand or ho3d: write "
        "pred.json for that benchmark's scorer, without reading labels",
    )
    evaluate.add_argument("--device", default="auto", help=DEVICE_HELP)
    evaluate.set_defaults(run=_eval)

    fit = commands.add_parser("fit", help="fit the hand model to the hands in photos")
    fit.add_argument("--images", type=Path, required=True, help="a photo or a folder of photos")
    fit.add_argument("--out", type=Path, required=True, help="folder for overlays and fits.json")
    fit.add_argument("--steps", type=int, help="optimisation steps (default: FitConfig's)")
    fit.add_argument("--size", type=int, help="crop size in pixels (default: 256)")
    fit.add_argument("--seed", type=int, default=0)
    fit.add_argument("--device", default="auto", help=DEVICE_HELP)
    fit.set_defaults(run=_fit)

    predict = commands.add_parser("predict", help="run a trained network on your photos")
    predict.add_argument("images", type=Path, help="a photo or a folder of photos")
    predict.add_argument("--model", type=Path, required=True, help="model.pt of a run")
    predict.add_argument("--out", type=Path, required=True, help="folder for the results")
    predict.add_argument(
        "--refine", action="store_true", help="fit each prediction further to its photo"
    )
    predict.add_argument("--mesh", choices=MESH_FORMATS, default="obj", help="mesh file format")
    predict.add_argument("--device", default="auto", help=DEVICE_HELP)
    predict.set_defaults(run=_predict)

    ablate = commands.add_parser(
        "ablate", help="train a grid of loss-group ablations x seeds through notebook 05"
    )
    ablate.add_argument(
        "--grid", required=True, help="loss groups to turn off one at a time, e.g. texture,biomech"
    )
    ablate.add_argument("--seeds", type=int, default=3, help="seeds per configuration (0..N-1)")
    ablate.add_argument("--out", type=Path, default=Path("runs/ablate"))
    ablate.add_argument("--workers", type=int, default=1, help="runs at a time, one process each")
    ablate.add_argument("--steps", type=int, help="squeeze each run to about N training steps")
    ablate.add_argument("--preset", default="synth-cpu-demo", help="training preset or YAML")
    ablate.add_argument("--data", default="data/s2h_synth", help="dataset folder")
    ablate.add_argument(
        "--notebook", type=Path, help="the training notebook (default: the repository's 05)"
    )
    _add_assignments(
        ablate,
        "--param",
        "NAME=VALUE",
        "another notebook-05 parameter (YAML value), e.g. --param batch_size=16",
    )
    ablate.set_defaults(run=_ablate)
    return parser


def _user_errors() -> tuple[type[BaseException], ...]:
    """Errors that mean bad input or a bad state, shown as one line (evaluated only when an
    exception is being handled, so the heavy modules are imported only then)."""
    from s2h_lib.extras import MissingExtraError
    from s2h_lib.train.checkpoint import CheckpointError
    from s2h_lib.train.trainer import TrainingDivergedError

    return (
        HandModelError,
        ValueError,
        FileNotFoundError,
        FileExistsError,
        CheckpointError,
        TrainingDivergedError,
        MissingExtraError,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except _user_errors() as error:
        print(f"s2h: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
