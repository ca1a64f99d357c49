"""Several actors cancelled by one rebalance are all restarted (issue 14: the worker exited)."""

from __future__ import annotations

from mode import OneForOneSupervisor

from app.stages.supervise import ActorSupervisor


def _restarts_allowed_at_once(cls: type[OneForOneSupervisor], n: int) -> int:
    # the values faust.agents.Agent passes to its supervisor strategy
    sup = cls(max_restarts=100.0, over=1.0)
    return sum(sup._bucket.pour() for _ in range(n))


def test_eight_actors_cancelled_together_may_all_restart() -> None:
    assert _restarts_allowed_at_once(ActorSupervisor, 8) == 8


def test_fausts_default_allowed_one_which_killed_the_worker() -> None:
    # why ActorSupervisor exists: the second restart raised MaxRestartsExceeded → SystemExit(1)
    assert _restarts_allowed_at_once(OneForOneSupervisor, 8) == 1
