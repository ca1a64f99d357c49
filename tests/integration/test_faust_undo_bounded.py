"""Bounded failure: a poisoned job ends FAILED or INCOMPLETE within seconds, never RUNNING.

Same rig as ``test_faust_undo_compact`` (ChangeBatch records we produce, the simulator's status
API for the schema, one real Faust worker, MariaDB): each job holds one poison, and the job's
status must be final within 30 s with the reason in its message.

- the downstream's ``undo_progress`` counter table has another shape: every transaction's
  counter read fails with MySQL error 1054 (not transient) → FAILED naming it;
- a VECTOR column, whose values have no SQL form for the driver → those rows dead-lettered with
  their key and the reason, the others restored → INCOMPLETE;
- a downstream that accepts connections and never answers → transient timeouts until
  ``TIUNDO_RETRY_DEADLINE_S`` → FAILED with the last error, and no password in the message.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiomysql
import pytest

from app.cli.jobstate import delete_job_topics
from core.codec import mysqldef
from core.codec.keys import encode_record_key
from core.codec.row import encode_row
from core.codec.tableinfo import TableInfo
from proto import tiundo_pb2
from simulator.catalog import Catalog
from simulator.status_api import StatusApiServer
from simulator.tabledef import ColumnDef, TableDef

from .faust_undo_harness import Worker, undo_env, wait_status
from .test_faust_undo_compact import _dead_letters, _produce

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

T, E = 100, 200
PUT = 1
BOUND_S = 30  # a poisoned job must be final within this, worker start included


Rows = dict[int, tuple[dict[str, Any], dict[str, Any]]]
"""handle -> (image at T, image at E)"""


def _records(job: str, info: TableInfo, rows: Rows) -> list[tuple[int, bytes]]:
    """One batch changing each handle from its T image to its E image, then End (partition 0)."""
    cb = tiundo_pb2.ChangeBatch(job_id=job, table_id=info.id, seq=1)
    for h, (at_t, at_e) in rows.items():
        cb.changes.add(
            key=encode_record_key(info.id, h), start_ts=110, commit_ts=111, op_type=PUT,
            value=encode_row(info, at_e), old_value=encode_row(info, at_t),
        )  # fmt: skip
    end = tiundo_pb2.End(job_id=job, end_ts=E, target_ts=T, total_changes=len(rows), batches=1)
    return [
        (0, tiundo_pb2.Envelope(change_batch=cb).SerializeToString()),
        (0, tiundo_pb2.Envelope(end=end).SerializeToString()),
    ]


@asynccontextmanager
async def _job(
    kafka: str, fresh_topic: Any, catalog: Catalog, prefix: str
) -> AsyncIterator[tuple[str, str]]:
    """A fresh job id, its one-partition ``<job>.kv`` and a status API serving ``catalog``."""
    job = f"{prefix}-{uuid.uuid4().hex[:8]}"
    api = StatusApiServer(catalog)
    await api.start()
    try:
        await fresh_topic(partitions=1, name=f"{job}.kv")
        yield job, api.url
    finally:
        await api.stop()
        await delete_job_topics(kafka, job)


def _table(db: str, name: str) -> TableDef:
    c = ColumnDef
    return TableDef(
        db, name, (c("id", "bigint", nullable=False), c("v", "varchar", 20)), primary_key=("id",)
    )


async def test_a_counter_table_of_another_shape_fails_the_job_with_its_reason(
    kafka_bootstrap: str, fresh_topic: Any, mysql_db: Any, tmp_path: Path
) -> None:
    catalog = Catalog()
    tdef = _table(mysql_db.db, "t")
    info = catalog.add_table(tdef)
    admin = await aiomysql.connect(**mysql_db.connect_kwargs(), autocommit=True)
    worker = None
    try:
        async with admin.cursor() as cur:
            await cur.execute(tdef.create_sql())
            await cur.execute(f"INSERT INTO `{mysql_db.db}`.t VALUES (1, 'at-e')")
            # left by something else: no (job, part, tbl, phase, settings, txn) columns
            await cur.execute("CREATE TABLE undo_progress (id INT PRIMARY KEY)")
        async with _job(kafka_bootstrap, fresh_topic, catalog, "counter") as (job, api_url):
            rows = {1: ({"id": 1, "v": "at-t"}, {"id": 1, "v": "at-e"})}
            await _produce(kafka_bootstrap, f"{job}.kv", _records(job, info, rows))
            settings = undo_env(
                job=job, kafka=kafka_bootstrap, downstream=mysql_db.url, status_api=api_url,
                partitions=1, TIUNDO_PROGRESS_DB=mysql_db.db,
            )  # fmt: skip
            worker = Worker(settings, tmp_path / "w", tmp_path / "w.log")
            status = await wait_status(kafka_bootstrap, job, [worker], BOUND_S)
            assert status.state == tiundo_pb2.JobStatus.FAILED, status
            assert status.message.startswith("partition 0: SinkError: downstream refused"), status
            assert "1054" in status.message and "undo_progress" in status.message
            assert f"table {info.id} ({mysql_db.db}.t) phase 0" in status.message
            assert "\n" not in status.message
    finally:
        if worker is not None:
            worker.stop()
        admin.close()


def _vector_table(db: str) -> tuple[TableDef, TableInfo]:
    """``vt (id, v, vec VECTOR(3))``; MariaDB, which has no VECTOR, gets a BLOB for ``vec``."""
    tdef = TableDef(
        db, "vt",
        (ColumnDef("id", "bigint", nullable=False), ColumnDef("v", "varchar", 20),
         ColumnDef("vec", "blob")),
        primary_key=("id",),
    )  # fmt: skip
    info = Catalog().add_table(tdef)
    obj = info.to_json()
    [col] = [c for c in obj["cols"] if c["name"]["O"] == "vec"]
    col["type"].update(Tp=mysqldef.TYPE_VECTOR_FLOAT32, Flen=3, Charset="binary", Flag=0)
    return tdef, TableInfo.from_json(obj)


async def test_values_with_no_sql_form_are_dead_lettered_and_the_job_is_incomplete(
    kafka_bootstrap: str, fresh_topic: Any, mysql_db: Any, tmp_path: Path
) -> None:
    tdef, info = _vector_table(mysql_db.db)
    catalog = Catalog()
    catalog.add_table_info(mysql_db.db, info)
    admin = await aiomysql.connect(**mysql_db.connect_kwargs(), autocommit=True)
    worker = None
    try:
        async with admin.cursor() as cur:
            await cur.execute(tdef.create_sql())
            for h in (1, 2, 3):
                await cur.execute(f"INSERT INTO `{mysql_db.db}`.vt VALUES (%s, 'at-e', NULL)", (h,))
        async with _job(kafka_bootstrap, fresh_topic, catalog, "vector") as (job, api_url):
            rows = {
                1: ({"id": 1, "v": "at-t", "vec": None}, {"id": 1, "v": "at-e", "vec": None}),
                2: ({"id": 2, "v": "at-t", "vec": (1.0, 2.0, 3.0)}, {"id": 2, "v": "at-e"}),
                3: ({"id": 3, "v": "at-t", "vec": None}, {"id": 3, "v": "at-e", "vec": None}),
            }
            await _produce(kafka_bootstrap, f"{job}.kv", _records(job, info, rows))
            settings = undo_env(
                job=job, kafka=kafka_bootstrap, downstream=mysql_db.url, status_api=api_url,
                partitions=1, TIUNDO_PROGRESS_DB=mysql_db.db,
            )  # fmt: skip
            worker = Worker(settings, tmp_path / "w", tmp_path / "w.log")
            status = await wait_status(kafka_bootstrap, job, [worker], BOUND_S)
            assert status.state == tiundo_pb2.JobStatus.INCOMPLETE, status
            assert status.message.startswith("1 change(s) dead-lettered"), status
            assert status.dead_letters == 1
            [t] = status.tables
            assert (t.table_id, t.table_name, t.restored, t.dead_letters) == (info.id, "vt", 2, 1)
            [letter] = await _dead_letters(kafka_bootstrap, f"{job}.dead")
            assert (letter.stage, letter.table_id) == ("sink", info.id)
            assert letter.key == encode_record_key(info.id, 2)
            assert letter.error.startswith("TypeError: no SQL parameter form for tuple")
            assert letter.old_value == encode_row(info, rows[2][0])
            async with admin.cursor() as cur:
                await cur.execute(f"SELECT id, v FROM `{mysql_db.db}`.vt ORDER BY id")
                assert dict(await cur.fetchall()) == {1: "at-t", 2: "at-e", 3: "at-t"}
    finally:
        if worker is not None:
            worker.stop()
        admin.close()


@pytest.mark.parametrize("collation", ["on", "auto"])
async def test_a_downstream_that_never_answers_fails_the_job_at_the_retry_deadline(
    kafka_bootstrap: str, fresh_topic: Any, tmp_path: Path, collation: str
) -> None:
    """``on``: pinned, as a job record does, so the sink meets the silence; ``auto``: a worker
    without a record asks the downstream for new_collation_enabled first, and meets it there."""
    silent: list[asyncio.StreamWriter] = []

    async def accept(_r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        silent.append(w)  # no greeting, ever

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    catalog = Catalog()
    info = catalog.add_table(_table("silentdb", "t"))
    worker = None
    try:
        async with _job(kafka_bootstrap, fresh_topic, catalog, "silent") as (job, api_url):
            rows = {1: ({"id": 1, "v": "at-t"}, {"id": 1, "v": "at-e"})}
            await _produce(kafka_bootstrap, f"{job}.kv", _records(job, info, rows))
            settings = undo_env(
                job=job, kafka=kafka_bootstrap, status_api=api_url, partitions=1,
                downstream=f"mysql://tiundo:s3cret-pw@127.0.0.1:{port}/silentdb",
                TIUNDO_RETRY_DEADLINE_S="4", TIUNDO_SINK_CONNECT_TIMEOUT_S="1",
                TIUNDO_SINK_TIMEOUT_S="1", TIUNDO_NEW_COLLATION=collation,
            )  # fmt: skip
            worker = Worker(settings, tmp_path / "w", tmp_path / "w.log")
            status = await wait_status(kafka_bootstrap, job, [worker], BOUND_S)
            assert status.state == tiundo_pb2.JobStatus.FAILED, status
            if collation == "on":
                assert status.message.startswith("partition 0: SinkError: downstream still failing")
                assert "TimeoutError" in status.message and f"table {info.id}" in status.message
            else:
                assert status.message.startswith("partition 0: TransientError: "), status
                assert "did not answer within 1 s" in status.message, status
            assert "s3cret" not in status.message
            assert silent, "the worker never connected"
    finally:
        if worker is not None:
            worker.stop()
            assert "s3cret" not in worker.log.read_text(errors="replace")
        for w in silent:
            w.close()
        server.close()
        await server.wait_closed()
