"""End to end with an orphan async-commit transaction in the window (issue 12 item 6).

A TiDB that crashes mid-commit usually leaves an async-commit transaction (TiDB's default since
5.0): TiKV's CheckTxnStatus only reports its primary, however old, and the secondaries decide.
The job must still reach END and end SUCCEEDED at T, with the outcome TiKV's protocol gives the
transaction: every key prewritten → committed (the downstream shows its rows, so the undo must
revert them); one secondary never prewritten → rolled back (its rows never existed). Same rig as
``test_e2e_undo`` (fake cluster → ingest → ``<job>.kv`` → two Faust workers → MariaDB).
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest

from app.cli.jobstate import delete_job_topics
from ingest.worker import run_ingest
from simulator.faults import Orphan
from simulator.mvcc import Mutation

from .faust_undo_harness import undo_with_two_workers
from .ingest_harness import cluster_env, delete_topics
from .test_e2e_undo import PARTITIONS, _assert_same_as_t, _settings

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


@pytest.mark.parametrize("outcome", ["commit", "rollback"])
async def test_orphan_async_commit_txn_in_the_window_ends_at_t(
    mysql_db: Any, kafka_bootstrap: str, tmp_path: Path, outcome: str
) -> None:
    job = f"orphan-{outcome}-{uuid.uuid4().hex[:6]}"
    async with cluster_env(mysql_db, seed=31, rows=10) as env:
        w = env.workload
        try:
            await w.run(15)
            sp = await w.take_syncpoint()
            await w.run(30)
            left: list[Orphan] = []

            def leave(muts: list[Mutation]) -> int:
                o = env.cluster.faults.orphan_async_commit(
                    muts, missing_secondary=outcome == "rollback"
                )
                left.append(o)
                return o.commit_ts

            txn = await w.orphan(leave)  # the last write: its keys stay locked until resolved
            (orphan,) = left
            assert (orphan.commit_ts > 0) == (outcome == "commit") and txn.keys >= 2
            cfg = env.config(kafka_bootstrap, job, partitions=PARTITIONS, lock_stall_s=0.5)
            # bounded: before async commit was resolved, END never came (a wait for ever)
            result = await asyncio.wait_for(run_ingest(cfg, lambda _p: None), 60)
            assert result.state == "done", result
            assert result.target_ts == sp.ts and orphan.start_ts < result.end_ts
            mvcc = env.cluster.mvcc
            assert [k for k in orphan.keys if mvcc.lock(k) is not None] == []
            mine = {
                (k, v.commit_ts)
                for k in (*orphan.keys, orphan.missing)
                for v in mvcc.versions(k)
                if v.start_ts == orphan.start_ts
            }
            if outcome == "commit":  # committed at the largest min_commit_ts, inside (T, E]
                assert mine == {(k, orphan.commit_ts) for k in orphan.keys}
                assert orphan.commit_ts <= result.end_ts
            else:
                assert mine == set()
            # the downstream before the undo holds exactly what TiKV resolved (rows at E)
            assert await w.mariadb_digests() == w.mvcc_digests(result.end_ts)
            assert await w.checksums() != dict(sp.checksums)
            settings = _settings(env, kafka_bootstrap, job, mysql_db, sp)
            status = await undo_with_two_workers(kafka_bootstrap, job, settings, tmp_path)
            assert status.target_ts == sp.ts and status.end_ts == result.end_ts
            # the rows at T: a committed orphan's rows reverted, a rolled-back one's never there
            _assert_same_as_t(w, await w.checksums(), sp.checksums)
        finally:
            await delete_topics(kafka_bootstrap, [f"{job}.kv"])
            await delete_job_topics(kafka_bootstrap, job)
