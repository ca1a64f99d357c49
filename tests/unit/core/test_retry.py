from __future__ import annotations

import asyncio
import logging
import random
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import ConfigError, TransientError
from core.retry import Backoff, is_retriable, retry_async

# -- Backoff ----------------------------------------------------------------------------------


@st.composite
def backoffs(draw: st.DrawFn, *, jitter: bool = True) -> Backoff:
    base = draw(st.floats(0.0, 100.0))
    factor = draw(st.floats(1.0, 10.0))
    spread = draw(st.floats(0.0, 1.0)) if jitter else 0.0
    cap = base + draw(st.floats(0.0, 1000.0))
    seed = draw(st.integers(0, 2**32))
    return Backoff(base, factor, spread, cap, rng=random.Random(seed))


attempts_ = st.integers(0, 100_000)


@given(backoffs(), attempts_)
def test_delay_is_never_above_the_cap_nor_negative(b: Backoff, attempt: int) -> None:
    assert 0.0 <= b.delay(attempt) <= b.cap


@given(backoffs())
def test_first_delay_is_base_within_the_jitter(b: Backoff) -> None:
    d = b.delay(0)
    assert d >= b.base * (1 - b.jitter) - 1e-9 * b.base
    assert d <= min(b.cap, b.base * (1 + b.jitter)) + 1e-9 * b.base


@given(st.integers(0, 2**32), st.lists(attempts_, max_size=20))
def test_delays_are_deterministic_for_a_seeded_rng(seed: int, attempts: list[int]) -> None:
    a = Backoff(0.1, 2.0, 0.3, 7.0, rng=random.Random(seed))
    b = Backoff(0.1, 2.0, 0.3, 7.0, rng=random.Random(seed))
    assert [a.delay(n) for n in attempts] == [b.delay(n) for n in attempts]
    assert [a.next_delay() for _ in range(10)] == [b.next_delay() for _ in range(10)]


@given(backoffs(jitter=False), st.integers(1, 2000))
def test_delays_without_jitter_never_decrease(b: Backoff, n: int) -> None:
    delays = [b.delay(i) for i in range(0, 2 * n, max(1, n // 50))]
    assert delays == sorted(delays)
    assert b.delay(0) == b.base


def test_delays_double_to_the_cap_without_jitter() -> None:
    b = Backoff(0.5, 2.0, cap=30.0)
    assert [b.delay(n) for n in range(8)] == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    assert b.delay(10**6) == 30.0  # factor**attempt beyond the floats: the cap, no OverflowError
    assert Backoff(0.0, 8.0, cap=3.0).delay(10**6) == 0.0


def test_next_delay_counts_and_reset_starts_over() -> None:
    b = Backoff(1.0, 3.0, cap=100.0)
    assert [b.next_delay() for _ in range(4)] == [1.0, 3.0, 9.0, 27.0]
    assert b.attempts == 4
    b.reset()
    assert b.attempts == 0 and b.next_delay() == 1.0


# -- retry_async ------------------------------------------------------------------------------

TINY = Backoff(0.001, 2.0, cap=0.004)


class Flaky:
    """Fails with the given errors in turn, then returns ``"ok"``; records each call."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


def test_is_retriable_reads_the_error_flag() -> None:
    assert is_retriable(TransientError("blip"))
    assert not is_retriable(ConfigError("bad"))
    assert not is_retriable(OSError("not ours"))


async def test_retriable_errors_are_retried_until_success() -> None:
    call = Flaky(TransientError("a"), TransientError("b"))
    seen: list[tuple[int, str, float]] = []
    got = await retry_async(
        call, backoff=TINY, what="x", on_retry=lambda n, e, d: seen.append((n, str(e), d))
    )
    assert got == "ok" and call.calls == 3
    assert seen == [(1, "a", TINY.delay(0)), (2, "b", TINY.delay(1))]


async def test_any_callable_returning_an_awaitable_is_awaited() -> None:
    call = Flaky(TransientError("a"))
    assert await retry_async(lambda: call(), backoff=TINY, what="x") == "ok"
    assert call.calls == 2

    def ready() -> asyncio.Future[int]:
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        done.set_result(7)
        return done

    assert await retry_async(ready, backoff=TINY, what="x") == 7


async def test_other_errors_are_raised_at_once_unchanged() -> None:
    err = ConfigError("not retriable")
    call = Flaky(err)
    retries: list[int] = []
    with pytest.raises(ConfigError) as info:
        await retry_async(call, backoff=TINY, what="x", on_retry=lambda n, e, d: retries.append(n))
    assert info.value is err and call.calls == 1 and retries == []


async def test_a_custom_predicate_decides_what_is_retried() -> None:
    call = Flaky(OSError("foreign"), TransientError("ours, but not for this caller"))
    with pytest.raises(TransientError):
        await retry_async(call, backoff=TINY, what="x", retriable=lambda e: isinstance(e, OSError))
    assert call.calls == 2


async def test_cancellation_is_not_retried_by_an_every_exception_predicate() -> None:
    call = Flaky(asyncio.CancelledError())
    with pytest.raises(asyncio.CancelledError):
        await retry_async(
            call, backoff=TINY, what="x", retriable=lambda e: isinstance(e, Exception)
        )
    assert call.calls == 1


async def test_attempts_bound_the_calls_and_the_last_error_is_raised_unchanged() -> None:
    errors = [TransientError(f"try {i}") for i in range(5)]
    call = Flaky(*errors)
    with pytest.raises(TransientError) as info:
        await retry_async(call, backoff=TINY, what="x", attempts=3)
    assert call.calls == 3 and info.value is errors[2]


async def test_one_attempt_means_no_retry() -> None:
    call = Flaky(TransientError("once"))
    with pytest.raises(TransientError):
        await retry_async(call, backoff=TINY, what="x", attempts=1)
    assert call.calls == 1


async def test_deadline_bounds_the_time_since_the_first_call() -> None:
    call = Flaky(*(TransientError(f"try {i}") for i in range(10_000)))
    start = time.monotonic()
    with pytest.raises(TransientError) as info:
        await retry_async(call, backoff=Backoff(0.01), what="x", deadline_s=0.05)
    elapsed = time.monotonic() - start
    assert 2 <= call.calls <= 7
    assert 0.05 <= elapsed < 1.0
    assert str(info.value) == f"try {call.calls - 1}"  # the last error, not the first


async def test_the_first_of_attempts_and_deadline_stops() -> None:
    call = Flaky(*(TransientError("again") for _ in range(100)))
    with pytest.raises(TransientError):
        await retry_async(call, backoff=Backoff(0.001), what="x", attempts=2, deadline_s=10.0)
    assert call.calls == 2


async def test_the_default_on_retry_logs_a_warning_naming_what(
    caplog: pytest.LogCaptureFixture,
) -> None:
    call = Flaky(TransientError("blip"))
    with caplog.at_level(logging.WARNING, logger="core.retry"):
        assert await retry_async(call, backoff=TINY, what="PD ScanRegions") == "ok"
    [record] = [r for r in caplog.records if r.name == "core.retry"]
    assert record.levelno == logging.WARNING
    assert "PD ScanRegions" in record.getMessage() and "blip" in record.getMessage()


async def test_failing_s_counts_from_the_first_failure_not_the_first_call() -> None:
    """A long call that fails late (the undo of a big partition) still gets its retries."""
    calls = 0

    async def call() -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            await asyncio.sleep(0.2)  # longer than failing_s: deadline_s would stop here
        raise TransientError(f"try {calls}")

    start = time.monotonic()
    with pytest.raises(TransientError) as info:
        await retry_async(call, backoff=Backoff(0.01), what="x", failing_s=0.1)
    assert calls >= 3
    assert 0.3 <= time.monotonic() - start < 1.5
    assert str(info.value) == f"try {calls}"


async def test_ride_out_retries_a_passing_outage_and_gives_up_after_it() -> None:
    from core.errors import TransientError
    from core.retry import ride_out

    calls = 0

    async def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise TransientError("broker restarting")
        return "up"

    assert await ride_out(flaky, what="kafka", outage_s=10) == "up" and calls == 3

    async def down() -> str:
        raise TransientError("broker gone")

    with pytest.raises(TransientError, match="gone"):
        await ride_out(down, what="kafka", outage_s=0.3)
