"""Where things are: the repository root that default paths hang from, and shipped assets.

A notebook's default paths (`runs/nb05`, `data/s2h_synth`, ...) are relative to the repository
root, not to the kernel's working directory. JupyterLab starts a kernel in `notebooks/`, while
`papermill notebooks/05_train.ipynb ...` typed at the root starts it at the root; anchoring the
paths to the root makes both write to the same `runs/` and read the same `data/`.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
ASSETS_DIR = PACKAGE_DIR / "assets"
# A few real photos (Apache-2.0, see their NOTICE.md) so a clone runs with nothing beside it.
SAMPLE_PHOTOS_DIR = ASSETS_DIR / "photos"
# What marks a folder as the repository root (a clone of s2hand-lab).
ROOT_MARKERS = ("pyproject.toml", "notebooks", "s2h_lib")


def is_repo_root(folder: Path) -> bool:
    """Whether `folder` holds the repository's top level (pyproject.toml, notebooks/, s2h_lib/)."""
    return all((folder / marker).exists() for marker in ROOT_MARKERS)


def repo_root(start: str | Path | None = None) -> Path:
    """The repository root: the nearest folder, from `start` (default: the working directory)
    up, that `is_repo_root`; else the clone the imported package lives in (an editable
    install); else `start` itself, so that relative paths keep their usual meaning."""
    here = Path.cwd() if start is None else Path(start).expanduser().resolve()
    for folder in (here, *here.parents):
        if is_repo_root(folder):
            return folder
    if is_repo_root(PACKAGE_DIR.parent):
        return PACKAGE_DIR.parent
    return here


def in_repo(path: str | Path, start: str | Path | None = None) -> Path:
    """`path` made absolute: a relative one is taken from `repo_root(start)`, `~` expanded."""
    path = Path(path).expanduser()
    return path if path.is_absolute() else repo_root(start) / path
