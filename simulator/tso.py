"""PD's timestamp oracle: ``ts = physical_ms << 18 | logical`` (tikv/pd ``tsoutil.ComposeTS``).

Pure. The allocator never goes backwards: if the wall clock stalls or steps back, the physical
part is held and the logical part counts on; if 2^18 logicals are used up in one millisecond the
physical part is pushed one millisecond ahead (PD would wait for the next tick instead).
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["LOGICAL_BITS", "MAX_LOGICAL", "Tso", "compose", "logical", "physical"]

LOGICAL_BITS = 18
MAX_LOGICAL = (1 << LOGICAL_BITS) - 1


def compose(physical_ms: int, logical_part: int) -> int:
    """The 64-bit timestamp for a physical millisecond and a logical counter."""
    if not 0 <= logical_part <= MAX_LOGICAL:
        raise ValueError(f"logical part {logical_part} outside 0..{MAX_LOGICAL}")
    return (physical_ms << LOGICAL_BITS) | logical_part


def physical(ts: int) -> int:
    """Milliseconds since the Unix epoch encoded in ``ts``."""
    return ts >> LOGICAL_BITS


def logical(ts: int) -> int:
    """The logical counter of ``ts``."""
    return ts & MAX_LOGICAL


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


class Tso:
    """Monotonic TSO allocator; every value handed out is strictly greater than the last.

    Not thread-safe: call it from one thread (the simulator's asyncio loop thread).
    ``clock`` returns wall milliseconds and is injectable so tests can stall it.
    """

    __slots__ = ("_clock", "_last")

    def __init__(self, clock: Callable[[], int] = _wall_ms) -> None:
        self._clock = clock
        self._last = 0

    compose = staticmethod(compose)
    physical = staticmethod(physical)
    logical = staticmethod(logical)

    @property
    def last(self) -> int:
        """The newest timestamp handed out (0 before the first)."""
        return self._last

    def next(self) -> int:
        """One fresh timestamp."""
        return self.batch(1)

    def batch(self, count: int) -> int:
        """Reserve ``count`` consecutive timestamps and return the LAST one, as PD's Tso RPC does.

        The caller owns ``last - count + 1 .. last``; all share one physical millisecond.
        """
        if count <= 0:
            raise ValueError("tso count should be positive")
        if count > MAX_LOGICAL + 1:
            raise ValueError(f"tso count {count} exceeds one millisecond's {MAX_LOGICAL + 1}")
        last_phys, last_log = physical(self._last), logical(self._last)
        now = self._clock()
        if now > last_phys:
            phys, first = now, 0
        else:
            phys, first = last_phys, last_log + 1
        if first + count - 1 > MAX_LOGICAL:
            phys, first = phys + 1, 0
        self._last = compose(phys, first + count - 1)
        return self._last

    def observe(self, ts: int) -> None:
        """Never hand out a value ≤ ``ts`` from now on (e.g. a commit_ts chosen elsewhere)."""
        self._last = max(self._last, ts)
