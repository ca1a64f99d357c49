"""The metrics module: names, counters fed by totals, the /metrics endpoint, retries counted."""

from __future__ import annotations

import socket
import urllib.request

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import REGISTRY, Counter, Gauge

from core import metrics
from core.errors import ConfigError, TransientError
from core.metrics_addr import parse_addr, worker_addr
from core.retry import Backoff, retry_async


def _value(name: str, **labels: str) -> float:
    got = REGISTRY.get_sample_value(name, labels)
    return 0.0 if got is None else got


def test_names_follow_the_conventions() -> None:
    families = [
        m
        for m in vars(metrics).values()
        if isinstance(m, (Counter, Gauge)) and m._name.startswith("tiundo")
    ]
    assert len(families) == 12
    for m in families:
        assert m._name.startswith("tiundo_") and not m._name.endswith("_total"), m._name
    names = {m._name for m in families}
    assert "tiundo_frontier_lag_seconds" in names and "tiundo_rows_applied" in names
    # counters are exposed with _total
    metrics.DEAD_LETTERS.inc(0)
    assert REGISTRY.get_sample_value("tiundo_dead_letters_total") is not None


@given(totals=st.lists(st.integers(0, 10_000), max_size=30))
def test_a_total_counter_only_grows_and_follows_the_totals(totals: list[int]) -> None:
    counter = Counter(f"t_total_counter_{id(totals)}", "test", registry=None)
    fed = metrics.TotalCounter(counter)
    seen = 0.0
    last = 0
    for total in totals:
        fed.observe(total)
        now = counter._value.get()
        assert now >= seen
        # a restart (total below the last one) counts the new total from 0
        assert now - seen == (total - last if total >= last else total)
        seen, last = now, total


def test_set_state_marks_one_state() -> None:
    metrics.set_state(metrics.JOB_STATE, metrics.JOB_STATES, "RUNNING")
    assert _value("tiundo_job_state", state="RUNNING") == 1
    assert _value("tiundo_job_state", state="WAITING") == 0
    metrics.set_state(metrics.JOB_STATE, metrics.JOB_STATES, "SUCCEEDED")
    assert _value("tiundo_job_state", state="RUNNING") == 0
    assert _value("tiundo_job_state", state="SUCCEEDED") == 1


def test_addresses() -> None:
    assert parse_addr("127.0.0.1:9464") == ("127.0.0.1", 9464)
    assert parse_addr("[::1]:9464") == ("::1", 9464)
    assert worker_addr("0.0.0.0:9464", 0) == "0.0.0.0:9465"
    assert worker_addr("[::1]:9464", 2) == "[::1]:9467"
    for bad in ("9464", "host:", "host:0", "host:70000", ":9464", "h:x"):
        with pytest.raises(ConfigError, match=r"^--metrics-addr / TIUNDO_METRICS_ADDR must be"):
            parse_addr(bad)
    with pytest.raises(ConfigError, match="no port left for worker 1"):
        worker_addr("h:65535", 1)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_answers_over_http_and_a_taken_port_is_named() -> None:
    assert metrics.serve("") is None
    port = _free_port()
    server = metrics.serve(f"127.0.0.1:{port}")
    assert server is not None
    try:
        metrics.REGIONS_INITIALIZED.set(7)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
            body = resp.read().decode()
        assert "tiundo_regions_initialized 7.0" in body
        with pytest.raises(ConfigError, match=rf"^--metrics-addr 127.0.0.1:{port}: cannot listen"):
            metrics.serve(f"127.0.0.1:{port}")
    finally:
        server.close()


async def test_every_retry_is_counted_by_error_class() -> None:
    before = _value("tiundo_transient_retries_total", error="TransientError")
    calls = 0

    async def flaky() -> int:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise TransientError("away")
        return calls

    assert await retry_async(flaky, backoff=Backoff(0.0), what="t", attempts=5) == 3
    assert _value("tiundo_transient_retries_total", error="TransientError") == before + 2
