"""Wide rows through the whole undo: transactions cut by bytes, a row over the entry limit
dead-lettered (fake cluster → ingest → ``<job>.kv`` → two Faust workers → MariaDB).

TiDB refuses a transaction over ``txn-total-size-limit`` and one entry over
``txn-entry-size-limit``; MariaDB has neither, so the bounds are set small here
(``TIUNDO_TXN_MAX_BYTES``, ``TIUNDO_TXN_ENTRY_MAX_BYTES``) and the rows are as wide as the
simulator's BLOB allows (64 KiB): the downstream's ``undo_progress`` counter shows how many
transactions a table took.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from app.cli.jobstate import delete_job_topics
from ingest.worker import run_ingest
from proto import tiundo_pb2
from simulator.tabledef import ColumnDef, TableDef

from .faust_undo_harness import Worker, wait_status
from .ingest_harness import delete_topics
from .test_e2e_nasty import Script, nasty_env
from .test_e2e_undo import PARTITIONS, _settings
from .test_faust_undo_compact import _dead_letters

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

WIDE_ROWS = 12
ROW = 60_000  # bytes of b1 per row at T
TXN_MAX_BYTES = 300_000  # two statements of two 60 KB rows, not three
ENTRY_MAX_BYTES = 150_000  # a 60 KB row fits, a 190 KB one does not


def _tables(db: str) -> tuple[TableDef, ...]:
    c = ColumnDef
    cols = (c("id", "int", nullable=False), c("b1", "blob"), c("b2", "blob"), c("t", "text"))
    return (
        TableDef(db, "wide", cols, primary_key=("id",)),
        TableDef(db, "huge", cols, primary_key=("id",)),
    )


async def _rows(env: Any, table: str) -> list[tuple[Any, ...]]:
    async with env.conn.cursor() as cur:
        await cur.execute(
            f"SELECT id, MD5(b1), LENGTH(b1), b2, t FROM `{env.db}`.`{table}` ORDER BY id"
        )
        rows = list(await cur.fetchall())
    await env.conn.commit()
    return rows


async def test_wide_rows_cut_by_bytes_and_a_row_over_the_entry_limit_is_dead_lettered(
    mysql_db: Any, kafka_bootstrap: str, tmp_path: Path
) -> None:
    job = f"wide-{uuid.uuid4().hex[:6]}"
    async with nasty_env(mysql_db, _tables(mysql_db.db)) as env:
        s = Script(env.workload)
        await s.txn(
            *(s.ins("wide", id=i, b1=bytes([i]) * ROW, b2=None, t="w") for i in range(WIDE_ROWS))
        )
        await s.txn(
            s.ins("huge", id=1, b1=b"\x01" * 65_000, b2=b"\x02" * 65_000, t="x" * 60_000),
            s.ins("huge", id=2, b1=b"\x03", b2=None, t="small"),
        )
        sp = await env.workload.take_syncpoint()
        wide_at_t = await _rows(env, "wide")
        huge_at_t = await _rows(env, "huge")
        await s.txn(*(s.upd("wide", i, b1=b"", t="narrow") for i in range(WIDE_ROWS)))
        await s.txn(s.upd("huge", 1, b1=b"", b2=None, t="e"), s.upd("huge", 2, t="changed"))
        huge_at_e = await _rows(env, "huge")

        cfg = env.config(kafka_bootstrap, job, partitions=PARTITIONS)
        result = await run_ingest(cfg, lambda _p: None)
        assert result.state == "done", result
        settings = _settings(
            env, kafka_bootstrap, job, mysql_db, sp,
            TIUNDO_BATCH_ROWS="2", TIUNDO_TXN_STATEMENTS="50",  # rows alone: one transaction
            TIUNDO_TXN_MAX_BYTES=str(TXN_MAX_BYTES),
            TIUNDO_TXN_ENTRY_MAX_BYTES=str(ENTRY_MAX_BYTES),
        )  # fmt: skip
        workers = [
            Worker(settings, tmp_path / "w0", tmp_path / "w0.log"),
            Worker(settings, tmp_path / "w1", tmp_path / "w1.log", entry="run_worker"),
        ]
        try:
            status = await wait_status(kafka_bootstrap, job, workers, 150)
            tails = "\n".join(w.tail() for w in workers)
            # the row that cannot be written is never a success
            assert status.state == tiundo_pb2.JobStatus.INCOMPLETE, f"{status}\n{tails}"
            assert status.dead_letters == 1, f"{status}\n{tails}"
            [letter] = await _dead_letters(kafka_bootstrap, f"{job}.dead")
            assert letter.stage == "sink"
            assert f"over the {ENTRY_MAX_BYTES}-byte entry limit" in letter.error
            assert letter.table_id == env.workload.table_info("huge").id
            assert len(letter.old_value) > ENTRY_MAX_BYTES  # the row at T, kept for a DBA

            assert await _rows(env, "wide") == wide_at_t  # every wide row at T
            huge = await _rows(env, "huge")
            assert huge == [huge_at_e[0], huge_at_t[1]]  # the dead row stays as it was at E
            by_name = {t.table_name: t for t in status.tables}
            assert (by_name["wide"].restored, by_name["wide"].dead_letters) == (WIDE_ROWS, 0)
            assert by_name["huge"].dead_letters == 1

            # six statements of two rows; 2 × ~120 KB fit in 300 KB, 3 do not: 3 transactions
            async with env.conn.cursor() as cur:
                await cur.execute(
                    f"SELECT txn FROM `{mysql_db.db}`.undo_progress WHERE job = %s AND tbl = %s",
                    (job, env.workload.table_info("wide").id),
                )
                counters = await cur.fetchall()
            await env.conn.commit()
            assert counters == ((3,),), counters
        finally:
            for w in workers:
                w.stop()
            await delete_topics(kafka_bootstrap, [f"{job}.kv"])
            await delete_job_topics(kafka_bootstrap, job)
