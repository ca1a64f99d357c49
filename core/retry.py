"""The one retry policy: which errors are retried, how long to wait, and when to give up.

Every stage that retries takes its waits from a :class:`Backoff` and, when it retries a call
in place, runs it through :func:`retry_async`: the ingest worker's region re-registrations
(``delay(attempt)``, attempts counted per region) and store stream reconnects
(``next_delay()``), the compaction agent (:mod:`app.stages.compact`, in place for ever) and
the downstream sink (:mod:`app.sink.mysql`, ``attempts``, its own ``is_transient``).
Polling loops that wait for a condition at a fixed interval are not retries and do not.
What is retried is decided by the error itself (:attr:`core.errors.TiundoError.retriable`,
see :func:`is_retriable`) unless the caller classifies foreign exceptions of its own
(the sink's MySQL error codes). Every retry counts in ``tiundo_transient_retries_total``
(:mod:`core.metrics`), by error class. Giving up is bounded by ``attempts``, ``deadline_s`` (since
the first call) and/or ``failing_s`` (since the first failure: a long call that fails late still
gets its retries); the last error is raised as it was, so its message still names what failed.

:class:`Backoff` is pure (the delays are a function of the attempt number and a seeded
``random.Random``); :func:`retry_async` runs them with tenacity's ``AsyncRetrying``.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_never
from tenacity.stop import stop_after_attempt, stop_after_delay, stop_base

from core.errors import TiundoError
from core.metrics import RETRIES

__all__ = ["Backoff", "is_retriable", "retry_async", "ride_out"]

T = TypeVar("T")
log = logging.getLogger(__name__)


def is_retriable(exc: BaseException) -> bool:
    """Whether ``exc`` says it may pass on its own (``TiundoError.retriable``)."""
    return isinstance(exc, TiundoError) and exc.retriable


class Backoff:
    """Exponential backoff with jitter; deterministic when given a seeded ``random.Random``.

    The n-th delay (from 0) is ``min(cap, base * factor**n)`` scaled by a uniform factor in
    ``[1 - jitter, 1 + jitter]`` and clipped to ``cap``, as gRPC's connection backoff.
    :meth:`next_delay` counts attempts itself (:meth:`reset` after a success);
    :meth:`delay` is the same curve for a caller that counts its own attempts.
    """

    __slots__ = ("_rng", "attempts", "base", "cap", "factor", "jitter")

    def __init__(
        self,
        base: float,
        factor: float = 2.0,
        jitter: float = 0.0,
        cap: float | None = None,
        *,
        rng: random.Random | None = None,
    ) -> None:
        cap = base if cap is None else cap
        if base < 0 or cap < base or factor < 1 or not 0 <= jitter <= 1:
            raise ValueError(f"bad backoff: base={base} factor={factor} jitter={jitter} cap={cap}")
        self.base = base
        self.factor = factor
        self.jitter = jitter
        self.cap = cap
        self._rng = rng if rng is not None else random.Random()
        self.attempts = 0

    @classmethod
    def store_reconnect(cls, rng: random.Random | None = None) -> Backoff:
        """TiCDC's gRPC dial backoff: 1 s, ×1.1, jitter 0.1, at most 3 s."""
        return cls(1.0, 1.1, 0.1, 3.0, rng=rng)

    @classmethod
    def region_retry(cls, rng: random.Random | None = None) -> Backoff:
        """Re-registering a region / re-scanning PD: 100 ms (TiCDC's PD retry), ×2, up to 2 s."""
        return cls(0.1, 2.0, 0.1, 2.0, rng=rng)

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (from 0); does not count."""
        try:
            grown = self.base * self.factor**attempt
        except OverflowError:  # a long outage: factor**attempt left the floats, past the cap
            grown = self.cap if self.base > 0 else 0.0
        raw = min(self.cap, grown)
        spread = 1.0 + self.jitter * self._rng.uniform(-1.0, 1.0)
        return min(self.cap, raw * spread)

    def next_delay(self) -> float:
        """Seconds to wait before the next attempt, counting it."""
        delay = self.delay(self.attempts)
        self.attempts += 1
        return delay

    def reset(self) -> None:
        """Start again from ``base`` (after a success)."""
        self.attempts = 0


class _StopAfterFailingFor(stop_base):
    """Stop once ``seconds`` passed between the first failed attempt's end and the latest's."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.first: float | None = None

    def __call__(self, retry_state: RetryCallState) -> bool:
        now = retry_state.outcome_timestamp or 0.0
        if self.first is None:
            self.first = now
        return now - self.first >= self.seconds


async def retry_async(
    call: Callable[[], Awaitable[T]],
    *,
    backoff: Backoff,
    what: str,
    retriable: Callable[[BaseException], bool] = is_retriable,
    attempts: int | None = None,
    deadline_s: float | None = None,
    failing_s: float | None = None,
    on_retry: Callable[[int, BaseException, float], None] | None = None,
) -> T:
    """Await ``call()`` until it succeeds, retrying the errors ``retriable`` accepts.

    ``attempts`` bounds the number of calls, ``deadline_s`` the time since the first one and
    ``failing_s`` the time since the first failure (all ``None``: retry for ever). The
    error that ends the retries is raised unchanged. ``on_retry(attempt, exc, delay)`` is
    called before each wait (attempt counts from 1); by default a warning naming ``what``.
    """
    stop: stop_base = stop_never
    if attempts is not None:
        stop = stop_after_attempt(attempts)
    if deadline_s is not None:
        stop = stop | stop_after_delay(deadline_s)
    if failing_s is not None:
        stop = stop | _StopAfterFailingFor(failing_s)

    def wait(state: RetryCallState) -> float:
        return backoff.delay(state.attempt_number - 1)

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome is not None else None
        delay = state.upcoming_sleep
        RETRIES.labels(error=type(exc).__name__).inc()
        if on_retry is not None and exc is not None:
            on_retry(state.attempt_number, exc, delay)
        else:
            log.warning("%s: %r; retry %d in %.2f s", what, exc, state.attempt_number, delay)

    async def attempt() -> T:
        # tenacity awaits only what it sees is a coroutine function; a lambda returning an
        # awaitable would be "called" without being run, so every call goes through here.
        return await call()

    retrying = AsyncRetrying(
        retry=retry_if_exception(retriable),
        stop=stop,
        wait=wait,
        before_sleep=before_sleep,
        reraise=True,
    )
    return await retrying(attempt)


async def ride_out(call: Callable[[], Awaitable[T]], *, what: str, outage_s: float) -> T:
    """``call()`` retried through a service outage (a Kafka broker restart) up to ``outage_s``.

    Counted from the first failure, on the errors that say they may pass. The one shape for
    every step of a job that talks to Kafka: the ingest's sink, the topic it writes,
    ``tiundo run``'s watcher.
    """
    return await retry_async(
        call, backoff=Backoff(0.5, 2.0, 0.1, 5.0), what=what, failing_s=outage_s
    )
