"""``--replace`` deletes the replaced job's own counter rows, never another job's of that name.

Two tenants of one Kafka cluster (``TIUNDO_TOPIC_PREFIX``) may both call their job ``undo1``
and undo tables of one downstream. The exactly-once counters are keyed by job name and the
instance id, not the prefix; deleting every row of the name deleted the other tenant's too, and
its next worker restart or ``--resume`` then re-applied committed ``_tidb_rowid`` inserts (rows
doubled behind a SUCCEEDED report). Real Kafka and MariaDB.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import aiomysql
import pytest

from app.cli.jobstate import delete_job_topics
from app.cli.pin import publish_record, replace_job
from core.sqlident import quote_ident
from proto import tiundo_pb2
from tests.conftest import MySQLConfig

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


@pytest.fixture
async def prefixes(kafka_bootstrap: str) -> AsyncIterator[tuple[str, str, str]]:
    """(job, prefix of tenant a, prefix of tenant b); both tenants' topics deleted after."""
    tag = uuid.uuid4().hex[:6]
    job, a, b = f"undo-{tag}", f"a{tag}.", f"b{tag}."
    yield job, a, b
    for prefix in (a, b):
        await delete_job_topics(kafka_bootstrap, job, prefix=prefix)


async def _counters(cfg: MySQLConfig, rows: list[tuple[str, str]] | None = None) -> list[str]:
    """Write ``(job, settings)`` counter rows (when given); the settings of every row."""
    table = f"{quote_ident(cfg.db)}.{quote_ident('undo_progress')}"
    conn = await aiomysql.connect(**cfg.connect_kwargs(), autocommit=True)
    try:
        async with conn.cursor() as cur:
            if rows is not None:
                await cur.execute(
                    f"CREATE TABLE {table} (job VARCHAR(64) NOT NULL, part INT NOT NULL, "
                    "tbl BIGINT NOT NULL, phase TINYINT NOT NULL, settings VARCHAR(64) NOT NULL, "
                    "txn BIGINT NOT NULL, PRIMARY KEY (job, part, tbl, phase, settings))"
                )
                for job, settings in rows:
                    await cur.execute(
                        f"INSERT INTO {table} VALUES (%s, 0, 101, 1, %s, 7)", (job, settings)
                    )
            await cur.execute(f"SELECT settings FROM {table} ORDER BY settings")
            return [r[0] for r in await cur.fetchall()]
    finally:
        conn.close()


async def test_replace_keeps_the_counters_of_the_same_name_under_another_prefix(
    kafka_bootstrap: str, mysql_db: MySQLConfig, prefixes: tuple[str, str, str]
) -> None:
    job, a, b = prefixes
    cut = "500x1x1000x1048576x6291456b"
    mine, theirs = "aaaaaaaaaaaa", "bbbbbbbbbbbb"
    for prefix, instance in ((a, mine), (b, theirs)):
        record = tiundo_pb2.JobRecord(job_id=job, instance_id=instance, topic_prefix=prefix)
        await publish_record(kafka_bootstrap, record)
    await _counters(mysql_db, [(job, f"{mine}/{cut}"), (job, f"{theirs}/{cut}")])

    await replace_job(kafka_bootstrap, job, downstream=mysql_db.url, progress_db=mysql_db.db,
                      prefix=a)  # fmt: skip

    # tenant a's job is gone with its counters; tenant b's job of that name keeps its own
    assert await _counters(mysql_db) == [f"{theirs}/{cut}"]
