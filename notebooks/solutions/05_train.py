"""Solutions to notebook 05's exercises."""

from collections.abc import Mapping
from pathlib import Path

from s2h_lib.lab.notebook import run_notebook
from s2h_lib.paths import repo_root

TRAIN_NOTEBOOK = repo_root() / "notebooks" / "05_train.ipynb"


def weak_run(parameters: Mapping[str, object], out_dir: str | Path) -> Path:
    """Exercise 05.1: notebook 05 once more, headless, with this run's `parameters`
    (`dataclasses.asdict(params)`) except supervision="weak", into `out_dir`."""
    out_dir = Path(out_dir)
    changes = {"supervision": "weak", "out_dir": str(out_dir), "interactive": False}
    run_notebook(TRAIN_NOTEBOOK, out_dir / "train.ipynb", {**parameters, **changes})
    return out_dir
