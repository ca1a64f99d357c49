"""Fault injection for the fake cluster, scriptable from tests and from the demo.

:class:`FaultState` is the plain data the TiKV servers consult on every step; :class:`Faults`
is the API a test or the demo calls (``cluster.faults``). Every fault reproduces something a
real cluster does, with the error events TiKV sends (facts/eventfeed.md §3.2, §3.4):

==========================================  ==================================================
call                                        what the client sees
==========================================  ==================================================
``split(region_id, raw_key)``               ``epoch_not_match`` (current_regions = both halves)
``split_during_scan(region_id, raw_key)``   the same, after ``after_messages`` scan messages
``move_leader(region_id, store_id)``        ``not_leader`` naming the new leader
``await stop_store(id)`` / ``restart``      the store's streams break (gRPC UNAVAILABLE)
``await kill_store(id, elect_after=s)``     the same, and new connections are refused; only
                                            ``s`` seconds later (raft election timeout) do its
                                            regions get leaders on other stores, and PD says so
``pd_heartbeat_lag(seconds)``               PD answers region metadata that old (TiKV already
                                            refuses it with ``epoch_not_match``)
``move_pd_leader(index)``                   another PD member leads; the old one answers
                                            everything but GetMembers with UNAVAILABLE
                                            "not leader"
``await stop_pd(index, elect_after=s)``     a PD member dies; if it led, another is elected
                                            ``s`` seconds later (PD's leader lease)
``fail_region(region_id, kind)``            one error event of ``kind`` on live subscriptions
``fail_next_register(kind, region_id)``     the next registration(s) answer ``kind``
``server_is_busy`` / ``congested``          shortcuts of ``fail_next_register``
``stall_resolved_ts(region_id)``            resolved ts keeps being sent, never advances
``delay_resolved_ts(seconds)``              ticks come ``seconds`` later
``duplicate_events(True)``                  every live/scan message is sent twice
``hold_lock(mutations)``                    an open lock across ticks (resolved ts held)
``orphan_lock(mutations, ttl_ms=…)``        a txn whose TiDB crashed: prewritten, never
                                            committed (or only its primary committed); its
                                            locks hold resolved ts until someone resolves them
``orphan_async_commit(mutations, …)``       the same for an async-commit txn: every key
                                            prewritten (it IS committed) or one secondary
                                            never prewritten (it must be rolled back)
``slow_stream(store_id, seconds)``          a pause before every message of that store
``slow_scan(seconds)``                      a pause between scan messages (live rows interleave)
==========================================  ==================================================
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING

from simulator.cdc_delegate import ErrorKind
from simulator.mvcc import DEFAULT_LOCK_TTL_MS, Mutation

if TYPE_CHECKING:
    from simulator.cluster import FakeCluster

__all__ = ["ErrorKind", "FaultState", "Faults", "Orphan", "ScanSplit"]

ANY_REGION = 0


@dataclass(slots=True)
class ScanSplit:
    """Split ``region_id`` at ``raw_key`` once ``after_messages`` of its scan went out."""

    region_id: int
    raw_key: bytes
    after_messages: int


@dataclass(frozen=True, slots=True)
class Orphan:
    """An orphaned transaction and the outcome a correct resolver gives it.

    ``commit_ts``: its commit ts (0: it must be rolled back) — the primary's commit_ts, or for
    a complete async-commit transaction the largest ``min_commit_ts`` of its locks. ``keys``
    are the keys it locked; ``missing`` the secondary its primary names but that never got
    prewritten.
    """

    start_ts: int
    primary: bytes
    keys: tuple[bytes, ...]
    commit_ts: int = 0
    async_commit: bool = False
    missing: bytes = b""


@dataclass(slots=True)
class FaultState:
    """What the servers consult; all fields are safe defaults (no fault)."""

    register_errors: dict[int, deque[ErrorKind]] = field(default_factory=dict)
    frozen_regions: set[int] = field(default_factory=set)
    freeze_all: bool = False
    resolved_ts_delay: float = 0.0
    duplicate: bool = False
    stream_delay: dict[int, float] = field(default_factory=dict)
    scan_delay: float = 0.0
    scan_splits: list[ScanSplit] = field(default_factory=list)

    def take_register_error(self, region_id: int) -> ErrorKind | None:
        """The next injected error for a registration of ``region_id``, consumed."""
        for key in (region_id, ANY_REGION):
            queue = self.register_errors.get(key)
            if queue:
                kind = queue.popleft()
                if not queue:
                    del self.register_errors[key]
                return kind
        return None

    def frozen(self) -> _Frozen:
        """The container of regions whose resolved ts must not advance."""
        return _Frozen(self.freeze_all, self.frozen_regions)


@dataclass(frozen=True, slots=True)
class _Frozen:
    everything: bool
    regions: set[int]

    def __contains__(self, region_id: object) -> bool:
        return self.everything or region_id in self.regions


class Faults:
    """The fault-injection API of one :class:`~simulator.cluster.FakeCluster`."""

    def __init__(self, cluster: FakeCluster) -> None:
        self._cluster = cluster
        self.state = FaultState()
        self._timers: set[asyncio.TimerHandle] = set()

    def _after(self, seconds: float, action: Callable[[], object]) -> None:
        if seconds <= 0:
            action()
            return

        def fire() -> None:
            self._timers.discard(handle)
            action()

        handle = asyncio.get_running_loop().call_later(seconds, fire)
        self._timers.add(handle)

    # -- topology ------------------------------------------------------------------------------

    def split(self, region_id: int, raw_key: bytes) -> tuple[int, int]:
        """Split a region at a RAW key now; returns ``(left id, right id)``."""
        left, right = self._cluster.regions.split(region_id, raw_key)
        return left.id, right.id

    def split_during_scan(self, region_id: int, raw_key: bytes, after_messages: int = 1) -> None:
        """Split ``region_id`` while its next incremental scan is being sent."""
        self.state.scan_splits.append(ScanSplit(region_id, raw_key, after_messages))

    def move_leader(self, region_id: int, store_id: int | None = None) -> int:
        """Move the leader to ``store_id`` (default: the next peer); returns the new store."""
        region = self._cluster.regions.by_id(region_id)
        if region is None:
            raise KeyError(f"no region {region_id}")
        if store_id is None:
            stores = [p.store_id for p in region.peers]
            store_id = stores[(stores.index(region.leader_store) + 1) % len(stores)]
        return self._cluster.regions.transfer_leader(region_id, store_id).leader_store

    async def stop_store(self, store_id: int, *, move_leaders: bool = True) -> None:
        """Stop a store's gRPC server (streams break); by default its leaders move first."""
        if move_leaders:
            self._cluster.regions.move_leaders_off(store_id)
        await self._cluster.tikv(store_id).stop()

    async def restart_store(self, store_id: int) -> None:
        """Start a stopped store again on the same port."""
        await self._cluster.tikv(store_id).start()

    async def kill_store(self, store_id: int, *, elect_after: float) -> None:
        """A TiKV process that dies and stays down: its port refuses connections.

        On a real cluster the other peers of each region it led elect a new leader once the
        raft election timeout passed (10 s by default), and PD learns the new leaders from
        their heartbeats; until then PD still names the dead store. The fake moves those
        leaders ``elect_after`` seconds after the stop.
        """
        await self._cluster.tikv(store_id).stop()
        self._after(elect_after, lambda: self._cluster.regions.move_leaders_off(store_id))

    # -- PD ------------------------------------------------------------------------------------

    def pd_heartbeat_lag(self, seconds: float) -> None:
        """PD answers regions as they were ``seconds`` ago (0 to undo); TiKV stays current.

        A real PD hears of a split or leader change from the region's heartbeat, so a client
        that asks PD right after TiKV refused its epoch may get the old region back.
        """
        self._cluster.pd_shared.set_lag(seconds, self._cluster.regions)

    def move_pd_leader(self, index: int | None = None) -> int:
        """Make PD member ``index`` (default: the next running one) the leader; returns it."""
        shared = self._cluster.pd_shared
        if index is None:
            new = shared.elect(exclude=shared.leader)
            if new is None:
                raise RuntimeError("no other PD member runs")
            return new
        if not shared.running[index]:
            raise RuntimeError(f"PD member {index} is not running")
        shared.leader = index
        return index

    async def stop_pd(self, index: int, *, elect_after: float = 0.0) -> None:
        """Stop PD member ``index``; if it led, another leads ``elect_after`` seconds later.

        Until then GetMembers names no leader, as while a dead PD leader's lease runs out.
        """
        shared = self._cluster.pd_shared
        await self._cluster.pd_server(index).stop()
        if shared.leader == index:
            shared.leader = None
            self._after(elect_after, lambda: shared.leader is None and shared.elect(index))

    async def restart_pd(self, index: int) -> None:
        """Start a stopped PD member again on the same port (a follower unless none leads)."""
        await self._cluster.pd_server(index).start()

    # -- errors --------------------------------------------------------------------------------

    def fail_region(self, region_id: int, kind: ErrorKind, *, reason: str = "") -> int:
        """End every live subscription of ``region_id`` with ``kind``; returns how many."""
        return sum(
            server.fail_region(region_id, kind, reason=reason)
            for server in self._cluster.tikv_servers
        )

    def fail_next_register(
        self, kind: ErrorKind, region_id: int = ANY_REGION, times: int = 1
    ) -> None:
        """Answer the next ``times`` registrations of ``region_id`` (0 = any) with ``kind``."""
        queue = self.state.register_errors.setdefault(region_id, deque())
        queue.extend([kind] * times)

    def server_is_busy(self, region_id: int = ANY_REGION, times: int = 1) -> None:
        """Next registrations answer ``server_is_busy``."""
        self.fail_next_register(ErrorKind.SERVER_IS_BUSY, region_id, times)

    def congested(self, region_id: int = ANY_REGION, times: int = 1) -> None:
        """Next registrations answer ``congested``."""
        self.fail_next_register(ErrorKind.CONGESTED, region_id, times)

    # -- resolved ts ---------------------------------------------------------------------------

    def stall_resolved_ts(self, region_id: int | None = None) -> None:
        """Stop advancing resolved ts of one region (or all); it is still sent every tick."""
        if region_id is None:
            self.state.freeze_all = True
        else:
            self.state.frozen_regions.add(region_id)

    def resume_resolved_ts(self) -> None:
        """Undo every :meth:`stall_resolved_ts`."""
        self.state.freeze_all = False
        self.state.frozen_regions.clear()

    def delay_resolved_ts(self, seconds: float) -> None:
        """Add ``seconds`` to every resolved-ts tick (0 to undo)."""
        self.state.resolved_ts_delay = seconds

    def hold_lock(
        self,
        mutations: Iterable[Mutation],
        txn_source: int = 0,
        *,
        primary: bytes | None = None,
        ttl_ms: int = DEFAULT_LOCK_TTL_MS,
    ) -> int:
        """Prewrite without committing (a slow or stuck transaction); returns its start_ts.

        ``primary`` (default: the first key) must be one of the keys; the keys may lie in any
        regions. ``ttl_ms`` is the locks' TTL: a resolver may roll the transaction back once
        ``physical(start_ts) + ttl_ms`` has passed.
        """
        muts = list(mutations)
        keys = [m.key for m in muts]
        primary = keys[0] if primary is None else primary
        if primary not in keys:
            raise ValueError("the primary key must be one of the transaction's keys")
        mvcc = self._cluster.mvcc
        start_ts = mvcc.tso.next()
        mvcc.prewrite(muts, start_ts, primary, txn_source, ttl_ms=ttl_ms)
        return start_ts

    def orphan_lock(
        self,
        mutations: Iterable[Mutation],
        *,
        primary: bytes | None = None,
        ttl_ms: int = 1,
        commit_primary: bool = False,
        txn_source: int = 0,
    ) -> Orphan:
        """A transaction whose TiDB died during 2PC; its locks stay until a resolver comes.

        Prewritten (TTL ``ttl_ms``, by default already expired a millisecond later), never
        committed; with ``commit_primary`` the primary was committed and only the secondaries
        are left locked (the TiDB died between the two commit phases: the transaction IS
        committed and a resolver must commit the secondaries at the primary's commit_ts).
        """
        muts = list(mutations)
        start_ts = self.hold_lock(muts, txn_source, primary=primary, ttl_ms=ttl_ms)
        keys = tuple(m.key for m in muts)
        first = keys[0] if primary is None else primary
        commit_ts = 0
        if commit_primary:
            mvcc = self._cluster.mvcc
            commit_ts = mvcc.tso.next()
            mvcc.commit(start_ts, commit_ts, [first])
        return Orphan(start_ts, first, keys, commit_ts)

    def orphan_async_commit(
        self,
        mutations: Iterable[Mutation],
        *,
        primary: bytes | None = None,
        missing_secondary: bool = False,
        ttl_ms: int = 1,
        txn_source: int = 0,
    ) -> Orphan:
        """An async-commit transaction whose TiDB died before committing any key.

        Every key is prewritten with async commit, so it IS committed (at the largest
        ``min_commit_ts``), unless ``missing_secondary``: the last secondary's prewrite never
        arrived, so a resolver must roll it back. Needs a primary and at least one secondary.
        """
        muts = list(mutations)
        keys = [m.key for m in muts]
        primary = keys[0] if primary is None else primary
        if primary not in keys or len(keys) < 2:
            raise ValueError("an async-commit orphan needs its primary and a secondary")
        secondaries = [k for k in keys if k != primary]
        missing = secondaries[-1] if missing_secondary else b""
        written = [m for m in muts if m.key != missing]
        mvcc = self._cluster.mvcc
        start_ts = mvcc.tso.next()
        mvcc.prewrite(
            written, start_ts, primary, txn_source, ttl_ms=ttl_ms, secondaries=secondaries
        )
        locked = tuple(m.key for m in written)
        commit_ts = 0
        if not missing_secondary:
            commit_ts = max(lk.min_commit_ts for k in locked if (lk := mvcc.lock(k)) is not None)
        return Orphan(start_ts, primary, locked, commit_ts, True, missing)

    def release_lock(self, start_ts: int, keys: Iterable[bytes], *, commit: bool = True) -> int:
        """Commit (returns commit_ts) or roll back (returns 0) a lock from :meth:`hold_lock`."""
        mvcc = self._cluster.mvcc
        ks = list(keys)
        if not commit:
            mvcc.rollback(start_ts, ks)
            return 0
        commit_ts = mvcc.tso.next()
        mvcc.commit(start_ts, commit_ts, ks)
        return commit_ts

    # -- delivery ------------------------------------------------------------------------------

    def duplicate_events(self, on: bool = True) -> None:
        """Send every entries message twice (re-delivery must be harmless downstream)."""
        self.state.duplicate = on

    def slow_stream(self, store_id: int, seconds: float) -> None:
        """Pause ``seconds`` before each message a store sends (0 to undo)."""
        if seconds > 0:
            self.state.stream_delay[store_id] = seconds
        else:
            self.state.stream_delay.pop(store_id, None)

    def slow_scan(self, seconds: float) -> None:
        """Pause between incremental-scan messages, so live rows overtake INITIALIZED."""
        self.state.scan_delay = seconds

    def clear(self) -> None:
        """Remove every injected fault (topology changes stay; pending elections are dropped)."""
        for handle in self._timers:
            handle.cancel()
        self._timers.clear()
        self._cluster.pd_shared.set_lag(0, self._cluster.regions)
        fresh = FaultState()
        for f in fields(FaultState):
            setattr(self.state, f.name, getattr(fresh, f.name))
