"""What a fresh machine installs: environment.yml agrees with pyproject.toml, the Makefile
refuses an unsupported Python with a readable message, the licence files are there."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import tomllib
import yaml
from packaging.requirements import Requirement

from s2h_lib.paths import SAMPLE_PHOTOS_DIR

REPO = Path(__file__).resolve().parent.parent
PROJECT = "s2hand-lab"
# The extras `make` installs (`pip install -e .[dev,detect]`; dev pulls in build).
MAKE_EXTRAS = ("dev", "detect", "build")
# conda's name for a package -> pip's
CONDA_TO_PIP = {"pytorch": "torch"}
# conda-only entries of environment.yml: the interpreter, pip itself, the project (`-e .`)
NOT_REQUIREMENTS = ("python", "pip", "-e")


def pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def by_name(requirements: list[str]) -> dict[str, str]:
    """{normalised name: specifier} of requirement strings; a name listed twice must agree."""
    found: dict[str, str] = {}
    for text in requirements:
        requirement = Requirement(text)
        name = requirement.name.lower().replace("_", "-")
        name = CONDA_TO_PIP.get(name, name)
        specifier = str(requirement.specifier)
        assert found.setdefault(name, specifier) == specifier, f"{name} listed twice: {text}"
    return found


def make_requirements() -> dict[str, str]:
    project = pyproject()["project"]
    listed = list(project["dependencies"])
    for extra in MAKE_EXTRAS:
        listed += project["optional-dependencies"][extra]
    return by_name([r for r in listed if Requirement(r).name != PROJECT])


def environment_requirements() -> dict[str, str]:
    entries = yaml.safe_load((REPO / "environment.yml").read_text())["dependencies"]
    conda = [e for e in entries if isinstance(e, str)]
    pip = [p for e in entries if isinstance(e, dict) for p in e["pip"]]
    # conda pins the interpreter with a single "=" (python=3.11)
    wanted = [e for e in conda + pip if e.split("=")[0].split()[0] not in NOT_REQUIREMENTS]
    return by_name(wanted)


def test_environment_yml_installs_what_make_installs():
    assert environment_requirements() == make_requirements()


def test_environment_yml_installs_the_project_itself():
    entries = yaml.safe_load((REPO / "environment.yml").read_text())["dependencies"]
    pip = [p for e in entries if isinstance(e, dict) for p in e["pip"]]
    assert "-e ." in pip


def test_mediapipe_is_only_in_the_detect_extra():
    project = pyproject()["project"]
    assert "mediapipe" not in by_name(project["dependencies"])
    assert "mediapipe" not in by_name(
        [r for r in project["optional-dependencies"]["dev"] if Requirement(r).name != PROJECT]
    )
    assert by_name(project["optional-dependencies"]["detect"])["mediapipe"] == "==0.10.14"
    assert '".[dev,detect]"' in (REPO / "Makefile").read_text()


def test_the_licences_pyproject_names_exist():
    project = pyproject()["project"]
    assert "MIT" in project["license"]
    for path in project["license-files"]:
        assert (REPO / path).is_file(), path
    assert (REPO / "LICENSE").read_text().startswith("MIT License")
    notice = (REPO / "NOTICE").read_text()
    assert "s2h_lib/assets/photos" in notice and "Apache License 2.0" in notice


def test_the_wheel_ships_the_sample_photos_with_their_licence(tmp_path: Path):
    setuptools = pytest.importorskip("setuptools")
    requires = [Requirement(r) for r in pyproject()["build-system"]["requires"]]
    (needed,) = [r for r in requires if r.name == "setuptools"]
    if not needed.specifier.contains(setuptools.__version__):
        pytest.skip(f"building offline needs {needed} in this environment")
    source = tmp_path / "source"  # a copy, so the build leaves no build/ in the checkout
    shutil.copytree(REPO / "s2h_lib", source / "s2h_lib", ignore=shutil.ignore_patterns("__py*"))
    for name in ("pyproject.toml", "README.md", "LICENSE", "NOTICE"):
        shutil.copy(REPO / name, source / name)
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
    dist = tmp_path / "dist"
    subprocess.run([*command, "-w", str(dist), str(source)], check=True, timeout=300)
    (wheel,) = dist.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    photos = {f"s2h_lib/assets/photos/{p.name}" for p in SAMPLE_PHOTOS_DIR.glob("*.jpg")}
    assert photos | {"s2h_lib/assets/photos/NOTICE.md"} <= names
    licences = {n.split("/licenses/", 1)[1] for n in names if "/licenses/" in n}
    assert licences == {"LICENSE", "NOTICE", "s2h_lib/assets/photos/LICENSE-APACHE-2.0.txt"}


def run_python_check(python: str, **variables: str) -> subprocess.CompletedProcess:
    """`make check-python` with `python` as the interpreter the set-up would use."""
    settings = [
        f"{k}={v}" for k, v in {"PY": "/no/venv/python", "PYTHON": python, **variables}.items()
    ]
    return subprocess.run(
        ["make", "--no-print-directory", "-C", str(REPO), "check-python", *settings],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_makefile_accepts_this_python_and_refuses_one_outside_the_range():
    minor = sys.version_info.minor
    assert run_python_check(sys.executable).returncode == 0
    refused = run_python_check(sys.executable, PYTHON_MAX_MINOR=str(minor - 1))
    assert refused.returncode != 0
    message = refused.stderr
    assert f"needs Python 3.10 to 3.{minor - 1}" in message
    assert f"is Python 3.{minor}" in message and "mediapipe" in message
    assert "Traceback" not in message
