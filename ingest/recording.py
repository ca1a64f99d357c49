"""Recording file: the raw EventFeed traffic of a job, replayable without a cluster.

Layout (all integers unsigned LEB128 varints, as protobuf's length-delimited framing)::

    MAGIC  "TIUNDOREC1" + newline (11 bytes)
    frame* kind: 1 byte | length: varint | payload: length bytes

=====  ==================  =====================================================================
kind   name                payload
=====  ==================  =====================================================================
``H``  header              JSON: version, job, cluster_id, target_ts, end_ts, primary_ts,
                           tables [{db, name, table_id, physical_ids}], schema {id: TableInfo}
``B``  bind stream         JSON {stream_id, request_id}: plain EventFeed stream of one table
``R``  register            JSON: the :class:`~ingest.region_worker.Subscription` being sent
``M``  message             varint stream_id, then one raw ``cdcpb.ChangeDataEvent`` as TiKV
                           sent it (bytes untouched)
``X``  stream broken       JSON {stream_id}
=====  ==================  =====================================================================

The header comes first; the other frames are in the order the worker handled them, so feeding
them to a fresh :class:`~ingest.region_worker.RegionWorker` reproduces its outputs. A file cut
short (crash) reads up to its last whole frame; :attr:`RecordingReader.truncated` tells.

Pure: stdlib, ``ingest.model`` and ``ingest.region_worker`` types only by annotation.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final

from core.errors import DecodeError
from core.private import open_private
from ingest.model import RegionEpoch, RegionInfo, Span

__all__ = [
    "MAGIC",
    "Frame",
    "RecordingHeader",
    "RecordingReader",
    "RecordingWriter",
    "Registration",
]

MAGIC: Final = b"TIUNDOREC1\n"
VERSION: Final = 1


def _uvarint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _read_uvarint(buf: bytes | memoryview, pos: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        if pos >= len(buf):
            raise IndexError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise DecodeError("varint longer than 64 bits in recording")


@dataclass(frozen=True, slots=True)
class RecordingHeader:
    """What the replay needs besides the traffic: the window, the tables, their schema."""

    job: str
    cluster_id: int
    target_ts: int
    end_ts: int
    tables: tuple[dict[str, Any], ...]
    schema: dict[str, Any]
    primary_ts: int = 0
    version: int = VERSION

    def physical_ids(self) -> list[int]:
        """Every physical table id of the job."""
        return [pid for t in self.tables for pid in t["physical_ids"]]

    def to_json(self) -> dict[str, Any]:
        """JSON object of the header frame."""
        return {
            "version": self.version,
            "job": self.job,
            "cluster_id": self.cluster_id,
            "target_ts": self.target_ts,
            "end_ts": self.end_ts,
            "primary_ts": self.primary_ts,
            "tables": list(self.tables),
            "schema": self.schema,
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> RecordingHeader:
        """Parse the header frame (``DecodeError`` for another format version)."""
        if obj.get("version") != VERSION:
            raise DecodeError(f"recording version {obj.get('version')!r}, expected {VERSION}")
        return cls(
            job=str(obj["job"]),
            cluster_id=int(obj["cluster_id"]),
            target_ts=int(obj["target_ts"]),
            end_ts=int(obj["end_ts"]),
            primary_ts=int(obj.get("primary_ts", 0)),
            tables=tuple(obj["tables"]),
            schema=dict(obj.get("schema", {})),
        )


@dataclass(frozen=True, slots=True)
class Registration:
    """A register request as the worker tracked it (a ``Subscription`` without its state)."""

    stream_id: int
    request_id: int
    table_id: int
    region: RegionInfo
    span: Span
    checkpoint_ts: int
    store_id: int

    def to_json(self) -> dict[str, Any]:
        """JSON object of the register frame."""
        r = self.region
        return {
            "stream_id": self.stream_id,
            "request_id": self.request_id,
            "table_id": self.table_id,
            "region_id": r.region_id,
            "region_start": r.span.start.hex(),
            "region_end": r.span.end.hex(),
            "conf_ver": r.epoch.conf_ver,
            "version": r.epoch.version,
            "leader_store_id": r.leader_store_id,
            "peer_store_ids": list(r.peer_store_ids),
            "start": self.span.start.hex(),
            "end": self.span.end.hex(),
            "checkpoint_ts": self.checkpoint_ts,
            "store_id": self.store_id,
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Registration:
        """Parse a register frame."""
        region = RegionInfo(
            region_id=int(obj["region_id"]),
            span=Span(bytes.fromhex(obj["region_start"]), bytes.fromhex(obj["region_end"])),
            epoch=RegionEpoch(int(obj["conf_ver"]), int(obj["version"])),
            leader_store_id=int(obj["leader_store_id"]),
            peer_store_ids=tuple(int(s) for s in obj["peer_store_ids"]),
        )
        return cls(
            stream_id=int(obj["stream_id"]),
            request_id=int(obj["request_id"]),
            table_id=int(obj["table_id"]),
            region=region,
            span=Span(bytes.fromhex(obj["start"]), bytes.fromhex(obj["end"])),
            checkpoint_ts=int(obj["checkpoint_ts"]),
            store_id=int(obj["store_id"]),
        )


@dataclass(frozen=True, slots=True)
class Frame:
    """One frame after the header: ``kind`` is ``B``, ``R``, ``M`` or ``X``.

    ``data`` holds the raw ChangeDataEvent for ``M``; ``obj`` the JSON for the others.
    """

    kind: str
    stream_id: int
    data: bytes = b""
    obj: dict[str, Any] | None = None


class RecordingWriter:
    """Appends frames to a file; :meth:`close` flushes. Not thread-safe (one event loop)."""

    def __init__(self, path: Path | str, header: RecordingHeader) -> None:
        self.path = Path(path)
        # 0600 and never over an earlier recording (it holds row images)
        self._f: IO[bytes] | None = open_private(self.path, "wb", exclusive=True, buffering=1 << 20)
        self.frames = 0
        self.bytes = 0
        self._write_raw(MAGIC)
        self._frame(b"H", json.dumps(header.to_json(), sort_keys=True).encode())

    def _write_raw(self, data: bytes) -> None:
        if self._f is None:
            raise ValueError(f"recording {self.path} is closed")
        self._f.write(data)
        self.bytes += len(data)

    def _frame(self, kind: bytes, payload: bytes) -> None:
        self._write_raw(kind + _uvarint(len(payload)) + payload)
        self.frames += 1

    def _json(self, kind: bytes, obj: dict[str, Any]) -> None:
        self._frame(kind, json.dumps(obj, sort_keys=True, separators=(",", ":")).encode())

    def bind(self, stream_id: int, request_id: int) -> None:
        """A plain-EventFeed stream carries ``request_id``'s table."""
        self._json(b"B", {"stream_id": stream_id, "request_id": request_id})

    def register(self, reg: Registration) -> None:
        """A register request is about to be sent."""
        self._json(b"R", reg.to_json())

    def message(self, stream_id: int, data: bytes) -> None:
        """One raw ChangeDataEvent received on ``stream_id``."""
        self._frame(b"M", _uvarint(stream_id) + data)

    def broken(self, stream_id: int) -> None:
        """Stream ``stream_id`` broke; its subscriptions are gone."""
        self._json(b"X", {"stream_id": stream_id})

    def flush(self) -> None:
        """Push buffered frames to the OS."""
        if self._f is not None:
            self._f.flush()

    def close(self) -> None:
        """Flush and close (idempotent)."""
        f, self._f = self._f, None
        if f is not None:
            f.close()


class RecordingReader:
    """Reads a recording: :attr:`header`, then iterate for the frames."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._buf = self.path.read_bytes()
        self.truncated = False
        if not self._buf.startswith(MAGIC):
            raise DecodeError(f"{self.path} is not a tiundo recording (bad magic)")
        self._pos = len(MAGIC)
        first = self._next()
        if first is None or first[0] != "H":
            raise DecodeError(f"{self.path}: recording has no header frame")
        try:
            self.header = RecordingHeader.from_json(json.loads(first[1]))
        except (ValueError, KeyError, TypeError) as exc:
            raise DecodeError(f"{self.path}: bad header: {exc}") from exc

    def _next(self) -> tuple[str, bytes] | None:
        buf, pos = self._buf, self._pos
        if pos >= len(buf):
            return None
        try:
            length, start = _read_uvarint(buf, pos + 1)
        except IndexError:
            self.truncated = True
            return None
        end = start + length
        if end > len(buf):
            self.truncated = True
            return None
        self._pos = end
        return chr(buf[pos]), buf[start:end]

    def __iter__(self) -> Iterator[Frame]:
        while (item := self._next()) is not None:
            kind, payload = item
            if kind == "M":
                stream_id, off = _read_uvarint(payload, 0)
                yield Frame("M", stream_id, data=payload[off:])
            elif kind in "BRX":
                obj = json.loads(payload)
                yield Frame(kind, int(obj["stream_id"]), obj=obj)
            else:
                raise DecodeError(f"{self.path}: unknown frame kind {kind!r} at {self._pos}")
