"""Each notebook declares its parameters once, in its `parameters` cell, and that declaration
passes the dataclass of `s2h_lib.lab.notebook_params` (checked without a kernel)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers.notebook_parameters import TINY_PARAMETERS

from s2h_lib.lab import parameters_from_namespace
from s2h_lib.lab.notebook import NotebookParameterError, declared_parameters
from s2h_lib.lab.notebook_params import NOTEBOOK_PARAMS, LossesParams

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOK_PATHS = sorted(NOTEBOOKS.glob("*.ipynb"))


def test_every_notebook_has_one_parameters_dataclass():
    assert sorted(NOTEBOOK_PARAMS) == [path.stem for path in NOTEBOOK_PATHS]


@pytest.mark.parametrize("path", NOTEBOOK_PATHS, ids=lambda path: path.stem)
def test_the_parameters_cell_declares_exactly_its_dataclass_fields(path: Path):
    declared = declared_parameters(path)
    params = parameters_from_namespace(NOTEBOOK_PARAMS[path.stem], declared)
    assert set(vars(params)) == set(declared)


@pytest.mark.parametrize("path", NOTEBOOK_PATHS, ids=lambda path: path.stem)
def test_the_tests_tiny_parameters_pass_too(path: Path):
    tiny = {**declared_parameters(path), **TINY_PARAMETERS[path.name], "interactive": False}
    parameters_from_namespace(NOTEBOOK_PARAMS[path.stem], tiny)


def notebook_with_parameters(folder: Path, source: str) -> Path:
    cell = {"cell_type": "code", "metadata": {"tags": ["parameters"]}, "source": source}
    path = folder / "params.ipynb"
    path.write_text(json.dumps({"cells": [cell], "metadata": {}, "nbformat": 4}))
    return path


def test_declared_parameters_reads_names_literals_and_skips_comments(tmp_path: Path):
    source = 'out_dir = "runs/x"  # where\nsteps = None\n# a note\nviews = ["palm"]\n'
    path = notebook_with_parameters(tmp_path, source)
    assert declared_parameters(path) == {"out_dir": "runs/x", "steps": None, "views": ["palm"]}


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("import math\n", "may only assign literals"),
        ("a = b = 1\n", "may only assign literals"),
        ("steps = 2 * n\n", "must be a literal"),
    ],
)
def test_a_parameters_cell_holds_only_literal_assignments(tmp_path: Path, source, message):
    with pytest.raises(ValueError, match=message):
        declared_parameters(notebook_with_parameters(tmp_path, source))


def test_a_notebook_without_a_parameters_cell_is_refused(tmp_path: Path):
    path = tmp_path / "bare.ipynb"
    path.write_text(json.dumps({"cells": [], "metadata": {}, "nbformat": 4}))
    with pytest.raises(ValueError, match="tagged 'parameters'"):
        declared_parameters(path)


def test_the_losses_notebook_draws_arrows_on_an_image_of_its_batch():
    declared = declared_parameters(NOTEBOOKS / "04_losses.ipynb")
    with pytest.raises(NotebookParameterError, match="'sample_index' must be < batch_size"):
        parameters_from_namespace(LossesParams, {**declared, "batch_size": 2, "sample_index": 2})
