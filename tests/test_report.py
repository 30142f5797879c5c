"""The run report's warnings."""

from __future__ import annotations

from s2h_lib.evaluation.report import COLLAPSE_RATIO, collapse_warnings, findings


def test_a_collapsed_method_is_named_and_explained() -> None:
    rows = {
        "network": {"projected_size_ratio": 0.05},
        "fitting": {"projected_size_ratio": 0.97},
        "no 2D": {"projected_size_ratio": "n/a"},
    }
    text = collapse_warnings(rows)
    assert "network: its 2D projections have collapsed" in text and "5.0%" in text
    assert "fitting" not in text and "no 2D" not in text
    assert "MPJPE" in text and "PA metrics" in text


def test_no_warning_at_or_above_the_threshold() -> None:
    assert collapse_warnings({"m": {"projected_size_ratio": COLLAPSE_RATIO}}) == ""
    assert collapse_warnings({}) == ""


def _row(pa_mpjpe: float, pa_mpvpe: float, epe: float, ratio: float, seconds: float) -> dict:
    return {
        "pa_mpjpe_mm": pa_mpjpe,
        "pa_mpvpe_mm": pa_mpvpe,
        "epe2d_px": epe,
        "projected_size_ratio": ratio,
        "seconds_per_sample": seconds,
    }


def test_findings_state_each_target_with_the_runs_numbers() -> None:
    rows = {
        "net": _row(11.3, 7.0, 12.0, 1.02, 0.01),
        "refined": _row(10.9, 6.9, 11.0, 0.95, 0.1),
        "fit": _row(11.4, 7.1, 11.0, 0.9, 0.5),
        "mean": _row(14.0, 8.5, 33.0, 2.3, 0.001),
    }
    text = findings(rows, "net", "refined", "fit", "mean")
    items = text.split("<li>")[1:]
    assert len(items) == 4 and all("<b>yes</b>" in item for item in items)
    assert "11.30 mm against 14.00 mm" in items[0] and "7.00 mm against 8.50 mm" in items[0]
    assert "size 1.02 of the true one" in items[1]
    assert items[2].startswith("The network alone") and "11.30 mm against 11.40 mm" in items[2]
    assert "in 2% of its time" in items[2]
    assert items[3].startswith("Network + refinement") and "in 20% of its time" in items[3]
    rows["net"] = _row(14.5, 9.0, 12.0, 0.5, 0.01)
    rows["refined"] = _row(11.6, 7.2, 11.0, 0.95, 0.1)
    items = findings(rows, "net", "refined", "fit", "mean").split("<li>")[1:]
    assert all("<b>no</b>" in item for item in items)


def _grouped(row: dict, detected: float | None, missed: float, size: float | None = None) -> dict:
    groups = {
        "hand_detected": {"count": 120, "pa_mpjpe_mm": detected, "projected_size_ratio": size},
        "hand_missed": {"count": 80, "pa_mpjpe_mm": missed},
    }
    return row | {"groups": groups}


def test_findings_split_detected_and_missed_hands_when_both_rows_have_them() -> None:
    rows = {
        "net": _grouped(_row(12.4, 7.5, 12.0, 1.02, 0.01), 11.5, 13.8),
        "refined": _row(10.9, 6.9, 11.0, 0.95, 0.1),
        "fit": _row(11.4, 7.1, 11.0, 0.9, 0.5),
        "mean": _grouped(_row(14.0, 8.5, 33.0, 2.3, 0.001), None, 14.1),
    }
    items = findings(rows, "net", "refined", "fit", "mean").split("<li>")[1:]
    assert len(items) == 5
    assert "found the hand in 120 of 200 images" in items[4]
    assert "11.50 mm against the mean pose's n/a" in items[4]
    assert "on the 80 others" in items[4] and "13.80 mm against the mean pose's 14.10" in items[4]
    assert "fitting" not in items[4]
    assert "(projected size 1.02 of the true one; 0.8 to 1.25 is no collapse)" in items[1]
    rows["net"] = _grouped(_row(12.4, 7.5, 12.0, 0.86, 0.01), 11.5, 13.8, size=1.16)
    rows["refined"] = _grouped(_row(10.9, 6.9, 11.0, 0.79, 0.1), 10.0, 13.9, size=1.004)
    size = findings(rows, "net", "refined", "fit", "mean").split("<li>")[2]
    assert "size 0.86 of the true one, 1.16 on the hands the detector found" in size
    assert "(with refinement 1.00)" in size
    rows["fit"] = _grouped(_row(11.4, 7.1, 11.0, 0.9, 0.5), 11.0, 14.1)
    found = findings(rows, "net", "refined", "fit", "mean").split("<li>")[5]
    assert "11.50 mm against the mean pose's n/a and per-image fitting's 11.00 mm" in found
    assert "13.80 mm against the mean pose's 14.10 mm and per-image fitting's 14.10 mm" in found
    rows["mean"] = _row(14.0, 8.5, 33.0, 2.3, 0.001)
    assert len(findings(rows, "net", "refined", "fit", "mean").split("<li>")[1:]) == 4
