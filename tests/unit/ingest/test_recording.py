"""Recording file: frames round-trip, truncated tails read up to the last whole frame."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import DecodeError
from ingest.model import RegionEpoch, RegionInfo, Span
from ingest.recording import MAGIC, RecordingHeader, RecordingReader, RecordingWriter, Registration

HEADER = RecordingHeader(
    job="j",
    cluster_id=7,
    target_ts=100,
    end_ts=200,
    primary_ts=99,
    tables=({"db": "d", "name": "t", "table_id": 42, "physical_ids": [42]},),
    schema={"42": {"id": 42}},
)
REG = Registration(
    stream_id=3,
    request_id=9,
    table_id=42,
    region=RegionInfo(5, Span(b"a", b""), RegionEpoch(1, 2), 1, (1, 2, 3)),
    span=Span(b"b", b"c"),
    checkpoint_ts=100,
    store_id=1,
)


def write(path: Path) -> None:
    w = RecordingWriter(path, HEADER)
    w.bind(3, 9)
    w.register(REG)
    w.message(3, b"\x0a\x00" * 100)
    w.message(300, b"")
    w.broken(3)
    w.close()


def test_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "r.rec"
    write(path)
    assert path.read_bytes().startswith(MAGIC)
    r = RecordingReader(path)
    assert r.header == HEADER
    frames = list(r)
    assert [(f.kind, f.stream_id) for f in frames] == [
        ("B", 3),
        ("R", 3),
        ("M", 3),
        ("M", 300),
        ("X", 3),
    ]
    assert frames[0].obj == {"stream_id": 3, "request_id": 9}
    assert frames[1].obj is not None and Registration.from_json(frames[1].obj) == REG
    assert frames[2].data == b"\x0a\x00" * 100 and frames[3].data == b""
    assert not r.truncated


def test_truncated_tail_stops_at_last_whole_frame(tmp_path: Path) -> None:
    path = tmp_path / "r.rec"
    write(path)
    data = path.read_bytes()
    path.write_bytes(data[:-3])
    r = RecordingReader(path)
    assert [f.kind for f in r] == ["B", "R", "M", "M"]
    assert r.truncated


def test_not_a_recording(tmp_path: Path) -> None:
    path = tmp_path / "x"
    path.write_bytes(b"hello")
    with pytest.raises(DecodeError, match="magic"):
        RecordingReader(path)
