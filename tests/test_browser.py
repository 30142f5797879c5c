"""Notebook 01 in a real browser, as a person would use it.

Starts JupyterLab on loopback with a token and a free port, opens a copy of notebook 01 in
Debian's headless Chromium (driven by Playwright, no browser download), runs all cells, moves the
first PCA slider of the explorer and checks that the plotly mesh's vertices changed and that no
cell shows an error. Screenshots go to the test's tmp folder and to runs/browser/.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import nbformat
import papermill
import pytest
from helpers.lab_browser import (
    CHROMIUM_ARGS,
    LabError,
    find_chromium,
    jupyterlab_server,
    notebook_url,
    open_and_run_all,
)

REPO = Path(__file__).resolve().parent.parent
NOTEBOOK = REPO / "notebooks" / "01_hand_model_explorer.ipynb"
SCREENSHOT_DIR = REPO / "runs" / "browser"
CHROMIUM = find_chromium()
TINY_PARAMETERS = {"sweep_steps": 2, "n_pca_sliders": 3, "n_beta_sliders": 2, "dpi": 40}
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

MESH_X = """() => {
    const plot = document.querySelector('.s2h-explorer .js-plotly-plot');
    return plot && plot._fullData ? Array.from(plot._fullData[0].x) : null;
}"""


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
    with jupyterlab_server(root, tmp_path / "jupyter") as (base, token):
        yield notebook_url(base, token, NOTEBOOK.name), out_dir


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
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=list(CHROMIUM_ARGS))
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            try:
                states = open_and_run_all(page, url, RUN_ALL_S)
            except LabError as error:
                save_screenshot(page, tmp_path, "explorer_timeout.png")
                pytest.fail(str(error))
            errors = [state.errors for state in states if state.errors]
            assert not errors, f"cells show errors: {errors}"
            assert all(state.count is not None for state in states), f"cells did not run: {states}"
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


def test_a_failing_cell_is_reported_and_stops_the_run(tmp_path: Path):
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed (pip install -e .[dev])"
    )
    root = tmp_path / "lab"
    root.mkdir()
    cells = ["x = 1", "raise ValueError('broken on purpose')", "y = 2"]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    nbformat.write(notebook, root / "broken.ipynb")
    with (
        jupyterlab_server(root, tmp_path / "jupyter") as (base, token),
        sync_api.sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=list(CHROMIUM_ARGS))
        try:
            page = browser.new_page()
            states = open_and_run_all(page, notebook_url(base, token, "broken.ipynb"), RUN_ALL_S)
        finally:
            browser.close()
    assert [state.errors for state in states] == [(), ("ValueError: broken on purpose",), ()]
    assert states[0].count == 1 and states[2].count is None
