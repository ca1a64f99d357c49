"""The supervisor of the compact agent's actors: restarts as Faust's, bursts allowed.

Faust restarts an actor whose task was cancelled by a rebalance (its partition was revoked
while it handled a record, such as an End whose undo runs for minutes) through
:class:`mode.OneForOneSupervisor`, whose rate limit is a token bucket holding ``over`` tokens:
1.0 with the values Faust passes. A rebalance that revokes two busy partitions of one worker
within the same ~10 ms (issue 14: 2 workers × 8 partitions, a worker killed mid-apply and
restarted) cancelled two actors at once, the second restart raised ``MaxRestartsExceeded``, and
the supervisor turned that into ``SystemExit(1)``: the worker died with its partitions.
"""

from __future__ import annotations

from typing import Any

from mode import OneForOneSupervisor

__all__ = ["BURST", "ActorSupervisor"]

#: restarts allowed at once (one per partition a worker can hold); the rate stays Faust's
BURST = 4096.0


class ActorSupervisor(OneForOneSupervisor):  # type: ignore[misc]
    """:class:`mode.OneForOneSupervisor` whose bucket holds :data:`BURST` restarts."""

    def __init__(self, *services: Any, over: float = 1.0, **kwargs: Any) -> None:
        super().__init__(*services, over=max(float(over), BURST), **kwargs)
