"""A fresh clone on its own: nothing reaches outside the repository, the notebooks' default
paths hang from the repository root, and the README's papermill command works as written from
the root of a copy of the repository with nothing beside it (no `../shared`).

All ten notebooks run in such a copy too, with their default paths: tests/test_notebooks.py
runs each one there (its tiny parameters, once per notebook), rather than here a second time.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.clone import clone_environment, clone_files, copy_clone
from helpers.tiny_training import build_tiny_synth

from s2h_lib.lab.notebook import declared_parameters
from s2h_lib.lab.notebook_params import NOTEBOOK_PARAMS
from s2h_lib.paths import in_repo

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
# What a user runs or reads: the folders and top-level files scanned for outside paths.
SCANNED_FOLDERS = ("s2h_lib", "notebooks", "tests", "data_scripts", "bench")
SCANNED_FILES = ("Makefile", "pyproject.toml", "environment.yml", "README.md")
SCANNED_SUFFIXES = (".py", ".ipynb", ".md", ".yml", ".yaml", ".toml", ".json", ".sh")
# Paths that leave the repository: two levels up, the shared folder beside the clone (as a
# path part), or this machine's absolute layout.
OUTSIDE = re.compile(r"\.\./\.\.|\.\./shared\b|[\"'/]shared[\"'/]|/work/")
# Mentions allowed: CI installs the optional pytorch3d wheel for the parity tests from there
# (they skip without it); nothing a user runs needs it.
ALLOWED_MENTIONS = ("../shared/wheels",)
# Name endings of notebook parameters that hold a path.
PATH_NAMES = ("_dir", "_path", "_root", "photo")
# Folders of the repository a default may point into that exist in a fresh clone (runs/ and
# data/ are made by `make demo` or the notebook itself).
SHIPPED = ("s2h_lib", "notebooks")
# What the README's papermill command is given on top, to run in seconds on a tiny benchmark
# (papermill takes any number of -p options; the README's own are kept as written).
TINY_TRAINING = {
    "batch_size": 4,
    "image_size": 64,
    "workers": 0,
    "eval_samples": 4,
    "interactive": False,
    "dpi": 40,
}
TIMEOUT_S = 600


def scanned_files() -> list[Path]:
    files = [REPO / name for name in SCANNED_FILES]
    for folder in SCANNED_FOLDERS:
        files += [
            path
            for path in sorted((REPO / folder).rglob("*"))
            if path.suffix in SCANNED_SUFFIXES and "__pycache__" not in path.parts
        ]
    return [path for path in files if path != Path(__file__).resolve()]


def test_nothing_points_outside_the_repository():
    found = []
    for path in scanned_files():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if OUTSIDE.search(line) and not any(m in line for m in ALLOWED_MENTIONS):
                found.append(f"{path.relative_to(REPO)}:{number}: {line.strip()[:120]}")
    assert found == [], "paths outside the repository:\n" + "\n".join(found)


def test_the_scan_sees_what_it_must_refuse():
    for line in (
        'photos_dir = "../../shared/real_photos"',
        'PHOTOS = Path(__file__).resolve().parents[1].parent / "shared" / "real_photos"',
        "python detect.py --images ../shared/real_photos",
    ):
        assert OUTSIDE.search(line), line
    assert not OUTSIDE.search("weights shared by every joint (shared/ nothing)")


def notebook_defaults(path: Path) -> tuple[dict[str, object], set[str]]:
    """The parameters cell's values, and the names its dataclass declares `repo_path()`."""
    params = NOTEBOOK_PARAMS[path.stem]
    declared = {f.name for f in dataclasses.fields(params) if f.metadata.get("repo_path")}
    return declared_parameters(path), declared


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_notebook_default_paths_stay_in_the_repository(path: Path):
    values, declared = notebook_defaults(path)
    paths = {name for name in values if name.endswith(PATH_NAMES)}
    assert paths <= declared, f"{path.name}: path parameters not declared repo_path()"
    for name in declared:
        value = values[name]
        if value is None:
            continue
        assert not Path(value).is_absolute() and not value.startswith("~"), (name, value)
        resolved = in_repo(value, start=REPO).resolve()
        assert resolved.is_relative_to(REPO), f"{path.name}: {name} = {value!r} leaves the repo"
        if Path(value).parts[0] in SHIPPED:
            assert resolved.exists(), f"{path.name}: {name} = {value!r} is not in the clone"


# ---- a copy of the repository with nothing beside it -----------------------------------------


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repository's files copied into an empty folder (no ../shared beside it), with a
    tiny S2H-Synth where `make demo` would build the real one."""
    clone = copy_clone(tmp_path_factory.mktemp("alone"))
    build_tiny_synth(clone / "data" / "s2h_synth")
    return clone


def test_the_copy_holds_what_a_clone_holds_and_nothing_from_outside():
    names = clone_files()
    assert {"pyproject.toml", "Makefile", "README.md", "runs/README.md"} <= set(names)
    assert any(name.startswith("s2h_lib/assets/photos/") for name in names)
    assert not [name for name in names if name.startswith(("runs/demo", "data/", ".venv"))]


def test_the_copy_imports_its_own_package(clone: Path):
    code = "import s2h_lib; print(s2h_lib.__file__)"
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=clone,
        env=clone_environment(clone),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert Path(result.stdout.strip()).is_relative_to(clone)
    assert not (clone.parent / "shared").exists()


def readme_papermill_commands() -> list[str]:
    return re.findall(r"`(papermill notebooks/[^`]+)`", (REPO / "README.md").read_text())


@pytest.mark.slow
def test_the_readme_papermill_command_works_from_the_root(clone: Path):
    (command,) = readme_papermill_commands()
    extra = [part for name, value in TINY_TRAINING.items() for part in ("-p", name, str(value))]
    result = subprocess.run(
        shlex.split(command) + extra,
        cwd=clone,
        env=clone_environment(clone),
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    executed = clone / shlex.split(command)[2]
    assert executed.is_file() and executed.is_relative_to(clone / "runs")
    metrics = json.loads((clone / "runs" / "nb05" / "metrics.json").read_text())
    assert metrics, "the run wrote empty metrics"
    config = (clone / "runs" / "nb05" / "config.yaml").read_text()
    assert str(clone / "data" / "s2h_synth") in config  # the clone's data, found from the root
    # nothing beside the clone or relative to another folder
    assert sorted(p.name for p in clone.parent.iterdir()) == [clone.name]
    assert not (clone / "notebooks" / "runs").exists()
