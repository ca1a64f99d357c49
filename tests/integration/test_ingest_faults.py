"""Ingest under injected faults: the topic still holds exactly the committed changes in (T, E].

E is set ~1.5 s ahead of the job's start, so the workload keeps committing inside the window
while the job runs: live PREWRITE/COMMIT rows, not only scan rows, must come through. Each
fault is injected while the feed is running (or armed before it starts, for mid-scan splits).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from core.errors import TiundoError
from ingest.feed import StoreUnreachableError
from ingest.region_errors import RegionFatalError
from ingest.worker import IngestResult, IngestWorker
from simulator.faults import ErrorKind, Orphan
from simulator.mvcc import Mutation, Op
from simulator.regions import record_key
from simulator.tso import compose, physical

from .ingest_harness import (
    ChangeTuple,
    Env,
    cluster_env,
    delete_topics,
    dump_topic,
    expected_changes,
)
from .test_ingest_e2e import check_partition_order

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

Inject = Callable[[Env, IngestWorker], Awaitable[None]]


def table_regions(env: Env) -> list[int]:
    """Ids of the regions holding record keys of the workload tables."""
    out: set[int] = set()
    for pid in env.physical_ids():
        for r in env.cluster.regions.all():
            if r.contains_raw(record_key(pid, 1)) or r.contains_raw(record_key(pid, 30)):
                out.add(r.id)
    return sorted(out)


async def keep_writing(env: Env, until_ts: int) -> None:
    while env.cluster.tso.next() <= until_ts + (300 << 18):
        await env.workload.run(2)
        await asyncio.sleep(0.02)


async def run_case(
    mysql_db: Any,
    kafka: str,
    inject: Inject,
    *,
    before: Callable[[Env], None] | None = None,
    seed: int = 5,
    ahead_ms: int = 1500,
    cluster_kw: dict[str, Any] | None = None,
    **config: Any,
) -> IngestResult:
    async with cluster_env(mysql_db, seed=seed, **(cluster_kw or {})) as env:
        w = env.workload
        await w.run(10)
        sp = await w.take_syncpoint()
        await w.run(20)
        end_ts = compose(physical(env.cluster.tso.next()) + ahead_ms, 0)
        if before is not None:
            before(env)
        cfg = env.config(kafka, f"fault-{uuid.uuid4().hex[:8]}", end_ts=end_ts, **config)
        worker = IngestWorker(cfg)
        started_ts = env.cluster.tso.next()
        job = asyncio.create_task(worker.run())
        writer = asyncio.create_task(keep_writing(env, end_ts))
        try:
            await asyncio.sleep(0.3)
            await inject(env, worker)
            result = await asyncio.wait_for(job, 60)
            await writer
            dump = await dump_topic(kafka, cfg.topic, cfg.partitions)
        finally:
            job.cancel()
            writer.cancel()
            await asyncio.gather(job, writer, return_exceptions=True)
            await delete_topics(kafka, [cfg.topic])
        assert result.state == "done"
        want = expected_changes(env.cluster.mvcc, env.physical_ids(), sp.ts, end_ts)
        got = dump.changes(want)
        assert set(got) == want
        # the window reached past the job's start: live (not only scanned) commits came through
        assert any(c[2] > started_ts for c in want)
        check_partition_order(dump, end_ts)
        return result


async def nothing(env: Env, worker: IngestWorker) -> None:
    return None


async def move_leaders(env: Env, worker: IngestWorker) -> None:
    for rid in table_regions(env):
        env.cluster.faults.move_leader(rid)
        await asyncio.sleep(0.01)


async def restart_store(env: Env, worker: IngestWorker) -> None:
    await env.cluster.faults.stop_store(1, move_leaders=False)
    await asyncio.sleep(0.4)
    await env.cluster.faults.restart_store(1)


async def split_live(env: Env, worker: IngestWorker) -> None:
    pid = env.physical_ids()[0]
    region = env.cluster.regions.locate_raw(record_key(pid, 5))
    env.cluster.faults.split(region.id, record_key(pid, 5))


async def split_while_pd_lags(env: Env, worker: IngestWorker) -> None:
    """PD hears of the split 3 s late; TiKV's epoch_not_match already names both halves."""
    env.cluster.faults.pd_heartbeat_lag(3.0)
    await split_live(env, worker)


async def kill_a_leading_store(env: Env, worker: IngestWorker) -> None:
    """A store dies for good; raft elects new leaders on the other stores 2 s later.

    2 s is ten times the job's reconnect backoff cap (0.2 s): the worker keeps failing to
    reach it, asking PD each time, until PD names the new leaders.
    """
    pid = env.physical_ids()[0]
    store = env.cluster.regions.locate_raw(record_key(pid, 5)).leader_store
    await env.cluster.faults.kill_store(store, elect_after=2.0)
    assert not env.cluster.tikv(store).running


def pd_leader_change(*, die: bool) -> Inject:
    """The PD leader moves (or dies: a new one is elected 0.5 s later), then every table
    region ends with region_not_found, so the worker must ask the new leader for regions."""

    async def inject(env: Env, worker: IngestWorker) -> None:
        if die:
            await env.cluster.faults.stop_pd(0, elect_after=0.5)
        else:
            env.cluster.faults.move_pd_leader(2)
        for rid in table_regions(env):
            env.cluster.faults.fail_region(rid, ErrorKind.REGION_NOT_FOUND)

    return inject


def fail_regions(kind: ErrorKind) -> Inject:
    async def inject(env: Env, worker: IngestWorker) -> None:
        for rid in table_regions(env):
            env.cluster.faults.fail_region(rid, kind)
        await asyncio.sleep(0.2)
        for rid in table_regions(env)[:3]:
            env.cluster.faults.fail_region(rid, kind)

    return inject


def fail_registers(kind: ErrorKind, times: int) -> Inject:
    async def inject(env: Env, worker: IngestWorker) -> None:
        env.cluster.faults.fail_next_register(kind, times=times)
        for rid in table_regions(env)[:2]:
            env.cluster.faults.fail_region(rid, ErrorKind.EPOCH_NOT_MATCH)

    return inject


async def duplicates(env: Env, worker: IngestWorker) -> None:
    env.cluster.faults.duplicate_events(True)
    for rid in table_regions(env)[:2]:
        env.cluster.faults.fail_region(rid, ErrorKind.REGION_NOT_FOUND)  # rescans, duplicated


def arm_scan_split(env: Env) -> None:
    """Give one region a scan of several messages (> 32 KiB), then split it during the scan.

    The extra keys are raw bytes the undo never decodes; ingest only carries them.
    """
    pid = env.physical_ids()[0]
    keys = [record_key(pid, 10_000 + i) for i in range(12)]
    env.cluster.mvcc.write_txn([Mutation(k, Op.PUT, bytes([i]) * 8000) for i, k in enumerate(keys)])
    region = env.cluster.regions.locate_raw(keys[0])
    env.cluster.faults.split_during_scan(region.id, keys[6])
    env.cluster.faults.slow_scan(0.02)


def saw(*kinds: str) -> Callable[[IngestResult], bool]:
    return lambda r: any(r.region_errors.get(k, 0) > 0 for k in kinds)


CASES: dict[str, tuple[Inject, Callable[[Env], None] | None, Callable[[IngestResult], bool]]] = {
    "no_fault": (nothing, None, lambda r: not r.region_errors and r.stream_reconnects == 0),
    "split_mid_scan": (nothing, arm_scan_split, saw("epoch_not_match", "region_not_found")),
    "split_live": (split_live, None, saw("epoch_not_match", "region_not_found")),
    "leader_move": (move_leaders, None, saw("not_leader")),
    "store_restart": (restart_store, None, lambda r: r.stream_reconnects > 0),
    "not_leader": (fail_regions(ErrorKind.NOT_LEADER), None, saw("not_leader")),
    "epoch_not_match": (fail_regions(ErrorKind.EPOCH_NOT_MATCH), None, saw("epoch_not_match")),
    "region_not_found": (fail_regions(ErrorKind.REGION_NOT_FOUND), None, saw("region_not_found")),
    "server_is_busy": (fail_registers(ErrorKind.SERVER_IS_BUSY, 4), None, saw("server_is_busy")),
    "congested": (fail_registers(ErrorKind.CONGESTED, 4), None, saw("congested")),
    "duplicate_delivery": (duplicates, None, saw("region_not_found")),
    # TiKV's current_regions are registered at once: one error, no round of stale PD answers
    "split_pd_lagging": (
        split_while_pd_lags,
        None,
        lambda r: r.region_errors == {"epoch_not_match": 1},
    ),
    "store_killed": (kill_a_leading_store, None, lambda r: r.stream_reconnects > 0),
    "pd_leader_moved": (pd_leader_change(die=False), None, saw("region_not_found")),
    "pd_leader_died": (pd_leader_change(die=True), None, saw("region_not_found")),
}
PD_MEMBERS = {"pd_leader_moved", "pd_leader_died"}


@pytest.mark.parametrize("case", sorted(CASES))
async def test_window_is_complete_under_fault(
    case: str, mysql_db: Any, kafka_bootstrap: str
) -> None:
    inject, before, fault_seen = CASES[case]
    # small responses, so that a scan takes several messages and can be split in between
    cluster_kw: dict[str, Any] = {"response_max_bytes": 40_000} if case == "split_mid_scan" else {}
    if case in PD_MEMBERS:
        cluster_kw["pd_members"] = 3  # the job is given only member 0, the first leader
    result = await run_case(mysql_db, kafka_bootstrap, inject, before=before, cluster_kw=cluster_kw)
    assert fault_seen(result), f"the fault did not reach the worker: {result}"


async def test_plain_eventfeed_streams(mysql_db: Any, kafka_bootstrap: str) -> None:
    """Without multiplexing: one stream per (store, table), resolved ts by region id."""
    await run_case(mysql_db, kafka_bootstrap, move_leaders, multiplexing=False)


@pytest.mark.parametrize(
    "kind", [ErrorKind.DUPLICATE_REQUEST, ErrorKind.COMPATIBILITY, ErrorKind.CLUSTER_ID_MISMATCH]
)
async def test_fatal_region_errors_fail_the_job(
    kind: ErrorKind, mysql_db: Any, kafka_bootstrap: str
) -> None:
    async with cluster_env(mysql_db, seed=2, rows=3) as env:
        sp = await env.workload.take_syncpoint()
        await env.workload.run(3)
        env.cluster.faults.fail_next_register(kind, times=1)
        cfg = env.config(kafka_bootstrap, f"fatal-{uuid.uuid4().hex[:8]}", to_ts=sp.ts)
        try:
            with pytest.raises(RegionFatalError, match=kind.value) as info:
                await asyncio.wait_for(IngestWorker(cfg).run(), 30)
        finally:
            await delete_topics(kafka_bootstrap, [cfg.topic])
        assert "store" in str(info.value) and "table" in str(info.value)
        # the GC safepoint was released on the way out
        assert not any(
            k.startswith(b"tiundo-fatal") for k in env.cluster.pd.servicer.service_safe_points
        )


async def test_frontier_never_passes_an_open_lock(mysql_db: Any, kafka_bootstrap: str) -> None:
    async with cluster_env(mysql_db, seed=9, rows=4) as env:
        sp = await env.workload.take_syncpoint()
        await env.workload.run(5)
        pid = env.physical_ids()[0]
        key = record_key(pid, 99_999)
        lock_ts = env.cluster.faults.hold_lock([Mutation(key, Op.PUT, b"\x80\x00")])
        cfg = env.config(kafka_bootstrap, f"lock-{uuid.uuid4().hex[:8]}", to_ts=sp.ts)
        worker = IngestWorker(cfg)
        job = asyncio.create_task(worker.run())
        try:
            await asyncio.sleep(1.0)  # many resolved-ts ticks
            p = worker.progress()
            assert not job.done()
            assert p.regions_initialized > 0
            assert p.frontier_ts <= lock_ts
            commit_ts = env.cluster.faults.release_lock(lock_ts, [key])
            result = await asyncio.wait_for(job, 30)
            dump = await dump_topic(kafka_bootstrap, cfg.topic, cfg.partitions)
        finally:
            job.cancel()
            await delete_topics(kafka_bootstrap, [cfg.topic])
        assert commit_ts > result.end_ts  # committed after E: not part of the window
        want = expected_changes(env.cluster.mvcc, env.physical_ids(), sp.ts, result.end_ts)
        assert set(dump.changes(want)) == want
        marks = [
            e.watermark.resolved_ts
            for envs in dump.partitions.values()
            for e in envs
            if e.WhichOneof("body") == "watermark"
        ]
        assert marks and all(m <= lock_ts or m == result.end_ts for m in marks)


async def test_store_gone_with_no_new_leaders_fails_naming_it(
    mysql_db: Any, kafka_bootstrap: str
) -> None:
    """A dead store whose regions get no new leader: one line naming it, not a silent wait."""
    async with cluster_env(mysql_db, seed=3, rows=4) as env:
        sp = await env.workload.take_syncpoint()
        await env.workload.run(5)
        pid = env.physical_ids()[0]
        store = env.cluster.regions.locate_raw(record_key(pid, 5)).leader_store
        await env.cluster.faults.kill_store(store, elect_after=3600)  # never within the test
        cfg = env.config(
            kafka_bootstrap, f"gone-{uuid.uuid4().hex[:8]}", to_ts=sp.ts, store_outage_s=1.0
        )
        try:
            with pytest.raises(StoreUnreachableError) as info:
                await asyncio.wait_for(IngestWorker(cfg).run(), 30)
        finally:
            env.cluster.faults.clear()
            await delete_topics(kafka_bootstrap, [cfg.topic])
        msg = str(info.value)
        assert "\n" not in msg
        assert f"TiKV store {store} at {env.cluster.tikv(store).address}" in msg
        assert "TIUNDO_STORE_OUTAGE_S=1" in msg and env.db in msg
        assert info.value.retriable  # exit 4; the GC safepoint is kept for --resume
        assert any(
            k.startswith(b"tiundo-gone") for k in env.cluster.pd.servicer.service_safe_points
        )


def test_fatal_errors_are_not_retriable() -> None:
    assert not RegionFatalError(1, "x").retriable
    assert issubclass(RegionFatalError, TiundoError)


Orphaning = Callable[[Env, list[Mutation], bytes], Orphan]


async def run_orphan_case(
    mysql_db: Any,
    kafka: str,
    *,
    commit_primary: bool = False,
    ttl_ms: int = 1,
    limit_s: float = 20,
    make: Orphaning | None = None,
) -> tuple[Env, Orphan, IngestResult, IngestWorker, set[ChangeTuple], set[ChangeTuple]]:
    """An orphan transaction of a crashed TiDB inside (T, E]: the ingest must still reach END.

    Its secondaries sit in the first table's region, its primary in the last table's (another
    region). ``make`` leaves the orphan (default: ``faults.orphan_lock`` with ``ttl_ms`` and
    ``commit_primary``). Returns what the topic held and what the MVCC store says (T, E] is
    afterwards.
    """
    async with cluster_env(mysql_db, seed=13, rows=4) as env:
        sp = await env.workload.take_syncpoint()
        await env.workload.run(5)
        pids = env.physical_ids()
        secondary, primary = record_key(pids[0], 99_999), record_key(pids[-1], 99_998)
        assert env.cluster.regions.locate_raw(secondary).id != (
            env.cluster.regions.locate_raw(primary).id
        )
        muts = [Mutation(primary, Op.PUT, b"\x80\x01"), Mutation(secondary, Op.PUT, b"\x80\x02")]
        if make is None:
            orphan = env.cluster.faults.orphan_lock(
                muts, primary=primary, ttl_ms=ttl_ms, commit_primary=commit_primary
            )
        else:
            muts.append(Mutation(record_key(pids[0], 99_997), Op.PUT, b"\x80\x03"))
            orphan = make(env, muts, primary)
        await env.workload.run(3)
        cfg = env.config(kafka, f"orphan-{uuid.uuid4().hex[:8]}", to_ts=sp.ts, lock_stall_s=0.5)
        worker = IngestWorker(cfg)
        try:
            result = await asyncio.wait_for(worker.run(), limit_s)
            dump = await dump_topic(kafka, cfg.topic, cfg.partitions)
        finally:
            await delete_topics(kafka, [cfg.topic])
        assert result.state == "done"
        assert orphan.start_ts < result.end_ts
        # nothing is left locked: the orphan was resolved, not skipped
        assert [k for k in orphan.keys if env.cluster.mvcc.lock(k) is not None] == []
        want = expected_changes(env.cluster.mvcc, pids, sp.ts, result.end_ts)
        return env, orphan, result, worker, set(dump.changes(want)), want


async def test_orphan_lock_with_expired_ttl_is_rolled_back(
    mysql_db: Any, kafka_bootstrap: str
) -> None:
    _, orphan, _, worker, got, want = await run_orphan_case(
        mysql_db, kafka_bootstrap, commit_primary=False, ttl_ms=1
    )
    assert got == want
    assert not any(c[1] == orphan.start_ts for c in got)  # the orphan's writes never happened
    assert worker.lock_stats["rollback"] >= 1 and worker.lock_stats["commit"] == 0


async def test_orphan_secondary_of_a_committed_primary_is_committed(
    mysql_db: Any, kafka_bootstrap: str
) -> None:
    _, orphan, result, worker, got, want = await run_orphan_case(
        mysql_db, kafka_bootstrap, commit_primary=True, ttl_ms=1
    )
    assert got == want
    # both keys, the secondary included, committed at the primary's commit_ts inside (T, E]
    mine = {(c[0], c[2]) for c in got if c[1] == orphan.start_ts}
    assert mine == {(k, orphan.commit_ts) for k in orphan.keys}
    assert orphan.commit_ts <= result.end_ts
    assert worker.lock_stats["commit"] >= 1 and worker.lock_stats["rollback"] == 0


async def test_live_lock_is_waited_out(mysql_db: Any, kafka_bootstrap: str) -> None:
    """A lock whose TTL has not expired is not rolled back; it is checked again until it is."""
    ttl_ms = 4000
    _, orphan, _, worker, got, want = await run_orphan_case(
        mysql_db, kafka_bootstrap, commit_primary=False, ttl_ms=ttl_ms
    )
    assert got == want
    assert not any(c[1] == orphan.start_ts for c in got)
    assert worker.lock_stats["wait"] >= 1  # seen alive at least once, then rolled back
    assert worker.lock_stats["rollback"] >= 1
    # the fake TiKV rolls a primary back only once physical(start_ts) + TTL has passed


def async_commit_orphan(missing_secondary: bool) -> Orphaning:
    def make(env: Env, muts: list[Mutation], primary: bytes) -> Orphan:
        return env.cluster.faults.orphan_async_commit(
            muts, primary=primary, missing_secondary=missing_secondary, ttl_ms=1
        )

    return make


async def test_orphan_async_commit_with_every_key_prewritten_is_committed(
    mysql_db: Any, kafka_bootstrap: str
) -> None:
    """TiDB's default since 5.0: CheckTxnStatus only reports the primary, however old, and the
    secondaries decide: all locked → committed at the largest min_commit_ts (client-go
    resolveAsyncCommitLock). Before this was handled the ingest waited on it for ever."""
    env, orphan, result, worker, got, want = await run_orphan_case(
        mysql_db, kafka_bootstrap, make=async_commit_orphan(False)
    )
    assert got == want
    assert orphan.commit_ts > orphan.start_ts and len(orphan.keys) == 3
    mine = {(c[0], c[2]) for c in got if c[1] == orphan.start_ts}
    assert mine == {(k, orphan.commit_ts) for k in orphan.keys}
    assert orphan.commit_ts <= result.end_ts
    assert all(env.cluster.mvcc.versions(k)[-1].commit_ts == orphan.commit_ts for k in orphan.keys)
    assert worker.lock_stats["commit"] >= 1 and worker.lock_stats["rollback"] == 0
    checks = sum(s.locks.calls["KvCheckSecondaryLocks"] for s in env.cluster.tikv_servers)
    assert checks >= 1


async def test_orphan_async_commit_with_a_missing_secondary_is_rolled_back(
    mysql_db: Any, kafka_bootstrap: str
) -> None:
    """One secondary never prewritten: CheckSecondaryLocks writes its rollback record, so the
    transaction can never commit, and every lock it left is rolled back."""
    env, orphan, _, worker, got, want = await run_orphan_case(
        mysql_db, kafka_bootstrap, make=async_commit_orphan(True)
    )
    assert got == want
    assert orphan.commit_ts == 0 and orphan.missing and len(orphan.keys) == 2
    assert not any(c[1] == orphan.start_ts for c in got)  # none of its writes happened
    for key in (*orphan.keys, orphan.missing):
        assert not any(v.start_ts == orphan.start_ts for v in env.cluster.mvcc.versions(key))
    assert worker.lock_stats["rollback"] >= 1 and worker.lock_stats["commit"] == 0
