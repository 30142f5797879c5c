"""Walk the notebooks in JupyterLab as a newcomer would, after `make demo`.

Serves the repository with JupyterLab, opens each notebook of notebooks/ in headless Chromium
with its DEFAULT parameters (nothing injected, nothing edited), runs all cells and prints a
table: cells, cells that ran, errors, seconds. A screenshot of each notebook's end goes to
--out. JupyterLab's autosave is off and nothing is saved, so the committed notebooks stay free
of outputs (checked at the end with git). Exit status 1 when any notebook shows an error.

    .venv/bin/python bench/walk_notebooks.py                   # all of 00-09
    .venv/bin/python bench/walk_notebooks.py --only 01 07      # some of them

Delete a notebook's out_dir first (runs/nb05, runs/nb06, ...) to walk it from scratch: the
training and ablation notebooks resume finished runs.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# The JupyterLab driver is a test helper (tests/helpers/lab_browser.py), not part of the library.
sys.path.insert(0, str(REPO / "tests"))
from helpers.lab_browser import (  # noqa: E402
    CHROMIUM_ARGS,
    LabError,
    find_chromium,
    jupyterlab_server,
    notebook_url,
    open_and_run_all,
)

DEMO_MODEL = REPO / "runs" / "demo" / "train" / "model.pt"


def shut_down_kernels(base: str, token: str) -> None:
    """End every kernel session, so one notebook's memory is not held during the next."""
    headers = {"Authorization": f"token {token}"}
    listing = urllib.request.Request(f"{base}/api/sessions", headers=headers)
    with urllib.request.urlopen(listing) as response:
        sessions = json.load(response)
    for session in sessions:
        request = urllib.request.Request(
            f"{base}/api/sessions/{session['id']}", headers=headers, method="DELETE"
        )
        urllib.request.urlopen(request).close()


def walk_one(browser, base: str, token: str, notebook: Path, out: Path, timeout_s: float) -> dict:
    """Run one notebook in a fresh tab; its row of the table."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    start = time.monotonic()
    try:
        relative = notebook.relative_to(REPO).as_posix()
        states = open_and_run_all(page, notebook_url(base, token, relative, reset=True), timeout_s)
        problem = ""
    except LabError as error:
        states, problem = [], str(error)
    seconds = time.monotonic() - start
    page.keyboard.press("Control+End")
    page.screenshot(path=str(out / f"{notebook.stem}.png"))
    page.close()
    shut_down_kernels(base, token)
    errors = [error for state in states for error in state.errors]
    return {
        "notebook": notebook.name,
        "cells": len(states),
        "ran": sum(state.count is not None for state in states),
        "errors": errors + ([problem] if problem else []),
        "seconds": round(seconds, 1),
    }


def markdown_table(rows: list[dict]) -> str:
    lines = ["| notebook | code cells | ran | errors | seconds |", "|---|---|---|---|---|"]
    for row in rows:
        errors = "; ".join(row["errors"])[:200] or "none"
        lines.append(
            f"| {row['notebook']} | {row['cells']} | {row['ran']} | {errors} | {row['seconds']} |"
        )
    return "\n".join(lines)


def notebooks_changed() -> bool:
    """True when git sees a change in notebooks/ (a walk must not save outputs)."""
    diff = subprocess.run(["git", "diff", "--quiet", "--", "notebooks"], cwd=REPO, check=False)
    return diff.returncode != 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="*", default=None, help="notebook number prefixes")
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "lab_walk")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per notebook")
    args = parser.parse_args()
    chromium = find_chromium()
    if chromium is None:
        sys.exit("chromium is not installed (Debian: apt-get install -y chromium)")
    if not DEMO_MODEL.is_file():
        sys.exit(f"{DEMO_MODEL} is missing: run `make demo` first, as a newcomer would")
    from playwright.sync_api import sync_playwright

    notebooks = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if args.only:
        notebooks = [path for path in notebooks if path.name[:2] in set(args.only)]
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    with (
        jupyterlab_server(REPO, args.out / "jupyter") as (base, token),
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(executable_path=chromium, args=list(CHROMIUM_ARGS))
        for notebook in notebooks:
            rows.append(walk_one(browser, base, token, notebook, args.out, args.timeout))
            print(markdown_table(rows[-1:]).splitlines()[-1], flush=True)
        browser.close()
    table = markdown_table(rows)
    (args.out / "summary.md").write_text(table + "\n")
    (args.out / "summary.json").write_text(json.dumps(rows, indent=1))
    print(table)
    failed = any(row["errors"] or row["ran"] < row["cells"] for row in rows)
    if notebooks_changed():
        print("notebooks/ changed on disk during the walk: JupyterLab saved a notebook")
        failed = True
    return int(failed)


if __name__ == "__main__":
    sys.exit(main())
