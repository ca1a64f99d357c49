"""Smoke test of the SQL downstream: an aiomysql round trip against the real MariaDB.

Covers what the undo sink leans on: a multi-row REPLACE with parameters (aiomysql rewrites
``executemany`` into one ``VALUES (…),(…)`` statement), utf8mb4 text with 4-byte characters,
exact DECIMAL values, NULLs and binary data surviving the trip unchanged.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import aiomysql
import pytest

pytestmark = pytest.mark.integration


# DATETIME has no time zone: the driver hands back naive values, so the fixtures are naive too
def _naive(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


ROWS = [
    (1, "plain ascii", Decimal("0.00"), b"\x00\x01\xff", None),
    (
        2,
        "emoji 😀 and 𝄞 clef",
        Decimal("-12345678901234567.89"),
        b"",
        _naive("2024-02-29 00:00:00"),
    ),
    (3, "中文 ünïcödé", Decimal("99999999999999999.99"), None, _naive("1970-01-01 00:00:01")),
    (4, "", Decimal("0.01"), b"\x80" * 40, _naive("9999-12-31 23:59:59")),
]


async def _rows(conn: aiomysql.Connection, sql: str) -> list[tuple[object, ...]]:
    async with conn.cursor() as cur:
        await cur.execute(sql)
        return list(await cur.fetchall())


async def test_replace_round_trip(mysql_db) -> None:
    conn = await aiomysql.connect(**mysql_db.connect_kwargs(), autocommit=False)
    try:
        async with conn.cursor() as cur:
            await cur.execute(
                "CREATE TABLE t ("
                " id BIGINT PRIMARY KEY,"
                " name VARCHAR(64) CHARACTER SET utf8mb4 NOT NULL,"
                " amount DECIMAL(19,2) NOT NULL,"
                " raw VARBINARY(64) NULL,"
                " at DATETIME NULL"
                ") DEFAULT CHARSET=utf8mb4"
            )
            sql = "REPLACE INTO t (id, name, amount, raw, at) VALUES (%s, %s, %s, %s, %s)"
            affected = await cur.executemany(sql, ROWS)
            # one multi-row statement, not one round trip per row
            assert cur._executed.count(b"),(") == len(ROWS) - 1
            assert affected == len(ROWS)
            await conn.commit()

            # replacing existing keys: MariaDB counts 2 (delete + insert) for a row that
            # changed but only 1 for a row replaced by an identical image, so affected-row
            # counts cannot tell "restored" rows apart: undo reports must count otherwise
            changed = [(1, "one again", Decimal("1.10"), None, None), ROWS[1]]
            affected = await cur.executemany(sql, changed)
            assert affected == 2 + 1
            await conn.commit()

        got = await _rows(conn, "SELECT id, name, amount, raw, at FROM t ORDER BY id")
        want = [(1, "one again", Decimal("1.10"), None, None), *ROWS[1:]]
        assert got == want
        for (_, _, amount, _, _), (_, _, expected, _, _) in zip(got, want, strict=True):
            assert isinstance(amount, Decimal)
            assert str(amount) == str(expected)  # exact digits, not a float

        # the server kept 4-byte characters (not '?'): check by length in characters and bytes
        [(chars, octets)] = await _rows(
            conn, "SELECT CHAR_LENGTH(name), LENGTH(name) FROM t WHERE id=2"
        )
        assert (chars, octets) == (len(ROWS[1][1]), len(ROWS[1][1].encode()))

        [(total,)] = await _rows(conn, "SELECT SUM(amount) FROM t")
        assert total == sum((r[2] for r in want), Decimal(0))
    finally:
        await conn.ensure_closed()


async def test_mysql_db_is_fresh_and_isolated(mysql_db, mysql_config) -> None:
    assert mysql_db.db != mysql_config.db
    conn = await aiomysql.connect(**mysql_db.connect_kwargs(), autocommit=True)
    try:
        assert await _rows(conn, "SHOW TABLES") == []
        assert await _rows(conn, "SELECT DATABASE()") == [(mysql_db.db,)]
        [(binlog_format, row_image)] = await _rows(
            conn, "SELECT @@binlog_format, @@binlog_row_image"
        )
        assert (binlog_format, row_image) == ("ROW", "FULL")
    finally:
        await conn.ensure_closed()


def test_mysql_config_from_url(mysql_config) -> None:
    # the fixture's class (tests/conftest.py), reached without importing conftest by name
    config_type = type(mysql_config)
    cfg = config_type.from_url("mysql://u%40x:p%3Aw@127.0.0.1:3307/db1")
    assert cfg == config_type("127.0.0.1", 3307, "u@x", "p:w", "db1")
    assert config_type.from_url(cfg.url) == cfg
    assert config_type.from_url("mysql://u:p@h/db").port == 3306
    with pytest.raises(ValueError):
        config_type.from_url("mysql://u:p@h:1/")
