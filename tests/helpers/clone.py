"""A copy of the repository as a fresh clone holds it, alone in an empty folder (no shared
folder or anything else beside it), for the tests that run notebooks and commands there."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CLONE_NAME = "s2hand-lab"


def clone_files(repo: Path = REPO) -> list[str]:
    """The repository's files as git sees them: tracked, plus new ones not ignored (what a
    clone holds once they are committed), relative to `repo`."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=repo,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return sorted(name for name in set(listed.split("\0")) if name and (repo / name).is_file())


def copy_clone(parent: Path, repo: Path = REPO) -> Path:
    """`clone_files(repo)` copied into `parent/s2hand-lab`; `parent` must be empty, so that
    nothing sits beside the copy. Returns the copy's root."""
    if any(parent.iterdir()):
        raise ValueError(f"{parent} is not empty: the copy must have nothing beside it")
    clone = parent / CLONE_NAME
    for name in clone_files(repo):
        (clone / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(repo / name, clone / name)
    return clone


def clone_environment(clone: Path) -> dict[str, str]:
    """This process's environment with the copy's package first on the path (so a kernel or
    a command imports the copy, not the editable install) and this interpreter's scripts
    (papermill, s2h) on PATH."""
    env = dict(os.environ, PYTHONPATH=str(clone))
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env
