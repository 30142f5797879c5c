"""JupyterLab driven from headless Chromium, as a person would use it.

`jupyterlab_server(root, home)` starts an isolated JupyterLab on loopback (a random token and a
free port, no user settings read, no news or update checks, no autosave) and yields its base URL
and token; `open_and_run_all(page, url)` opens one notebook, runs all its cells and returns each
code cell's state. Used by tests/test_browser.py (notebook 01's sliders) and
bench/walk_notebooks.py (every notebook with its default parameters after `make demo`).

Chromium is Debian's (`chromium`), driven by Playwright; no browser is downloaded.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
)
SERVER_START_S = 90
KERNEL_START_S = 90

PANEL = "window.jupyterapp?.shell?.currentWidget"
CODE_CELLS = f"{PANEL}.content.widgets.filter((cell) => cell.model.type === 'code')"
KERNEL_IDLE = f"{PANEL}?.sessionContext?.session?.kernel?.status === 'idle'"
ALL_RAN = f"() => {KERNEL_IDLE} && {CODE_CELLS}.every((c) => c.model.executionCount !== null)"
# A cell that raised stops "run all": the cells after it keep no execution count.
FIRST_ERROR = f"""() => {CODE_CELLS}.some((cell) => cell.model.outputs.toJSON()
    .some((output) => output.output_type === 'error'))"""
CELL_STATES = f"""() => {CODE_CELLS}.map((cell) => ({{
    count: cell.model.executionCount,
    errors: cell.model.outputs.toJSON()
        .filter((output) => output.output_type === 'error')
        .map((output) => `${{output.ename}}: ${{output.evalue}}`),
}}))"""


class LabError(RuntimeError):
    """JupyterLab or the browser did not do what was asked (server down, timeout)."""


@dataclass(frozen=True)
class CellState:
    """One code cell after a run: its execution count (None: never ran) and its errors."""

    count: int | None
    errors: tuple[str, ...]


def find_chromium() -> str | None:
    """Path of the system Chromium, or None."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _write_json(path: Path, content: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content))


def isolated_jupyter_env(home: Path) -> dict[str, str]:
    """Environment for a JupyterLab that reads no user settings, fetches nothing and never
    saves a notebook by itself (so a walk leaves the committed, output-free notebooks alone)."""
    config, settings = home / "config", home / "settings"
    _write_json(
        config / "jupyter_lab_config.json",
        {
            "LabApp": {
                "expose_app_in_browser": True,  # window.jupyterapp, to drive and inspect the page
                "news_url": None,
                "check_for_updates_class": "jupyterlab.handlers.announcements.NeverCheckForUpdate",
                "extension_manager": "readonly",
            }
        },
    )
    _write_json(
        settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings",
        {"fetchNews": "false", "checkForUpdates": False},
    )
    _write_json(
        settings / "@jupyterlab" / "docmanager-extension" / "plugin.jupyterlab-settings",
        {"autosave": False},
    )
    return {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(config),
        "JUPYTER_DATA_DIR": str(home / "data"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(settings),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
    }


def _log_tail(log: Path) -> str:
    return log.read_text()[-3000:]


def _wait_for_server(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise LabError(f"JupyterLab exited with {process.returncode}:\n{_log_tail(log)}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise LabError(f"JupyterLab did not answer within {SERVER_START_S} s:\n{_log_tail(log)}")


@contextmanager
def jupyterlab_server(root: Path, home: Path) -> Iterator[tuple[str, str]]:
    """A JupyterLab serving `root`, its settings and log under `home`: yields (base URL, token)."""
    home.mkdir(parents=True, exist_ok=True)
    port, token = free_port(), secrets.token_hex(16)
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        f"--port={port}",
        "--ServerApp.port_retries=0",
        "--ServerApp.ip=127.0.0.1",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    log = home / "jupyterlab.log"
    with log.open("w") as log_file:
        process = subprocess.Popen(
            command, env=isolated_jupyter_env(home), stdout=log_file, stderr=subprocess.STDOUT
        )
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_for_server(f"{base}/api/status?token={token}", process, log)
        yield base, token
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def notebook_url(base: str, token: str, relative_path: str, reset: bool = False) -> str:
    """The JupyterLab URL that opens `relative_path` (relative to the server's root); `reset`
    drops the tabs a previous page left open (otherwise their kernels start again)."""
    return f"{base}/lab/tree/{relative_path}?token={token}" + ("&reset" if reset else "")


def cell_states(page: Any) -> list[CellState]:
    """The state of every code cell of the notebook open in `page`."""
    return [
        CellState(state["count"], tuple(state["errors"])) for state in page.evaluate(CELL_STATES)
    ]


def open_and_run_all(page: Any, url: str, timeout_s: float) -> list[CellState]:
    """Open the notebook at `url` in the Playwright `page`, run all cells, wait until every cell
    ran (or one raised) and the kernel is idle; the code cells' states.

    Raises LabError when the kernel does not start or the cells do not finish in `timeout_s`.
    """
    page.goto(url)
    try:
        page.wait_for_function(f"() => {KERNEL_IDLE}", timeout=KERNEL_START_S * 1e3)
    except Exception as error:  # playwright's TimeoutError; playwright is an optional import
        raise LabError(f"the kernel did not start within {KERNEL_START_S} s") from error
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    done = f"() => ({ALL_RAN})() || (({KERNEL_IDLE}) && ({FIRST_ERROR})())"
    try:
        page.wait_for_function(done, timeout=timeout_s * 1e3, polling=1000)
    except Exception as error:
        raise LabError(f"cells did not finish in {timeout_s:.0f} s: {cell_states(page)}") from error
    return cell_states(page)
