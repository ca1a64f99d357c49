"""Recordings, dry-run SQL and job folders hold row images: only their owner may read them."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from app.sink.dryrun import PartWriter, assemble
from app.undo.sqlgen import Statement
from core.private import open_private, private_folder
from ingest.recording import RecordingHeader, RecordingWriter


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def _loose_umask() -> object:
    old = os.umask(0o002)  # what a shared host often has: files 0664, folders 0775
    yield
    os.umask(old)


def test_open_private_creates_0600_and_narrows_an_existing_file(tmp_path: Path) -> None:
    new = tmp_path / "a.txt"
    with open_private(new) as f:
        f.write("x")
    assert _mode(new) == 0o600
    old = tmp_path / "b.txt"
    old.write_text("old")
    old.chmod(0o644)
    with open_private(old) as f:
        f.write("new")
    assert (_mode(old), old.read_text()) == (0o600, "new")


def test_exclusive_never_overwrites(tmp_path: Path) -> None:
    path = tmp_path / "keep"
    path.write_text("precious")
    with pytest.raises(FileExistsError):
        open_private(path, "wb", exclusive=True)
    assert path.read_text() == "precious"


def test_read_modes_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="mode"):
        open_private(tmp_path / "x", "r")


def test_private_folder_is_0700_with_parents(tmp_path: Path) -> None:
    folder = private_folder(tmp_path / "jobs" / "j1")
    assert _mode(folder) == 0o700
    loose = tmp_path / "loose"
    loose.mkdir(mode=0o755)
    private_folder(loose)
    assert _mode(loose) == 0o700


def test_a_recording_is_0600_and_never_overwritten(tmp_path: Path) -> None:
    header = RecordingHeader(
        job="j", cluster_id=1, target_ts=1, end_ts=2, primary_ts=0, tables=[], schema={}
    )
    path = tmp_path / "feed.rec"
    RecordingWriter(path, header).close()
    assert _mode(path) == 0o600
    size = path.stat().st_size
    with pytest.raises(FileExistsError):
        RecordingWriter(path, header)
    assert path.stat().st_size == size


def test_dry_run_parts_and_the_assembled_file_are_private(tmp_path: Path) -> None:
    directory = tmp_path / "sql"
    w = PartWriter(directory, 0)
    st = Statement(
        kind="delete", sql="DELETE FROM `t` WHERE `a` = %s", params=(1,), rows=1,
        first_commit_ts=5, last_commit_ts=6,
    )  # fmt: skip
    w.add(0, "-- t", st)
    w.close()
    out = assemble(directory, "j", 1, ["SET SESSION foreign_key_checks = 0"])
    assert _mode(directory) == 0o700
    assert all(_mode(p) == 0o600 for p in directory.iterdir())
    assert "DELETE FROM `t` WHERE `a` = 1" in out.read_text()
