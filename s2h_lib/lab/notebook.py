"""Parameters and headless runs of the numbered notebooks (papermill).

papermill injects parameters as plain assignments right after the cell tagged `parameters`. It
only warns about names the notebook does not declare, and never checks a type. So a notebook
declares its parameters once, in that cell (name, default, comment), and the cell right after
checks them against a dataclass that says what each may hold (types and ranges only, no
defaults; `notebook_params` holds one per notebook):

    params = parameters_from_namespace(TrainParams, globals())

`declared_parameters` reads a notebook's parameters cell without running it, so a test (and
`s2h ablate`, before its runs) can check the declaration against the dataclass.

A path parameter declared with `repo_path()` comes out absolute, a relative value taken from
the repository root (`s2h_lib.paths`), so the defaults mean the same folders whether the kernel
runs in `notebooks/` (JupyterLab) or at the root (`papermill notebooks/05_train.ipynb ...`).

`run_notebook` executes a notebook headlessly and turns a failing cell into an error that shows
that cell. `notebook_problems` and `strip_outputs` keep the committed notebooks clean.
"""

from __future__ import annotations

import ast
import difflib
import json
import math
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import Field, field, fields, is_dataclass
from pathlib import Path
from typing import Any, TypeVar

from s2h_lib.atomic import atomic_write_bytes
from s2h_lib.paths import in_repo

T = TypeVar("T")
# What a parameters cell can hold: literals papermill knows how to write.
PARAMETER_TYPES = (bool, int, float, str, list, tuple, dict, type(None))
# Literal-valued names every IPython kernel defines, which are no parameters.
IPYTHON_NAMES = frozenset({"In", "Out", "exit", "quit", "get_ipython"})
DEFAULT_KERNEL = "python3"
PARAMETERS_TAG = "parameters"
SOURCE_LINES_SHOWN = 12  # of a failing cell, in `NotebookRunError`


class NotebookParameterError(ValueError):
    """A notebook's parameters do not match its dataclass (unknown, missing, wrong type, range)."""


class NotebookRunError(RuntimeError):
    """A cell raised while a notebook ran headlessly; the message shows the cell and the error."""


# --------------------------------------------------------------------------------------------
# Declaring parameters


def at_least(minimum: float) -> Any:
    """A dataclass field whose value must be >= `minimum` (numbers, or each item of a list)."""
    return field(metadata={"minimum": minimum})


def one_of(*choices: object) -> Any:
    """A dataclass field whose value must be one of `choices`."""
    return field(metadata={"choices": choices})


def repo_path() -> Any:
    """A dataclass field holding a path (str, or None where allowed): a relative value is
    taken from the repository root and the field holds the absolute path."""
    return field(metadata={"repo_path": True})


# --------------------------------------------------------------------------------------------
# Checking values against annotations


def _type_name(annotation: Any) -> str:
    if typing.get_origin(annotation) is None and hasattr(annotation, "__name__"):
        return annotation.__name__
    return str(annotation).replace("typing.", "")


def _describe(value: object) -> str:
    shown = repr(value)
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    return f"{type(value).__name__} {shown}"


def _convert(value: object, annotation: Any) -> tuple[object, bool]:
    """`value` converted to `annotation` (int -> float, list -> tuple), and whether it fits."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation is Any:
        return value, True
    if origin in (typing.Union, types.UnionType):
        for option in args:
            converted, ok = _convert(value, option)
            if ok:
                return converted, True
        return value, False
    if annotation in (type(None), None):
        return value, value is None
    if annotation is float:
        number_like = isinstance(value, (int, float)) and not isinstance(value, bool)
        return (float(value), True) if number_like else (value, False)
    if annotation in (bool, int, str):
        exact = isinstance(value, annotation) and not (
            annotation is int and isinstance(value, bool)
        )
        return value, exact
    if annotation is list or origin is list:
        return _convert_items(value, args[0] if args else Any, list)
    if annotation is tuple or origin is tuple:
        item = args[0] if args and (len(args) == 1 or args[1] is Ellipsis) else Any
        return _convert_items(value, item, tuple)
    if annotation is dict or origin is dict:
        return value, isinstance(value, dict)
    raise TypeError(f"parameter annotation {_type_name(annotation)} is not supported")


def _convert_items(value: object, item: Any, container: type) -> tuple[object, bool]:
    if not isinstance(value, (list, tuple)):
        return value, False
    converted = [_convert(entry, item) for entry in value]
    return container(entry for entry, _ in converted), all(ok for _, ok in converted)


def _numbers_in(value: object) -> list[float]:
    if isinstance(value, (list, tuple)):
        return [number for entry in value for number in _numbers_in(entry)]
    return [value] if isinstance(value, float) else []


def _value_problem(name: str, value: object, spec: Field) -> str | None:
    """Why `value` is not acceptable for field `spec`, or None when it is."""
    if any(not math.isfinite(number) for number in _numbers_in(value)):
        return f"parameter '{name}' must be finite, got {value!r}"
    minimum = spec.metadata.get("minimum")
    entries = value if isinstance(value, (list, tuple)) else [value]
    numbers = [n for n in entries if isinstance(n, (int, float)) and not isinstance(n, bool)]
    if minimum is not None and any(n < minimum for n in numbers):
        return f"parameter '{name}' must be >= {minimum}, got {value!r}"
    choices = spec.metadata.get("choices")
    if choices is not None and value not in choices:
        return f"parameter '{name}' must be one of {', '.join(map(repr, choices))}, got {value!r}"
    return None


def _type_problem(name: str, value: object, annotation: Any) -> str:
    problem = f"parameter '{name}' must be {_type_name(annotation)}, got {_describe(value)}"
    if isinstance(value, str) and value.startswith("("):
        problem += " (papermill passes tuples as strings: pass a list)"
    return problem


# --------------------------------------------------------------------------------------------
# From a notebook's namespace to a dataclass


def _candidate_names(namespace: Mapping[str, object]) -> set[str]:
    """Names in `namespace` that look like parameters: public, holding a literal value."""
    return {
        name
        for name, value in namespace.items()
        if not name.startswith("_")
        and name not in IPYTHON_NAMES
        and isinstance(value, PARAMETER_TYPES)
    }


def _unknown_problem(name: str, known: Sequence[str], cls: type) -> str:
    problem = f"unknown parameter '{name}' (not a field of {cls.__name__}"
    close = difflib.get_close_matches(name, known, n=1)
    problem += f"; did you mean '{close[0]}'?)" if close else f"; known: {', '.join(known)})"
    return problem


def parameters_from_namespace(cls: type[T], namespace: Mapping[str, object]) -> T:
    """Build the dataclass `cls` from a notebook's globals, checking every parameter.

    Call it in the cell right after the parameters cell (and papermill's injected cell), before
    any other assignment: every public name holding a literal (bool, int, float, str, list,
    tuple, dict, None) is then a parameter. Ints are accepted for float fields, lists for tuple
    fields, and `repo_path()` fields come out absolute. Raises `NotebookParameterError`
    listing every unknown name (papermill would only warn about it), missing name, wrong type,
    non-finite float and value out of range.
    """
    if not (isinstance(cls, type) and is_dataclass(cls)):
        raise TypeError(f"cls must be a dataclass type, got {cls!r}")
    hints = typing.get_type_hints(cls)
    specs = [spec for spec in fields(cls) if spec.init]
    known = [spec.name for spec in specs]
    problems = [
        _unknown_problem(name, known, cls)
        for name in sorted(_candidate_names(namespace) - set(known))
    ]
    values: dict[str, object] = {}
    for spec in specs:
        if spec.name not in namespace:
            problems.append(f"parameter '{spec.name}' is missing: the parameters cell must set it")
            continue
        value, fits = _convert(namespace[spec.name], hints[spec.name])
        if not fits:
            problems.append(_type_problem(spec.name, value, hints[spec.name]))
            continue
        problem = _value_problem(spec.name, value, spec)
        if problem:
            problems.append(problem)
        if spec.metadata.get("repo_path") and isinstance(value, str):
            value = str(in_repo(value))
        values[spec.name] = value
    if problems:
        raise NotebookParameterError(
            f"{len(problems)} bad notebook parameter(s):\n  " + "\n  ".join(problems)
        )
    return cls(**values)


def declared_parameters(path: str | Path) -> dict[str, object]:
    """The parameters the notebook at `path` declares, name -> default, read from its first
    code cell (tagged `parameters`) without running it. That cell may hold only `name = value`
    lines with literal values (and comments): anything else raises ValueError."""
    path = Path(path)
    code_cells = [c for c in _read_notebook(path).get("cells", []) if c.get("cell_type") == "code"]
    if not code_cells or PARAMETERS_TAG not in code_cells[0].get("metadata", {}).get("tags", []):
        raise ValueError(f"{path.name}: the first code cell must be tagged '{PARAMETERS_TAG}'")
    source = code_cells[0]["source"]
    declared = {}
    for statement in ast.parse(source if isinstance(source, str) else "".join(source)).body:
        single_name = isinstance(statement, ast.Assign) and len(statement.targets) == 1
        if not (single_name and isinstance(statement.targets[0], ast.Name)):
            raise ValueError(
                f"{path.name}: the parameters cell may only assign literals to names, "
                f"found {ast.unparse(statement)!r}"
            )
        try:
            declared[statement.targets[0].id] = ast.literal_eval(statement.value)
        except ValueError as error:
            raise ValueError(
                f"{path.name}: parameter {statement.targets[0].id!r} must be a literal, "
                f"got {ast.unparse(statement.value)!r}"
            ) from error
    return declared


# --------------------------------------------------------------------------------------------
# Running notebooks


def _cell_excerpt(source: str) -> str:
    lines = source.splitlines()
    shown = lines[:SOURCE_LINES_SHOWN]
    if len(lines) > SOURCE_LINES_SHOWN:
        shown.append(f"... ({len(lines) - SOURCE_LINES_SHOWN} more lines)")
    return "\n".join(f"    | {line}" for line in shown)


def run_notebook(
    path: str | Path,
    out_path: str | Path,
    parameters: Mapping[str, object] | None = None,
    *,
    kernel_name: str = DEFAULT_KERNEL,
    cwd: str | Path | None = None,
    timeout_s: float | None = None,
    log_output: bool = False,
) -> Path:
    """Execute the notebook at `path` with papermill into `out_path`; return `out_path`.

    `parameters` are injected after the cell tagged `parameters`. The kernel runs in `cwd`
    (default: the notebook's folder, like JupyterLab), with `timeout_s` per cell (None: no
    limit). Widget state is not stored, so interactive cells do not add megabytes. A failing
    cell raises `NotebookRunError` naming the cell, its source and the error; the executed
    notebook (with the error) is still written to `out_path`.
    """
    import papermill  # deferred: it pulls in nbclient and jupyter_client

    path, out_path = Path(path), Path(out_path)
    if not path.is_file():
        raise FileNotFoundError(
            f"notebook {path} not found: expected a .ipynb file such as "
            "notebooks/01_hand_model_explorer.ipynb"
        )
    out_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        papermill.execute_notebook(
            str(path),
            str(out_path),
            parameters=dict(parameters or {}),
            kernel_name=kernel_name,
            language="python",
            cwd=str(cwd if cwd is not None else path.parent),
            progress_bar=False,
            log_output=log_output,
            execution_timeout=timeout_s,
            store_widget_state=False,
        )
    except papermill.PapermillExecutionError as error:
        raise NotebookRunError(
            f"{path.name} failed in cell {error.exec_count} (index {error.cell_index}):\n"
            f"{_cell_excerpt(error.source)}\n{error.ename}: {error.evalue}\n"
            f"The executed notebook, with the full traceback, is {out_path}"
        ) from error
    return out_path


# --------------------------------------------------------------------------------------------
# Committed notebooks


def _read_notebook(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"{path} is not a readable notebook (.ipynb JSON): {error}") from error


def notebook_problems(path: str | Path) -> list[str]:
    """What keeps the notebook at `path` from being committed: outputs, execution counts, widget
    state, or a first code cell not tagged `parameters`. Empty when it is clean."""
    path = Path(path)
    notebook = _read_notebook(path)
    code_cells = [cell for cell in notebook.get("cells", []) if cell.get("cell_type") == "code"]
    problems = []
    if not code_cells or PARAMETERS_TAG not in code_cells[0].get("metadata", {}).get("tags", []):
        problems.append(f"{path.name}: the first code cell must be tagged '{PARAMETERS_TAG}'")
    for index, cell in enumerate(code_cells):
        if cell.get("outputs"):
            problems.append(f"{path.name}: code cell {index} has outputs")
        if cell.get("execution_count") is not None:
            problems.append(f"{path.name}: code cell {index} has an execution count")
    if "widgets" in notebook.get("metadata", {}):
        problems.append(f"{path.name}: notebook metadata holds widget state")
    return problems


def strip_outputs(path: str | Path) -> Path:
    """Remove outputs, execution counts, widget state and papermill records from a notebook, in
    place (atomically); tags, including `parameters`, are kept."""
    path = Path(path)
    notebook = _read_notebook(path)
    for key in ("widgets", "papermill"):
        notebook.get("metadata", {}).pop(key, None)
    for cell in notebook.get("cells", []):
        cell.get("metadata", {}).pop("papermill", None)
        cell.get("metadata", {}).pop("execution", None)
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
    text = json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"
    atomic_write_bytes(path, text.encode("utf-8"))
    return path
