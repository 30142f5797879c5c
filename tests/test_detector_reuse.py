"""mediapipe's hand graph takes about a second to load: code that detects hands in several
photos opens one `HandDetector` and hands it to every `detect_photo` call (issue 13)."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from s2h_lib import predict
from s2h_lib.data.image_io import list_images
from s2h_lib.paths import SAMPLE_PHOTOS_DIR

REPO = Path(__file__).resolve().parent.parent
NOTEBOOK_03 = REPO / "notebooks" / "03_data_and_keypoints.ipynb"
LOOPS = (ast.For, ast.While, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


def code_cells(path: Path) -> list[str]:
    """The notebook's code cells, IPython magics (`%...`, `!...`) left out."""
    cells = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
    return [
        "\n".join(
            line
            for line in "".join(c["source"]).splitlines()
            if not line.lstrip().startswith(("%", "!"))
        )
        for c in cells
    ]


def detections_opening_their_own_detector(source: str) -> list[int]:
    """Line numbers of `detect_photo(...)` calls inside a loop or comprehension that pass no
    `detector=` (each would load mediapipe's graph again)."""
    lines = []
    for loop in ast.walk(ast.parse(source)):
        if not isinstance(loop, LOOPS):
            continue
        for node in ast.walk(loop):
            called = getattr(node, "func", None)
            name = getattr(called, "id", None) or getattr(called, "attr", None)
            if name == "detect_photo" and not any(k.arg == "detector" for k in node.keywords):
                lines.append(node.lineno)
    return lines


def test_the_scan_finds_a_detector_per_photo():
    assert detections_opening_their_own_detector("[detect_photo(p) for p in paths]") == [1]
    assert detections_opening_their_own_detector("for p in ps:\n    x = m.detect_photo(p)") == [2]
    assert not detections_opening_their_own_detector("[detect_photo(p, detector=d) for p in ps]")
    assert not detections_opening_their_own_detector("photo = detect_photo(path)")


def sources() -> list[tuple[str, str]]:
    """(name, source) of every notebook cell and library module."""
    found = [
        (f"{path.name} cell {i}", source)
        for path in sorted((REPO / "notebooks").glob("*.ipynb"))
        for i, source in enumerate(code_cells(path))
    ]
    found += [(str(p.relative_to(REPO)), p.read_text()) for p in (REPO / "s2h_lib").rglob("*.py")]
    return found


def test_no_notebook_or_module_loads_the_detector_per_photo():
    found = {name: detections_opening_their_own_detector(source) for name, source in sources()}
    found = {name: lines for name, lines in found.items() if lines}
    assert found == {}, f"detect_photo in a loop without detector=: {found}"


class CountingDetector:
    """Stands in for `HandDetector`: counts how often it is opened; finds no hand."""

    opened = 0

    def __init__(self, *args: object) -> None:
        type(self).opened += 1

    def __enter__(self) -> CountingDetector:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def detect(self, rgb: np.ndarray) -> list:
        return []


@pytest.fixture()
def counting(monkeypatch: pytest.MonkeyPatch) -> type[CountingDetector]:
    """`HandDetector` replaced everywhere `detect_photo` could open one."""
    CountingDetector.opened = 0
    monkeypatch.setattr(predict, "HandDetector", CountingDetector)
    return CountingDetector


def notebook_03_photo_cell() -> str:
    (cell,) = [source for source in code_cells(NOTEBOOK_03) if "HandDetector(" in source]
    return cell


@pytest.mark.parametrize("n_photos", [0, 3])
def test_notebook_03_opens_one_detector_for_its_photos(counting, n_photos: int):
    """Notebook 03's detector cell, run with its names bound as the notebook binds them."""
    namespace = {
        "params": SimpleNamespace(photos_dir=str(SAMPLE_PHOTOS_DIR), n_photos=n_photos),
        "list_images": list_images,
        "HandDetector": counting,
        "detect_photo": predict.detect_photo,
        "np": np,
        "save": lambda figure, name: None,
        "photos_figure": lambda photos: None,
    }
    exec(notebook_03_photo_cell(), namespace)
    assert len(namespace["photos"]) == n_photos
    assert counting.opened == min(n_photos, 1), "one detector for all photos, none for no photo"


def test_detect_photo_uses_the_detector_it_is_given(counting):
    given = SimpleNamespace(detect=lambda rgb: [])
    photo = predict.detect_photo(list_images(SAMPLE_PHOTOS_DIR)[0], detector=given)
    assert counting.opened == 0 and not photo.found
