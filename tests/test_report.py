"""The run report's warnings."""

from __future__ import annotations

from s2h_lib.report import COLLAPSE_RATIO, collapse_warnings


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
