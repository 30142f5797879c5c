"""The `s2h` command: converting and inspecting hand model files, the demo, and its errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from s2h_lib.cli import main
from s2h_lib.hand.mano_io import load_hand_model


def test_convert_then_load_equals_pkl(mano_dir: Path, tmp_path: Path, capsys):
    out = tmp_path / "converted" / "MANO_LEFT.npz"
    assert main(["mano", "convert", str(mano_dir / "MANO_LEFT.pkl"), str(out)]) == 0
    assert str(out) in capsys.readouterr().out
    with np.load(out, allow_pickle=False) as npz:
        assert "shapedirs" in npz.files, "the converted file holds plain arrays, no pickle"
    from_pkl = load_hand_model(mano_dir / "MANO_LEFT.pkl", side="left")
    from_npz = load_hand_model(out, side="left")
    np.testing.assert_array_equal(from_npz.shapedirs, from_pkl.shapedirs)
    np.testing.assert_array_equal(from_npz.v_template, from_pkl.v_template)
    np.testing.assert_array_equal(from_npz.faces, from_pkl.faces)


def test_info_summarises_the_open_model(capsys):
    assert main(["mano", "info"]) == 0
    text = capsys.readouterr().out
    assert "vertices:" in text and "tips (regressed)" in text


def test_missing_file_is_a_clear_error_not_a_traceback(tmp_path: Path, capsys):
    missing = tmp_path / "nowhere" / "MANO_RIGHT.pkl"
    assert main(["mano", "convert", str(missing), str(tmp_path / "out.npz")]) == 2
    err = capsys.readouterr().err
    assert str(missing) in err and "mano.is.tue.mpg.de" in err


def test_unknown_side_is_a_clear_error(mano_dir: Path, tmp_path: Path, capsys):
    renamed = tmp_path / "hand.pkl"
    renamed.write_bytes((mano_dir / "MANO_RIGHT.pkl").read_bytes())
    assert main(["mano", "convert", str(renamed), str(tmp_path / "out.npz")]) == 2
    assert "--side" in capsys.readouterr().err


def test_console_script_is_installed():
    result = subprocess.run(
        [Path(sys.executable).with_name("s2h"), "--help"], capture_output=True, text=True
    )
    assert result.returncode == 0 and "mano" in result.stdout


@pytest.mark.parametrize("argv", [["mano"], ["nonsense"], []])
def test_bad_usage_exits_with_usage(argv):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
