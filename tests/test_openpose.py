"""Importing S2HAND's published OpenPose detection file `[peaks, values, names]`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from s2h_lib.data.photos.openpose import load_openpose_detections


def _peaks_and_values() -> tuple[list, list]:
    """Two images' worth: integer peaks, values with a missed joint and one above 1."""
    peaks = [[[10 + j, 20 + 2 * j] for j in range(21)], [[100 - j, 50 + j] for j in range(21)]]
    values = [[[0.5 + 0.02 * j] for j in range(21)], [[0.3] for _ in range(21)]]
    peaks[1][20], values[1][20] = [0, 0], [0.0]  # no response: (0, 0) with confidence 0
    values[0][0] = [1.25]  # heatmap values can exceed 1 slightly
    return peaks, values


def _write(tmp_path: Path, record: object) -> Path:
    path = tmp_path / "detect.json"
    path.write_text(json.dumps(record))
    return path


def test_reads_keypoints_and_confidence_per_image(tmp_path):
    peaks, values = _peaks_and_values()
    loaded = load_openpose_detections(_write(tmp_path, [peaks, values, ["00000000.jpg", "b.jpg"]]))
    assert list(loaded) == ["00000000.jpg", "b.jpg"]
    keypoints, confidence = loaded["00000000.jpg"]
    assert keypoints.shape == (21, 2) and confidence.shape == (21,)
    assert keypoints.dtype == np.float64 and confidence.dtype == np.float64
    np.testing.assert_array_equal(keypoints[3], [13.0, 26.0])
    assert confidence[0] == 1.0, "clipped to the [0, 1] range of HandSample.confidence"
    assert confidence[5] == pytest.approx(0.6)
    keypoints, confidence = loaded["b.jpg"]
    np.testing.assert_array_equal(keypoints[20], [0.0, 0.0])
    assert confidence[20] == 0.0 and confidence[19] == pytest.approx(0.3)


def test_values_without_the_trailing_axis_are_accepted(tmp_path):
    peaks, values = _peaks_and_values()
    flat = [[v[0] for v in image] for image in values]
    loaded = load_openpose_detections(_write(tmp_path, [peaks, flat, ["a.jpg", "b.jpg"]]))
    assert loaded["b.jpg"][1][0] == pytest.approx(0.3)


def test_an_empty_file_has_no_detections(tmp_path):
    assert load_openpose_detections(_write(tmp_path, [[], [], []])) == {}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda p, v, n: {"peaks": p}, "list of three"),
        (lambda p, v, n: [p, v], "list of three"),
        (lambda p, v, n: [p, v, ["a.jpg"]], r"peaks has shape \(2, 21, 2\), expected \(1, 21, 2\)"),
        (lambda p, v, n: [[row[:20] for row in p], v, n], "peaks has shape"),
        (lambda p, v, n: [p, [row[:20] for row in v], n], "values has shape"),
        (lambda p, v, n: [p, v, ["a.jpg", 7]], "list of file names"),
        (lambda p, v, n: [p, v, ["a.jpg", "a.jpg"]], r"more than once: \['a.jpg'\]"),
        (lambda p, v, n: [[["x", "y"]] * 21, v, n], "not a numeric array"),
    ],
)
def test_malformed_files_are_refused_with_the_layout(tmp_path, change, message):
    peaks, values = _peaks_and_values()
    path = _write(tmp_path, change(peaks, values, ["a.jpg", "b.jpg"]))
    with pytest.raises(ValueError, match=message) as error:
        load_openpose_detections(path)
    assert str(path) in str(error.value)


def test_nan_and_broken_json_are_refused(tmp_path):
    peaks, values = _peaks_and_values()
    values[0][4] = [float("nan")]
    with pytest.raises(ValueError, match="NaN"):
        load_openpose_detections(_write(tmp_path, [peaks, values, ["a.jpg", "b.jpg"]]))
    broken = tmp_path / "broken.json"
    broken.write_text("[[[1, 2]")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_openpose_detections(broken)


def test_a_missing_file_names_path_and_layout(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"peaks N x 21 x 2") as error:
        load_openpose_detections(tmp_path / "openpose" / "detect.json")
    assert "detect.json" in str(error.value)
