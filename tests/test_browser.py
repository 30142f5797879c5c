"""Notebook 01 in a real browser, as a person would use it.

Starts JupyterLab on loopback with a token and a free port, opens a copy of notebook 01 in
Debian's headless Chromium (driven by Playwright, no browser download), runs all cells, moves the
first PCA slider of the explorer and checks that the plotly mesh's vertices changed and that no
cell shows an error. Screenshots go to the test's tmp folder and to out/browser/.
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
from pathlib import Path

import papermill
import pytest

REPO = Path(__file__).resolve().parent.parent
NOTEBOOK = REPO / "notebooks" / "01_hand_model_explorer.ipynb"
SCREENSHOT_DIR = REPO / "out" / "browser"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
TINY_PARAMETERS = {"sweep_steps": 2, "n_pca_sliders": 3, "n_beta_sliders": 2, "dpi": 40}
SERVER_START_S = 90
RUN_ALL_S = 240
SLIDER_KEY_PRESSES = 5  # of 0.1 each: pca 1 goes from 0 to 0.5
MIN_VERTEX_CHANGE_MM = 1.0

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="chromium is not installed (Debian: apt-get install -y chromium; .ci/run does it)",
    ),
]

PANEL = "window.jupyterapp?.shell?.currentWidget"
CODE_CELLS = f"{PANEL}.content.widgets.filter((cell) => cell.model.type === 'code')"
KERNEL_IDLE = f"{PANEL}?.sessionContext?.session?.kernel?.status === 'idle'"
ALL_RAN = f"() => {KERNEL_IDLE} && {CODE_CELLS}.every((c) => c.model.executionCount !== null)"
CELL_STATES = f"""() => {CODE_CELLS}.map((cell) => ({{
    count: cell.model.executionCount,
    errors: cell.model.outputs.toJSON()
        .filter((output) => output.output_type === 'error')
        .map((output) => `${{output.ename}}: ${{output.evalue}}`),
}}))"""
MESH_X = """() => {
    const plot = document.querySelector('.s2h-explorer .js-plotly-plot');
    return plot && plot._fullData ? Array.from(plot._fullData[0].x) : null;
}"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def isolated_jupyter_env(home: Path) -> dict[str, str]:
    """Environment for a JupyterLab that reads no user settings and fetches nothing."""
    config = home / "config"
    config.mkdir(parents=True)
    lab_config = {
        "LabApp": {
            "expose_app_in_browser": True,  # window.jupyterapp, to drive and inspect the page
            "news_url": None,
            "check_for_updates_class": "jupyterlab.handlers.announcements.NeverCheckForUpdate",
            "extension_manager": "readonly",
        }
    }
    (config / "jupyter_lab_config.json").write_text(json.dumps(lab_config))
    settings = home / "settings"
    notification = settings / "@jupyterlab" / "apputils-extension"
    notification.mkdir(parents=True)
    (notification / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False})
    )
    return {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(config),
        "JUPYTER_DATA_DIR": str(home / "data"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(settings),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
    }


def wait_for_server(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"JupyterLab exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"JupyterLab did not answer within {SERVER_START_S} s:\n{log.read_text()[-3000:]}")


@pytest.fixture()
def lab(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A JupyterLab serving a copy of notebook 01 (tiny parameters injected): its URL and the
    folder the notebook writes into."""
    root = tmp_path / "lab"
    root.mkdir()
    out_dir = tmp_path / "notebook_out"
    papermill.execute_notebook(
        str(NOTEBOOK),
        str(root / NOTEBOOK.name),
        parameters={**TINY_PARAMETERS, "out_dir": str(out_dir), "interactive": True},
        prepare_only=True,
        progress_bar=False,
        language="python",
    )
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
    log = tmp_path / "jupyterlab.log"
    with log.open("w") as log_file:
        process = subprocess.Popen(
            command,
            env=isolated_jupyter_env(tmp_path / "jupyter"),
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for_server(f"{base}/api/status?token={token}", process, log)
        yield f"{base}/lab/tree/{NOTEBOOK.name}?token={token}", out_dir
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def save_screenshot(page, tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    page.screenshot(path=str(path))
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, SCREENSHOT_DIR / name)
    return path


def test_explorer_sliders_move_the_mesh_in_jupyterlab(lab, tmp_path: Path):
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed (pip install -e .[dev])"
    )
    url, out_dir = lab
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url)
            page.wait_for_function(f"() => {KERNEL_IDLE}", timeout=90e3)
            page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
            try:
                page.wait_for_function(ALL_RAN, timeout=RUN_ALL_S * 1e3, polling=500)
            except sync_api.TimeoutError:
                save_screenshot(page, tmp_path, "explorer_timeout.png")
                pytest.fail(f"cells did not finish in {RUN_ALL_S} s: {page.evaluate(CELL_STATES)}")
            states = page.evaluate(CELL_STATES)
            errors = [state["errors"] for state in states if state["errors"]]
            assert not errors, f"cells show errors: {errors}"
            assert (out_dir / "summary.json").is_file(), "the notebook wrote no summary"

            handle = page.locator(".s2h-explorer .widget-slider .noUi-handle").first
            handle.scroll_into_view_if_needed()
            page.wait_for_function(f"() => ({MESH_X})() !== null", timeout=30e3)
            before = page.evaluate(MESH_X)
            handle.click()
            for _ in range(SLIDER_KEY_PRESSES):
                page.keyboard.press("ArrowRight")
            page.wait_for_function(
                f"""(before) => {{
                    const x = ({MESH_X})();
                    return x && Math.max(...x.map((v, i) => Math.abs(v - before[i]))) > {
                    MIN_VERTEX_CHANGE_MM
                };
                }}""",
                arg=before,
                timeout=30e3,
            )
            after = page.evaluate(MESH_X)
            readout = page.locator(".s2h-explorer .widget-readout").first.inner_text()
            status = page.locator(".s2h-explorer .widget-html", has_text="mesh update").inner_text()
            page.locator(".s2h-explorer").first.evaluate("(box) => box.scrollIntoView()")
            shot = save_screenshot(page, tmp_path, "explorer_after_slider.png")
        finally:
            browser.close()
    assert len(after) == len(before) > 100
    assert max(abs(a - b) for a, b in zip(after, before, strict=True)) > MIN_VERTEX_CHANGE_MM
    assert float(readout) == pytest.approx(0.1 * SLIDER_KEY_PRESSES)
    assert status.startswith("mesh update:") and status.endswith("ms")
    assert shot.stat().st_size > 10_000
