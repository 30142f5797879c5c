"""Atomic writes keep the old file when the writer fails part-way."""

from pathlib import Path

import pytest

from s2h_lib.atomic import atomic_open, atomic_write_bytes


def test_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "model.npz"
    atomic_write_bytes(target, b"old")
    with pytest.raises(RuntimeError), atomic_open(target) as file:
        file.write(b"half of the new")
        raise RuntimeError("crash mid-write")
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.npz"]


def test_write_creates_missing_parent_directories(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "c.bin"
    atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"new"


def test_written_file_gets_the_usual_permissions(tmp_path: Path) -> None:
    target = tmp_path / "shared.json"
    plain = tmp_path / "plain.json"
    atomic_write_bytes(target, b"{}")
    plain.write_bytes(b"{}")
    assert target.stat().st_mode & 0o777 == plain.stat().st_mode & 0o777
