"""The store outage deadline (``TIUNDO_STORE_OUTAGE_S``) measures one outage, not a store's life.

A store that refused its streams once (killed; PD moved its leaders within seconds) kept its
outage clock for the rest of the job: nothing reset it, since no stream to it ever got a message
again. When PD later moved leaders back and one stream to it broke before its first message, the
job failed at once, "refused every stream for 3600 s", after a seconds-long hiccup.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import pytest

from ingest.config import IngestConfig
from ingest.feed import StoreUnreachableError
from ingest.worker import IngestWorker


@dataclass
class _Stream:
    store_id: int = 7
    address: str = "tikv7:20160"
    messages: int = 0


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> _Clock:
    c = _Clock()
    monkeypatch.setattr("ingest.worker.time.monotonic", c)
    return c


def _worker(outage_s: float = 300.0) -> IngestWorker:
    w = IngestWorker(IngestConfig(tables=("db.*",), to_ts=100, store_outage_s=outage_s))
    w.core = SimpleNamespace(table_names={})  # type: ignore[assignment]
    return w


def test_a_refusal_long_after_the_last_one_starts_a_new_outage(clock: _Clock) -> None:
    w = _worker()
    assert not w._store_gone_too_long(_Stream(), [])  # killed; PD re-elects elsewhere
    clock.now += 3600  # an hour later its leaders are back, and one stream breaks early
    assert not w._store_gone_too_long(_Stream(), [])
    assert w._failure is None


def test_a_store_refusing_every_retry_still_fails_the_job_at_the_deadline(clock: _Clock) -> None:
    w = _worker()
    while clock.now < 1000 + 299:
        assert not w._store_gone_too_long(_Stream(), []), clock.now
        clock.now += 5.0  # a retry every few seconds (reconnect backoff, PD, connect)
    clock.now = 1000 + 300
    assert w._store_gone_too_long(_Stream(), [])
    assert isinstance(w._failure, StoreUnreachableError)
    assert "refused every stream for 300 s" in str(w._failure)


def test_a_stream_that_got_messages_ends_the_outage(clock: _Clock) -> None:
    w = _worker()
    assert not w._store_gone_too_long(_Stream(), [])
    clock.now += 200
    assert not w._store_gone_too_long(_Stream(messages=3), [])  # it answered: back
    clock.now += 200
    assert not w._store_gone_too_long(_Stream(), [])  # a new outage, 0 s old
    assert w._failure is None
