"""bench/synth_realism.py: its per-group detection rates, and a run on a tiny benchmark."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
from helpers.tiny_training import build_tiny_synth

from s2h_lib.data.synth.dataset import ShardArrays
from s2h_lib.data.synth.layout import read_manifest

SCRIPT = Path(__file__).resolve().parent.parent / "bench" / "synth_realism.py"
spec = importlib.util.spec_from_file_location("synth_realism", SCRIPT)
realism = importlib.util.module_from_spec(spec)
spec.loader.exec_module(realism)


def test_table_rates_per_group_by_hand():
    result = {
        "found": np.array([True, True, False, True]),
        "correct": np.array([True, False, False, True]),
        "view": np.array([0, 0, 1, 2]),
        "box": np.array([0.45, 0.7, 0.5, 0.75]),
        "occluded": np.array([False, False, True, False]),
        "skin_luma": np.array([0.2, 0.6, 0.3, 0.7]),
    }
    rows = {line.split(" | ")[0][2:]: line for line in realism.table(result).splitlines()[2:]}
    assert rows["all"] == "| all | 4 | 75.0% | 50.0% |"
    assert rows["view: palm"] == "| view: palm | 2 | 100.0% | 50.0% |"
    assert rows["view: back"] == "| view: back | 1 | 0.0% | 0.0% |"
    assert rows["occluder on the hand"] == "| occluder on the hand | 1 | 0.0% | 0.0% |"
    assert rows["hand box >= 0.6 of image"] == "| hand box >= 0.6 of image | 2 | 100.0% | 50.0% |"
    assert rows["darker skin half"] == "| darker skin half | 2 | 50.0% | 50.0% |"


def test_detect_split_reads_a_built_benchmark(tmp_path):
    root = build_tiny_synth(tmp_path / "synth")
    manifest = read_manifest(root)
    arrays = ShardArrays(root, manifest["shards"]["test"], manifest["image_size"])
    result = realism.detect_split(arrays, min(4, len(arrays)))
    assert set(result) == {"found", "correct", "view", "box", "occluded", "skin_luma"}
    assert all(len(v) == min(4, len(arrays)) for v in result.values())
    assert not (result["correct"] & ~result["found"]).any(), "correct implies found"
