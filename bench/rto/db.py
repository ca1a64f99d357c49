"""MariaDB for the benchmark: create, bulk-load, reset from a copy, checksum, watch RSS.

Every run starts from the same torn state: a copy database holds the rows at E and a reset
re-creates each work table with ``CREATE TABLE … LIKE`` + ``INSERT … SELECT`` (seconds, not a
reload from Python). Loads and resets skip the binary log (``sql_log_bin = 0``): they are set-up,
not part of what a contender is timed on. ``CHECKSUM TABLE`` sums per-row checksums, so it does
not depend on row order; two tables of the same definition and rows check the same.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping, Sequence
from pathlib import Path

import aiomysql

from app.undo.model import Handle
from app.undo.sqlgen import to_param
from bench.rto.history import Row
from bench.rto.procs import proc_kib
from core.sqlident import quote_ident
from core.urls import MySQLTarget
from simulator.tabledef import TableDef

__all__ = [
    "checksums",
    "connect",
    "create_database",
    "load_rows",
    "mariadb_pid",
    "reset_tables",
    "rss_kib",
    "tables_in",
]

LOAD_BATCH = 2000


def tables_in(tables: Sequence[TableDef], db: str) -> tuple[TableDef, ...]:
    """The same table definitions in database ``db``."""
    return tuple(dataclasses.replace(t, db=db) for t in tables)


async def connect(target: MySQLTarget, *, autocommit: bool = True) -> aiomysql.Connection:
    """A connection with utf8mb4 and UTC session time (DATETIME text is taken as is)."""
    conn = await aiomysql.connect(
        host=target.host,
        port=target.port,
        user=target.user,
        password=target.password,
        charset="utf8mb4",
        autocommit=autocommit,
        init_command="SET time_zone = '+00:00'",
    )
    return conn


async def _exec(conn: aiomysql.Connection, *sql: str) -> None:
    async with conn.cursor() as cur:
        for s in sql:
            await cur.execute(s)


async def create_database(conn: aiomysql.Connection, db: str, tables: Sequence[TableDef]) -> None:
    """Drop ``db`` if it exists and create it with ``tables`` (their ``db`` must be ``db``)."""
    q = quote_ident(db, for_params=False)
    await _exec(conn, "SET sql_log_bin = 0", "SET sql_notes = 0", f"DROP DATABASE IF EXISTS {q}")
    await _exec(
        conn, f"CREATE DATABASE {q} CHARACTER SET utf8mb4", *(t.create_sql() for t in tables)
    )


async def drop_database(conn: aiomysql.Connection, db: str) -> None:
    """Drop ``db`` if it exists (binlog off)."""
    q = quote_ident(db, for_params=False)
    await _exec(conn, "SET sql_log_bin = 0", "SET sql_notes = 0", f"DROP DATABASE IF EXISTS {q}")


async def load_rows(
    conn: aiomysql.Connection,
    tables: Sequence[TableDef],
    rows: Sequence[Mapping[Handle, Row]],
) -> None:
    """Insert every table's rows (images in column order), many rows per statement."""
    await _exec(conn, "SET sql_log_bin = 0")
    async with conn.cursor() as cur:
        for tdef, table_rows in zip(tables, rows, strict=True):
            cols = ", ".join(quote_ident(c.name) for c in tdef.columns)
            marks = ", ".join(["%s"] * len(tdef.columns))
            name = f"{quote_ident(tdef.db)}.{quote_ident(tdef.name)}"
            sql = f"INSERT INTO {name} ({cols}) VALUES ({marks})"
            batch: list[tuple[object, ...]] = []
            for row in table_rows.values():
                batch.append(tuple(to_param(v) for v in row))
                if len(batch) >= LOAD_BATCH:
                    await cur.executemany(sql, batch)
                    batch = []
            if batch:
                await cur.executemany(sql, batch)
    if not conn.get_autocommit():
        await conn.commit()


async def reset_tables(
    conn: aiomysql.Connection, src_db: str, dst_db: str, tables: Sequence[TableDef]
) -> None:
    """Make every table of ``dst_db`` a copy of the same table in ``src_db``."""
    await _exec(conn, "SET sql_log_bin = 0", "SET sql_notes = 0")
    for t in tables:
        q = functools.partial(quote_ident, for_params=False)  # statements without parameters
        src, dst = f"{q(src_db)}.{q(t.name)}", f"{q(dst_db)}.{q(t.name)}"
        await _exec(
            conn,
            f"DROP TABLE IF EXISTS {dst}",
            f"CREATE TABLE {dst} LIKE {src}",
            f"INSERT INTO {dst} SELECT * FROM {src}",
        )
    await _exec(conn, "SET sql_log_bin = 1")


async def checksums(
    conn: aiomysql.Connection, db: str, tables: Sequence[TableDef]
) -> dict[str, int | None]:
    """``CHECKSUM TABLE`` of each table of ``db``, by table name."""
    out: dict[str, int | None] = {}
    async with conn.cursor() as cur:
        for t in tables:
            q = functools.partial(quote_ident, for_params=False)
            await cur.execute(f"CHECKSUM TABLE {q(db)}.{q(t.name)}")
            row = await cur.fetchone()
            out[t.name] = None if row is None or row[1] is None else int(row[1])
    return out


async def mariadb_pid(conn: aiomysql.Connection) -> int | None:
    """The server's pid from its pid file, when the server runs on this machine."""
    async with conn.cursor() as cur:
        await cur.execute("SELECT @@pid_file")
        row = await cur.fetchone()
    return _read_pid(str(row[0])) if row else None


def _read_pid(path: str) -> int | None:
    try:
        pid = int(Path(path).read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if rss_kib(pid) is not None else None


def rss_kib(pid: int) -> int | None:
    """Resident set size of ``pid`` now, in KiB (None when /proc does not show it)."""
    return proc_kib(pid)


async def server_version(conn: aiomysql.Connection) -> str:
    """``SELECT VERSION()``."""
    async with conn.cursor() as cur:
        await cur.execute("SELECT VERSION()")
        row = await cur.fetchone()
    return str(row[0]) if row else "?"
