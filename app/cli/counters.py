"""A job's exactly-once counter rows downstream (``<progress db>.undo_progress``, key ``job``).

The sink creates the table and moves one row per (job, partition, table, phase, instance, cut)
in the same transaction as the rows it counts (:mod:`app.sink.mysql`); ``--replace`` and
``tiundo cleanup`` count and delete a job's rows here. ``progress_db`` ``-`` = the job kept none.

Rows are always chosen by job name AND instance id: another job of the same name under another
topic prefix (another tenant of the Kafka cluster) may count its transactions in the same
table, and deleting its rows would make its next restart or ``--resume`` apply committed
transactions again.
"""

from __future__ import annotations

from typing import Final

from app.sink.connect import connect
from core.sqlident import quote_ident
from core.urls import parse_mysql_url

__all__ = [
    "COUNTER_TABLE",
    "count_counters",
    "counter_table",
    "delete_counters",
    "instance_pattern",
]

COUNTER_TABLE: Final = "undo_progress"
#: seconds a counter query may wait for the downstream
COUNTERS_TIMEOUT_S: Final = 10.0


def counter_table(progress_db: str) -> str:
    """The quoted ``db.undo_progress`` name."""
    return f"{quote_ident(progress_db)}.{quote_ident(COUNTER_TABLE)}"


def instance_pattern(instance: str) -> str:
    """``LIKE`` pattern of an instance's rows: settings = ``<instance>/<cut>``.

    (:func:`app.jobrecord.counter_settings`); LIKE's wildcards and escape in the id are escaped.
    """
    escaped = instance.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "/%"


async def _rows(downstream: str, progress_db: str, job: str, instance: str, *, delete: bool) -> int:
    if progress_db == "-":
        return 0
    conn = await connect(parse_mysql_url(downstream), timeout_s=COUNTERS_TIMEOUT_S)
    try:
        async with conn.cursor() as cur:
            await cur.execute(
                "SELECT COUNT(*) FROM information_schema.TABLES "
                "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s",
                (progress_db, COUNTER_TABLE),
            )
            if not (await cur.fetchone())[0]:
                return 0
            table = counter_table(progress_db)
            where, args = "job = %s AND settings LIKE %s", (job, instance_pattern(instance))
            if delete:
                return int(await cur.execute(f"DELETE FROM {table} WHERE {where}", args))
            await cur.execute(f"SELECT COUNT(*) FROM {table} WHERE {where}", args)
            return int((await cur.fetchone())[0])
    finally:
        conn.close()


async def count_counters(downstream: str, progress_db: str, job: str, instance: str) -> int:
    """How many counter rows the job's instance has downstream (0: no table)."""
    return await _rows(downstream, progress_db, job, instance, delete=False)


async def delete_counters(downstream: str, progress_db: str, job: str, instance: str) -> int:
    """Delete the job's instance's counter rows downstream; how many went."""
    return await _rows(downstream, progress_db, job, instance, delete=True)
