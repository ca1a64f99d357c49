"""A TCP proxy between the workers and MariaDB that can lose one COMMIT's acknowledgement.

The sink commits every undo transaction with an explicit ``COMMIT`` (aiomysql's
``conn.commit()``: a ``COM_QUERY`` packet whose text is ``COMMIT``; the sink never runs in
autocommit). When :meth:`AckProxy.arm` is called, the next such ``COMMIT`` of an undo
transaction (one that advanced an ``undo_progress`` counter, so a real one, not a session's or
a counter read's) that no earlier arm claimed (two arms: the next two) is forwarded to the
server, the client's socket is closed at once, and the server's answer (its OK) is read and
dropped. The transaction is committed; the worker sees "lost connection during query" and cannot
know. Its retry must find the counter already advanced and skip (the exactly-once counters of
:mod:`app.sink.mysql`); a retry that re-applied it would leave a table not at T, which the chaos
oracle catches.

The MySQL protocol frames every packet as a 3-byte little-endian length, a sequence byte and
the payload, in both directions and in the handshake too; without TLS or compression (the
soak uses neither) the proxy can read the client's packets as they pass.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from dataclasses import dataclass

__all__ = [
    "COM_QUERY",
    "AckProxy",
    "Packet",
    "is_commit",
    "opens_undo_txn",
    "pack",
    "query_text",
    "take_packets",
]

COM_QUERY = 0x03
_HEADER = 4
#: how long the server has to acknowledge the forwarded COMMIT (it is read and dropped)
_ACK_WAIT_S = 30.0


@dataclass(frozen=True, slots=True)
class Packet:
    """One MySQL packet: its sequence id and payload (``raw`` = the bytes on the wire)."""

    seq: int
    payload: bytes

    @property
    def raw(self) -> bytes:
        """Header and payload, as sent."""
        return pack(self.seq, self.payload)


def pack(seq: int, payload: bytes) -> bytes:
    """The wire form of one packet (payloads over 16 MiB are split by the sender: not here)."""
    if len(payload) >= 1 << 24:
        raise ValueError(f"a MySQL packet payload is < 16 MiB, not {len(payload)} bytes")
    return len(payload).to_bytes(3, "little") + bytes([seq & 0xFF]) + payload


def take_packets(buf: bytearray) -> list[Packet]:
    """Remove every complete packet from the front of ``buf``; a partial one stays."""
    out = []
    while len(buf) >= _HEADER:
        size = int.from_bytes(buf[:3], "little")
        if len(buf) < _HEADER + size:
            break
        out.append(Packet(buf[3], bytes(buf[_HEADER : _HEADER + size])))
        del buf[: _HEADER + size]
    return out


def query_text(p: Packet) -> str | None:
    """The SQL of a ``COM_QUERY`` packet (None for any other packet)."""
    if not p.payload or p.payload[0] != COM_QUERY:
        return None
    return p.payload[1:].decode("utf-8", errors="replace")


def is_commit(sql: str) -> bool:
    """Whether ``sql`` is a bare ``COMMIT`` (any case, spaces or a trailing ``;``)."""
    return sql.strip().rstrip(";").strip().upper() == "COMMIT"


def opens_undo_txn(sql: str) -> bool:
    """Whether ``sql`` advances an exactly-once counter (the first statement of an undo
    transaction: ``UPDATE <db>.undo_progress SET txn = …``)."""
    head = sql.lstrip().upper()
    return head.startswith("UPDATE") and "UNDO_PROGRESS" in head and "SET TXN" in head


class AckProxy:
    """Listens on ``127.0.0.1``, relays to ``upstream``; :meth:`arm` loses one COMMIT's ack."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = 0
        self.cut = 0  # COMMITs whose acknowledgement was lost so far
        #: arms waiting for their COMMIT, oldest first: (its future, any COMMIT at all)
        self._armed: deque[tuple[asyncio.Future[str], bool]] = deque()
        self._server: asyncio.Server | None = None
        self._conns: set[asyncio.Task[None]] = set()
        self._n = 0

    async def start(self) -> int:
        """Listen on a free port; returns it."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    def arm(self, any_commit: bool = False) -> asyncio.Future[str]:
        """Lose the ack of the next undo transaction's COMMIT that no earlier arm claims
        (``any_commit``: of the next COMMIT at all); the future says which, once it is cut.

        Each arm cuts its own COMMIT: faults armed ahead of the apply all strike.
        """
        armed: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._armed.append((armed, any_commit))
        return armed

    def disarm(self) -> None:
        """Let every COMMIT through again (arms that found no COMMIT in time)."""
        while self._armed:
            self._armed.popleft()[0].cancel()

    def _next_arm(self) -> tuple[asyncio.Future[str], bool] | None:
        while self._armed and self._armed[0][0].done():
            self._armed.popleft()  # cancelled by its caller
        return self._armed[0] if self._armed else None

    async def close(self) -> None:
        """Stop listening and drop every connection."""
        if self._server is not None:
            self._server.close()
        for t in list(self._conns):
            t.cancel()
        await asyncio.gather(*self._conns, return_exceptions=True)

    async def _serve(self, c_reader: asyncio.StreamReader, c_writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._conns.add(task)
        self._n += 1
        n = self._n
        try:
            s_reader, s_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            c_writer.close()  # the server is down: the client sees the connection refused
            self._conns.discard(task)
            return
        down = asyncio.create_task(_relay(s_reader, c_writer))
        try:
            await self._up(n, c_reader, s_writer, s_reader, c_writer, down)
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            down.cancel()
            with contextlib.suppress(BaseException):
                await down
            for w in (c_writer, s_writer):
                w.close()
            self._conns.discard(task)

    async def _up(
        self,
        n: int,
        c_reader: asyncio.StreamReader,
        s_writer: asyncio.StreamWriter,
        s_reader: asyncio.StreamReader,
        c_writer: asyncio.StreamWriter,
        down: asyncio.Task[None],
    ) -> None:
        """Client → server, packet by packet, watching for the COMMIT to cut."""
        buf = bytearray()
        in_undo = False
        while chunk := await c_reader.read(65536):
            buf += chunk
            for p in take_packets(buf):
                sql = query_text(p)
                if sql is not None:
                    if opens_undo_txn(sql):
                        in_undo = True
                    elif is_commit(sql):
                        head = self._next_arm()
                        if head is not None and (in_undo or head[1]):
                            self._armed.popleft()  # this COMMIT is this arm's
                            await self._cut(
                                n, in_undo, p, s_writer, s_reader, c_writer, down, head[0]
                            )
                            return
                        in_undo = False
                    elif sql.strip().upper().startswith("ROLLBACK"):
                        in_undo = False
                s_writer.write(p.raw)
            await s_writer.drain()

    async def _cut(
        self,
        n: int,
        in_undo: bool,
        commit: Packet,
        s_writer: asyncio.StreamWriter,
        s_reader: asyncio.StreamReader,
        c_writer: asyncio.StreamWriter,
        down: asyncio.Task[None],
        armed: asyncio.Future[str],
    ) -> None:
        """Forward ``commit``, close the client, read and drop the server's answer.

        The client sends a command only after reading every answer before it, so nothing is in
        flight towards it when the relay stops.
        """
        down.cancel()
        with contextlib.suppress(BaseException):
            await down
        s_writer.write(commit.raw)
        await s_writer.drain()
        c_writer.close()  # before the OK: the worker never learns the COMMIT landed
        async with asyncio.timeout(_ACK_WAIT_S):
            head = await s_reader.readexactly(_HEADER)
            body = await s_reader.readexactly(int.from_bytes(head[:3], "little"))
        answer = "OK" if body[:1] == b"\x00" else f"error packet {body[:64]!r}"
        self.cut += 1
        if not armed.done():
            what = "an undo transaction" if in_undo else "a transaction"
            armed.set_result(f"COMMIT of {what} on connection {n}: server {answer}")


async def _relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Server → client, byte for byte, until either side closes."""
    with contextlib.suppress(OSError):
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
    writer.close()
