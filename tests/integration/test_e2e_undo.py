"""End to end: fake cluster + seeded workload + ingest worker + 2 Faust workers + MariaDB.

A random workload runs, T is taken (checksums of every table recorded), writing goes on (hot
keys, PK changes, unique-key swaps, insert-then-delete, torn multi-table transactions), the
ingest worker fills ``<job>.kv``, two ``faust -A app.main worker`` processes undo it, and every
table's checksum must equal its checksum at T. Variants: kill -9 of a worker while it applies
(restarted on the same datadir), and a dry run whose SQL file is applied with the mysql client.

Default seeds are a fast subset; ``TIUNDO_SOAK_SEEDS=N`` runs N more seeds.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from app.cli.jobstate import delete_job_topics
from core.codec import mysqldef
from ingest.worker import run_ingest
from proto import tiundo_pb2

from .faust_undo_harness import (
    Worker,
    read_compacted,
    undo_env,
    wait_note,
    wait_status,
)
from .ingest_harness import cluster_env, delete_topics

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

PARTITIONS = 4
SOAK = int(os.environ.get("TIUNDO_SOAK_SEEDS", "0") or 0)
SEEDS = [7, 23] + [1000 + i for i in range(SOAK)]


async def _prepare(
    env: Any, kafka: str, job: str, after_t: int = 60, partitions: int = PARTITIONS
) -> Any:
    """Workload before and after T, then ingest (T, E] into ``<job>.kv``."""
    w = env.workload
    await w.run(20)
    sp = await w.take_syncpoint()
    await w.run(after_t)
    await w.tear()
    await w.run(10)
    await w.tear()
    cfg = env.config(kafka, job, partitions=partitions)
    result = await run_ingest(cfg, lambda _p: None)
    assert result.state == "done", result
    assert result.target_ts == sp.ts
    return sp, result


def _settings(
    env: Any,
    kafka: str,
    job: str,
    mysql_db: Any,
    sp: Any,
    partitions: int = PARTITIONS,
    **extra: str,
) -> dict[str, str]:
    return undo_env(
        job=job,
        kafka=kafka,
        downstream=mysql_db.url,
        status_api=f"http://{env.cluster.status_address}",
        partitions=partitions,
        TIUNDO_PRIMARY_TS=str(sp.primary_ts),
        TIUNDO_PROGRESS_DB=mysql_db.db,  # the exactly-once counters, dropped with the test db
        **extra,
    )


def _assert_same_as_t(workload: Any, now: Any, at_t: Any) -> None:
    """Every table equals its state at T: row digest always, CHECKSUM TABLE too unless JSON.

    MariaDB keeps JSON as text: the undo and the workload both write TiDB's rendering of the
    value, but text written by anything else would checksum differently for the same value,
    so JSON tables are left to the row digest, which compares the values (core.digest).
    """
    assert set(now) == set(at_t)
    for name, want in at_t.items():
        got = now[name]
        assert (got.rows, got.digest) == (want.rows, want.digest), name
        cols = workload.table_info(name).columns
        if not any(c.type.tp == mysqldef.TYPE_JSON for c in cols):
            assert got.checksum == want.checksum, name


async def _run(mysql_db: Any, kafka: str, tmp_path: Path, seed: int, mode: str) -> None:
    job = f"undo-{mode}-{seed}-{uuid.uuid4().hex[:6]}"
    workers: list[Worker] = []
    async with cluster_env(mysql_db, seed=seed, rows=40 if mode == "kill" else 10) as env:
        try:
            sp, result = await _prepare(env, kafka, job, 200 if mode == "kill" else 60)
            before = await env.workload.checksums()
            assert before != dict(sp.checksums), "the workload changed nothing after T"
            extra = {"TIUNDO_BATCH_ROWS": "3", "TIUNDO_TXN_STATEMENTS": "2"}
            if mode == "kill":  # one row per transaction: the apply lasts long enough to hit
                extra = {"TIUNDO_BATCH_ROWS": "1", "TIUNDO_TXN_STATEMENTS": "1"}
            if mode == "dryrun":
                extra["TIUNDO_DRY_RUN"] = str(tmp_path / "sql")
            settings = _settings(env, kafka, job, mysql_db, sp, **extra)
            workers = [
                Worker(settings, tmp_path / "w0", tmp_path / "w0.log"),
                Worker(settings, tmp_path / "w1", tmp_path / "w1.log", entry="run_worker"),
            ]
            if mode == "kill":
                await wait_note(kafka, job, "done/", 120)  # some phase committed: mid-apply
                # kill a worker that is applying: one whose log shows an End
                busy = [w for w in workers if "End (T=" in w.log.read_text(errors="replace")]
                assert busy, "no worker reached End"
                victim = busy[0]
                victim.kill9()
                notes = await read_compacted(kafka, f"{job}.progress")
                reported = [k for k in notes if k.startswith(b"part/")]
                assert len(reported) < PARTITIONS, "killed too late: the undo had finished"
                victim.start()
            status = await wait_status(kafka, job, workers, 180)
            tails = "\n".join(w.tail() for w in workers)
            assert status.state == tiundo_pb2.JobStatus.SUCCEEDED, f"{status}\n{tails}"
            assert status.target_ts == sp.ts and status.end_ts == result.end_ts
            assert status.primary_ts == sp.primary_ts
            assert status.dead_letters == 0
            assert sum(t.restored + t.deleted for t in status.tables) > 0
            if mode == "dryrun":
                assert await env.workload.checksums() == before, "dry run changed the tables"
                sql = tmp_path / "sql" / f"{job}.sql"
                assert sql.exists(), status.message
                text = sql.read_text()
                assert "-- phase 0" in text and "handle=" in text and "commit_ts" in text
                c = mysql_db
                subprocess.run(  # noqa: ASYNC221 (a one-off client run, the loop has no other work)
                    ["mysql", f"-h{c.host}", f"-P{c.port}", f"-u{c.user}", f"-p{c.password}",
                     "--default-character-set=utf8mb4", c.db],
                    input=sql.read_bytes(), check=True, capture_output=True, timeout=120,
                )  # fmt: skip
            after = await env.workload.checksums()
            _assert_same_as_t(env.workload, after, sp.checksums)
        finally:
            for w in workers:
                w.stop()
            await delete_topics(kafka, [f"{job}.kv"])
            await delete_job_topics(kafka, job)


@pytest.mark.parametrize("seed", SEEDS)
async def test_undo_restores_every_table(
    mysql_db: Any, kafka_bootstrap: str, tmp_path: Path, seed: int
) -> None:
    await _run(mysql_db, kafka_bootstrap, tmp_path, seed, "apply")


async def test_kill9_worker_mid_apply_same_end_state(
    mysql_db: Any, kafka_bootstrap: str, tmp_path: Path
) -> None:
    await _run(mysql_db, kafka_bootstrap, tmp_path, 41, "kill")


async def test_dry_run_sql_applied_by_hand(
    mysql_db: Any, kafka_bootstrap: str, tmp_path: Path
) -> None:
    await _run(mysql_db, kafka_bootstrap, tmp_path, 59, "dryrun")
