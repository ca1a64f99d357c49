"""A downstream that accepts and never greets cannot hold a caller: the handshake is bounded."""

from __future__ import annotations

import asyncio
import time

import pytest

from app.sink.connect import connect
from core.errors import TransientError
from core.urls import parse_mysql_url


async def test_a_silent_server_is_a_transient_error_within_the_bound() -> None:
    held: list[asyncio.StreamWriter] = []

    async def accept(_r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        held.append(w)  # no greeting, ever

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        started = time.monotonic()
        with pytest.raises(TransientError, match=r"did not answer within 0\.5 s") as err:
            await connect(parse_mysql_url(f"mysql://u:s3cret@127.0.0.1:{port}/x"), timeout_s=0.5)
        assert time.monotonic() - started < 3
        assert "s3cret" not in str(err.value)
    finally:
        for w in held:
            w.close()
        server.close()
        await server.wait_closed()


async def test_nobody_listening_is_a_transient_error_naming_the_server() -> None:
    probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = probe.sockets[0].getsockname()[1]
    probe.close()
    await probe.wait_closed()
    with pytest.raises(TransientError, match=rf"127\.0\.0\.1:{port}") as err:
        await connect(parse_mysql_url(f"mysql://u:s3cret@127.0.0.1:{port}/x"), timeout_s=2)
    assert "s3cret" not in str(err.value)
