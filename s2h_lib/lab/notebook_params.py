"""What each numbered notebook's parameters may hold: one dataclass per notebook.

A notebook declares its parameters once, in its cell tagged `parameters` (name, default value
and a comment saying what it does), where papermill reads and overrides them. The dataclass
here says what each may hold (type, range, choices, repository path; `notebook`'s field
helpers) and nothing else: no defaults, so there is no second copy of them to drift. The cell
after the parameters checks them against it:

    params = parameters_from_namespace(TrainParams, globals())

`tests/test_notebook_params.py` checks that every committed notebook's parameters cell declares
exactly the fields of its dataclass (`NOTEBOOK_PARAMS`) with values that pass.
"""

from __future__ import annotations

from dataclasses import dataclass

from s2h_lib.lab.notebook import NotebookParameterError, at_least, one_of, repo_path

DEVICES = ("auto", "cuda", "cpu", "mps")
SPLITS = ("val", "test")
MIN_DPI = 20
MIN_IMAGE_SIZE = 16


@dataclass(frozen=True)
class NotebookParams:
    """What every notebook has: the folder it writes into, whether a person watches (widgets,
    progress bars, inline pictures) and the resolution of its saved PNGs."""

    out_dir: str = repo_path()
    interactive: bool
    dpi: int = at_least(MIN_DPI)


@dataclass(frozen=True)
class TourParams(NotebookParams):
    """00_tour."""

    photo: str = repo_path()
    model_path: str = repo_path()
    fit_steps: int = at_least(1)
    views: list[str]
    seed: int


@dataclass(frozen=True)
class ExplorerParams(NotebookParams):
    """01_hand_model_explorer."""

    seed: int
    n_pca_sliders: int = at_least(1)
    n_beta_sliders: int = at_least(0)
    sweep_steps: int = at_least(2)
    mano_root: str | None = repo_path()


@dataclass(frozen=True)
class RenderingParams(NotebookParams):
    """02_differentiable_rendering."""

    seed: int
    image_size: int = at_least(MIN_IMAGE_SIZE)
    fit_steps: int = at_least(1)
    sigmas: list[float] = at_least(1e-6)
    gammas: list[float] = at_least(1e-9)


@dataclass(frozen=True)
class DataParams(NotebookParams):
    """03_data_and_keypoints."""

    data_dir: str = repo_path()
    photos_dir: str = repo_path()
    n_samples: int = at_least(1)
    n_photos: int = at_least(0)
    noise_hands: int = at_least(10)
    seed: int


@dataclass(frozen=True)
class LossesParams(NotebookParams):
    """04_losses."""

    data_dir: str = repo_path()
    model_path: str | None = repo_path()
    stage: str = one_of("shape", "kp", "finetune", "e2e")
    batch_size: int = at_least(1)
    sample_index: int = at_least(0)
    seed: int

    def __post_init__(self) -> None:
        if self.sample_index >= self.batch_size:
            raise NotebookParameterError(
                f"parameter 'sample_index' must be < batch_size ({self.batch_size}), "
                f"got {self.sample_index}"
            )


@dataclass(frozen=True)
class TrainParams(NotebookParams):
    """05_train (and every run of `s2h ablate`)."""

    preset: str
    supervision: str = one_of("self", "weak", "full")
    ablate: list[str]
    seed: int
    steps: int | None = at_least(1)
    batch_size: int | None = at_least(1)
    data_root: str = repo_path()
    image_size: int | None = at_least(MIN_IMAGE_SIZE)
    workers: int | None = at_least(0)
    eval_split: str = one_of(*SPLITS)
    eval_samples: int | None = at_least(1)
    show_samples: int = at_least(1)
    device: str = one_of(*DEVICES)
    nproc: int = at_least(1)


@dataclass(frozen=True)
class AblationParams(NotebookParams):
    """06_ablations."""

    grid: list[str]
    seeds: int = at_least(1)
    steps: int | None = at_least(1)
    workers: int = at_least(1)
    preset: str
    data_root: str = repo_path()
    train_params: dict


@dataclass(frozen=True)
class EvaluateParams(NotebookParams):
    """07_evaluate_and_browse."""

    model_path: str = repo_path()
    eval_dir: str | None = repo_path()
    data_root: str | None = repo_path()
    split: str = one_of(*SPLITS)
    eval_samples: int | None = at_least(1)
    sample_index: int = at_least(0)
    device: str = one_of(*DEVICES)


@dataclass(frozen=True)
class VideoParams(NotebookParams):
    """08_video_and_motion."""

    data_root: str = repo_path()
    clip_index: int = at_least(0)
    fit_steps: int = at_least(1)
    jitter_mm: float = at_least(0.0)
    seed: int
    fps: float = at_least(0.1)
    image_model_path: str | None = repo_path()
    video_model_path: str | None = repo_path()
    preset: str
    train_steps: int = at_least(1)
    video_steps: int = at_least(1)
    batch_size: int | None = at_least(1)
    clip_batch: int = at_least(1)
    image_size: int | None = at_least(MIN_IMAGE_SIZE)
    workers: int = at_least(0)
    eval_clips: int = at_least(1)
    device: str = one_of(*DEVICES)


@dataclass(frozen=True)
class PhotoFitParams(NotebookParams):
    """09_fit_your_photo."""

    image_path: str = repo_path()
    steps: int = at_least(1)
    views: list[str]
    crop_size: int = at_least(32)
    model_path: str | None = repo_path()
    seed: int


# Notebook file stem -> the dataclass its parameters cell is checked against.
NOTEBOOK_PARAMS: dict[str, type[NotebookParams]] = {
    "00_tour": TourParams,
    "01_hand_model_explorer": ExplorerParams,
    "02_differentiable_rendering": RenderingParams,
    "03_data_and_keypoints": DataParams,
    "04_losses": LossesParams,
    "05_train": TrainParams,
    "06_ablations": AblationParams,
    "07_evaluate_and_browse": EvaluateParams,
    "08_video_and_motion": VideoParams,
    "09_fit_your_photo": PhotoFitParams,
}
