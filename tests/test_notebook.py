"""Parameter validation, headless runs and hygiene checks of `s2h_lib.lab.notebook` (no kernel
except in the run tests, which use a two-cell notebook)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

from s2h_lib.lab.notebook import (
    NotebookParameterError,
    NotebookRunError,
    at_least,
    notebook_problems,
    one_of,
    parameters_from_namespace,
    run_notebook,
    strip_outputs,
)


@dataclass(frozen=True)
class Params:
    out_dir: str
    interactive: bool
    steps: int = at_least(1)
    lr: float = at_least(0.0)
    sizes: list[int] = at_least(8)
    mode: str = one_of("soft", "hard")
    root: str | None


GOOD = {
    "out_dir": "runs/x",
    "interactive": False,
    "steps": 3,
    "lr": 0.5,
    "sizes": [16, 32],
    "mode": "soft",
    "root": None,
}


def check(**changes: object) -> Params:
    namespace = {**GOOD, **changes}
    return parameters_from_namespace(Params, {k: v for k, v in namespace.items() if v != "DEL"})


def problems_of(**changes: object) -> str:
    with pytest.raises(NotebookParameterError) as error:
        check(**changes)
    return str(error.value)


def test_good_parameters_build_the_dataclass():
    params = check()
    assert params == Params(**GOOD)


def test_ipython_names_modules_and_functions_are_not_parameters():
    params = parameters_from_namespace(
        Params, {**GOOD, "In": [""], "Out": {}, "json": json, "check": check, "_private": 1}
    )
    assert params.steps == 3


def test_unknown_name_is_an_error_with_a_suggestion():
    message = problems_of(stpes=4)
    assert "unknown parameter 'stpes'" in message
    assert "did you mean 'steps'?" in message


def test_unknown_name_without_a_close_match_lists_the_known_ones():
    message = problems_of(zzz=1)
    assert "unknown parameter 'zzz'" in message and "known: out_dir, interactive" in message


def test_missing_parameter_is_named():
    assert "parameter 'steps' is missing" in problems_of(steps="DEL")


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("steps", "3", "parameter 'steps' must be int, got str '3'"),
        ("steps", True, "parameter 'steps' must be int, got bool True"),
        ("steps", 2.5, "parameter 'steps' must be int, got float 2.5"),
        ("interactive", 1, "parameter 'interactive' must be bool, got int 1"),
        ("sizes", [16, "x"], "parameter 'sizes' must be list[int]"),
        ("root", 3, "parameter 'root' must be str | None, got int 3"),
    ],
)
def test_wrong_types_are_named(name: str, value: object, expected: str):
    assert expected in problems_of(**{name: value})


def test_every_problem_is_reported_at_once():
    message = problems_of(steps="x", lr=-1.0, extra=2)
    assert message.startswith("3 bad notebook parameter(s)")


def test_int_is_accepted_for_float_and_converted():
    params = check(lr=2)
    assert params.lr == 2.0 and isinstance(params.lr, float)


def test_non_finite_float_is_rejected():
    assert "parameter 'lr' must be finite" in problems_of(lr=math.nan)


def test_ranges_and_choices_are_checked():
    assert "parameter 'steps' must be >= 1, got 0" in problems_of(steps=0)
    assert "parameter 'sizes' must be >= 8, got [16, 4]" in problems_of(sizes=[16, 4])
    assert "parameter 'mode' must be one of 'soft', 'hard'" in problems_of(mode="medium")


def test_tuple_passed_as_string_by_papermill_gets_a_hint():
    @dataclass(frozen=True)
    class Sized:
        size: tuple[int, ...]

    assert parameters_from_namespace(Sized, {"size": [2, 3]}).size == (2, 3)
    with pytest.raises(NotebookParameterError, match="pass a list"):
        parameters_from_namespace(Sized, {"size": "(2, 3)"})


def test_cls_must_be_a_dataclass():
    with pytest.raises(TypeError, match="dataclass"):
        parameters_from_namespace(dict, {})


# --------------------------------------------------------------------------------------------
# Notebook files


def write_notebook(path: Path, outputs: bool = False, tagged: bool = True) -> Path:
    params = nbformat.v4.new_code_cell("steps = 2  # how many")
    if tagged:
        params.metadata["tags"] = ["parameters"]
    body = nbformat.v4.new_code_cell(
        "assert isinstance(steps, int), 'steps must be an int'\n"
        "open('result.txt', 'w').write(str(steps * 10))"
    )
    if outputs:
        body.execution_count = 3
        body.outputs = [nbformat.v4.new_output("stream", text="hi")]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# t"), params, body])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    if outputs:
        notebook.metadata["widgets"] = {"state": {}}
    nbformat.write(notebook, path)
    return path


def test_clean_notebook_has_no_problems(tmp_path: Path):
    assert notebook_problems(write_notebook(tmp_path / "a.ipynb")) == []


def test_outputs_counts_widgets_and_missing_tag_are_problems(tmp_path: Path):
    path = write_notebook(tmp_path / "a.ipynb", outputs=True, tagged=False)
    problems = notebook_problems(path)
    assert problems == [
        "a.ipynb: the first code cell must be tagged 'parameters'",
        "a.ipynb: code cell 1 has outputs",
        "a.ipynb: code cell 1 has an execution count",
        "a.ipynb: notebook metadata holds widget state",
    ]


def test_strip_outputs_cleans_and_keeps_tags(tmp_path: Path):
    path = write_notebook(tmp_path / "a.ipynb", outputs=True)
    strip_outputs(path)
    assert notebook_problems(path) == []
    cells = json.loads(path.read_text())["cells"]
    assert cells[1]["metadata"]["tags"] == ["parameters"]


def test_unreadable_notebook_is_a_clear_error(tmp_path: Path):
    path = tmp_path / "broken.ipynb"
    path.write_text("{not json")
    with pytest.raises(ValueError, match=r"broken.ipynb is not a readable notebook"):
        notebook_problems(path)


def test_run_notebook_injects_parameters_in_its_folder(tmp_path: Path):
    path = write_notebook(tmp_path / "a.ipynb")
    out = run_notebook(path, tmp_path / "runs" / "a.ipynb", {"steps": 4})
    assert out.is_file()
    assert (tmp_path / "result.txt").read_text() == "40"


def test_run_notebook_failure_shows_the_cell(tmp_path: Path):
    path = write_notebook(tmp_path / "a.ipynb")
    with pytest.raises(NotebookRunError) as error:
        run_notebook(path, tmp_path / "out.ipynb", {"steps": "four"})
    message = str(error.value)
    assert "a.ipynb failed in cell" in message
    assert "| assert isinstance(steps, int)" in message
    assert "AssertionError: steps must be an int" in message
    assert str(tmp_path / "out.ipynb") in message


def test_run_notebook_missing_file(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match=r"notebook .*nope.ipynb not found: expected"):
        run_notebook(tmp_path / "nope.ipynb", tmp_path / "out.ipynb")
