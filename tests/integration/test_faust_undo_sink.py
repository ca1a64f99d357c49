"""The aiomysql sink against MariaDB: transactions, session settings, retries, refusals."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import aiomysql
import pytest

from app.sink.mysql import MySQLSink, SinkError, Step
from app.undo.sqlgen import Dialect, Statement
from core.urls import MySQLTarget

pytestmark = pytest.mark.integration


def _st(sql: str, *params: object) -> Statement:
    return Statement(sql, tuple(params), "replace", 1, 1, 2)  # type: ignore[arg-type]


async def _admin(db: Any) -> Any:
    return await aiomysql.connect(**db.connect_kwargs(), autocommit=True)


async def _rows(conn: Any, sql: str) -> list[tuple[Any, ...]]:
    async with conn.cursor() as cur:
        await cur.execute(sql)
        return list(await cur.fetchall())


def _sink(db: Any, **kw: Any) -> MySQLSink:
    url = MySQLTarget(db.host, db.port, db.user, db.password, db.db)
    return MySQLSink(url, dialect=Dialect.MYSQL, retries=5, backoff_s=0.05, **kw)


async def test_transaction_with_fk_checks_off_and_session_time_zone(mysql_db: Any) -> None:
    admin = await _admin(mysql_db)
    sink = _sink(mysql_db, time_zone="+05:00")
    try:
        async with admin.cursor() as cur:
            await cur.execute("CREATE TABLE p (id INT PRIMARY KEY) ENGINE=InnoDB")
            await cur.execute(
                "CREATE TABLE c (id INT PRIMARY KEY, pid INT, ts TIMESTAMP NULL, "
                "FOREIGN KEY (pid) REFERENCES p(id)) ENGINE=InnoDB"
            )
        d = mysql_db.db
        await sink.apply(
            [
                _st(
                    f"REPLACE INTO `{d}`.`c` (`id`,`pid`,`ts`) VALUES (%s,%s,%s),(%s,%s,%s)",
                    1,
                    10,
                    "2024-01-01 05:00:00",
                    2,
                    20,
                    None,
                ),
                _st(f"DELETE FROM `{d}`.`c` WHERE `id` IN (%s)", 2),
            ]
        )
        # the child row exists without its parent: foreign_key_checks=0 in the sink session
        got = await _rows(admin, "SELECT id, pid, UNIX_TIMESTAMP(ts) FROM c ORDER BY id")
        assert got == [(1, 10, 1704067200)]  # 05:00 at +05:00 is midnight UTC
        assert sink.transactions == 1 and sink.retried == 0
    finally:
        await sink.close()
        admin.close()


async def test_lost_connection_is_retried_and_the_transaction_lands_once(mysql_db: Any) -> None:
    admin = await _admin(mysql_db)
    locker = await aiomysql.connect(**mysql_db.connect_kwargs(), autocommit=False)
    sink = _sink(mysql_db)
    try:
        async with admin.cursor() as cur:
            await cur.execute("CREATE TABLE t (id INT PRIMARY KEY, v INT) ENGINE=InnoDB")
            await cur.execute("INSERT INTO t VALUES (1, 0)")
        async with locker.cursor() as cur:
            await cur.execute("SELECT * FROM t WHERE id = 1 FOR UPDATE")
        d = mysql_db.db
        stmts = [
            _st(f"REPLACE INTO `{d}`.`t` (`id`,`v`) VALUES (%s,%s)", 2, 2),
            _st(f"REPLACE INTO `{d}`.`t` (`id`,`v`) VALUES (%s,%s)", 1, 1),  # blocks on the lock
        ]
        task = asyncio.create_task(sink.apply(stmts))
        victim = None
        async with asyncio.timeout(20):
            while victim is None:
                rows = await _rows(
                    admin,
                    "SELECT id FROM information_schema.processlist "
                    f"WHERE db = '{d}' AND info LIKE 'REPLACE INTO%%(1,1)%%'",
                )
                victim = rows[0][0] if rows else None
                await asyncio.sleep(0.05)
        async with admin.cursor() as cur:
            await cur.execute(f"KILL CONNECTION {int(victim)}")  # the sink loses its connection
        await asyncio.sleep(0.2)
        await locker.commit()  # release: the retry goes through
        await asyncio.wait_for(task, 20)
        assert sink.retried >= 1 and sink.transactions == 1
        assert await _rows(admin, "SELECT id, v FROM t ORDER BY id") == [(1, 1), (2, 2)]
    finally:
        await sink.close()
        locker.close()
        admin.close()


async def test_non_retriable_error_is_a_sink_error_without_retries(mysql_db: Any) -> None:
    sink = _sink(mysql_db)
    admin = await _admin(mysql_db)
    try:
        async with admin.cursor() as cur:
            await cur.execute("CREATE TABLE t (id INT PRIMARY KEY) ENGINE=InnoDB")
        d = mysql_db.db
        with pytest.raises(SinkError, match=r"refused .*missing"):
            await sink.apply(
                [
                    _st(f"REPLACE INTO `{d}`.`t` (`id`) VALUES (%s)", 1),
                    _st(f"REPLACE INTO `{d}`.`missing` (`id`) VALUES (%s)", 1),
                ]
            )
        assert sink.retried == 0
        assert await _rows(admin, "SELECT id FROM t") == []  # rolled back as one transaction
    finally:
        await sink.close()
        admin.close()


async def test_a_step_is_applied_exactly_once_even_by_two_sinks(mysql_db: Any) -> None:
    admin = await _admin(mysql_db)
    a, b = _sink(mysql_db, progress_db=mysql_db.db), _sink(mysql_db, progress_db=mysql_db.db)
    try:
        async with admin.cursor() as cur:
            await cur.execute("CREATE TABLE t (v INT) ENGINE=InnoDB")  # no key: INSERT repeats
        d = mysql_db.db
        step = Step("job", 3, 77, 1, "1x1x1", 0)
        assert await a.committed(step) == 0
        ins = [_st(f"INSERT INTO `{d}`.`t` (`v`) VALUES (%s)", 1)]
        assert await a.apply(ins, dataclasses.replace(step, n=1)) is True
        assert await a.apply(ins, dataclasses.replace(step, n=1)) is False  # a replay
        # two appliers of the same partition race for step 2: one wins, one skips
        two = [_st(f"INSERT INTO `{d}`.`t` (`v`) VALUES (%s)", 2)]
        s2 = dataclasses.replace(step, n=2)
        results = await asyncio.gather(a.apply(two, s2), b.apply(two, s2))
        assert sorted(results) == [False, True]
        assert await b.committed(step) == 2
        assert await b.committed(dataclasses.replace(step, phase=0)) == 0  # its own counter
        assert await _rows(admin, "SELECT v FROM t ORDER BY v") == [(1,), (2,)]
    finally:
        await a.close()
        await b.close()
        admin.close()


async def test_rowid_phase1_delete_that_misses_its_row_fails_the_transaction(
    mysql_db: Any,
) -> None:
    """Downstream not at E (a foreign write, or a match that cannot hit): refuse, roll back.

    A phase-1 delete of a ``_tidb_rowid`` table names one row at E; matching nothing means the
    phase-2 insert would add the T image next to a row that should have gone, and the job
    would report success with a table that is not at T.
    """
    from app.undo.model import Identity, MountedRow, TableSpec
    from app.undo.plan import plan_table
    from app.undo.sqlgen import plan_statements

    admin = await _admin(mysql_db)
    sink = _sink(mysql_db)
    try:
        async with admin.cursor() as cur:
            await cur.execute("CREATE TABLE r (u INT NULL UNIQUE, v CHAR(4)) ENGINE=InnoDB")
            await cur.execute("CREATE TABLE k (u INT NOT NULL UNIQUE, v INT) ENGINE=InnoDB")
            await cur.execute("INSERT INTO r VALUES (NULL, 'e1'), (NULL, 'x')")
            await cur.execute("INSERT INTO k VALUES (1, 1), (3, 3)")
        d = mysql_db.db
        r = TableSpec(d, "r", ("u", "v"), Identity.ROWID, unique_keys=(("u",),))
        k = TableSpec(d, "k", ("u", "v"), Identity.ROWID, unique_keys=(("u",),))
        rows_r = [  # E images: one present, one that a foreign write changed
            MountedRow(1, {"u": None, "v": "t1"}, {"u": None, "v": "e1"}, 5, 6),
            MountedRow(2, {"u": None, "v": "t2"}, {"u": None, "v": "e2"}, 5, 6),
        ]
        rows_k = [
            MountedRow(1, {"u": 1, "v": 0}, {"u": 1, "v": 1}, 5, 6),
            MountedRow(2, {"u": 2, "v": 0}, {"u": 2, "v": 2}, 5, 6),  # gone downstream
        ]
        for spec, rows in ((r, rows_r), (k, rows_k)):
            phase0, _ = plan_statements(plan_table(spec, rows))
            with pytest.raises(SinkError, match=r"changed [01] row\(s\), expected [12]\b"):
                await sink.apply(list(phase0))
        assert await _rows(admin, "SELECT u, v FROM r ORDER BY v") == [(None, "e1"), (None, "x")]
        assert await _rows(admin, "SELECT u, v FROM k ORDER BY u") == [(1, 1), (3, 3)]
    finally:
        await sink.close()
        admin.close()


async def test_rowid_all_column_delete_tells_json_int_from_double(mysql_db: Any) -> None:
    from app.undo.model import Identity, MountedRow, TableSpec
    from app.undo.plan import plan_table
    from app.undo.sqlgen import plan_statements

    admin = await _admin(mysql_db)
    sink = _sink(mysql_db)
    try:
        async with admin.cursor() as cur:
            await cur.execute("CREATE TABLE jr (n INT, j JSON) ENGINE=InnoDB")
            # at E: an unchanged row (1, 1) and the changed row's E image (1, 1.0)
            await cur.execute("INSERT INTO jr VALUES (1, '1'), (1, '1.0')")
        spec = TableSpec(
            mysql_db.db, "jr", ("n", "j"), Identity.ROWID, json_columns=frozenset({"j"})
        )
        rows = [MountedRow(2, {"n": 1, "j": "x"}, {"n": 1, "j": 1.0}, 5, 6)]
        for phase in plan_statements(plan_table(spec, rows), dialect=Dialect.MYSQL):
            await sink.apply(list(phase))
        got = await _rows(admin, "SELECT n, j FROM jr ORDER BY j")
        assert got == [(1, '"x"'), (1, "1")]
    finally:
        await sink.close()
        admin.close()


async def test_rowid_all_column_delete_tells_json_null_from_sql_null(mysql_db: Any) -> None:
    """JSON null twins, SQL NULL twins, ``[1]`` vs ``[1.0]`` and U+2028: each delete takes
    exactly the row whose stored JSON is the ``E`` image, and the inserts bring back ``T``."""
    from app.undo.model import Identity, MountedRow, TableSpec
    from app.undo.plan import plan_table
    from app.undo.sqlgen import plan_statements
    from core.codec.jsonbin import JSON_NULL, json_to_text

    admin = await _admin(mysql_db)
    sink = _sink(mysql_db)
    try:
        async with admin.cursor() as cur:
            await cur.execute("CREATE TABLE jn (n INT, j JSON) ENGINE=InnoDB")
            # at E, as TiDB renders each value (what the stand-in workload writes)
            at_e = [
                (1, JSON_NULL), (1, JSON_NULL), (1, None), (1, None),
                (2, [1]), (2, [1.0]), (3, "a\u2028b"), (3, "a\u2029b"),
            ]  # fmt: skip
            await cur.executemany(
                "INSERT INTO jn VALUES (%s, %s)",
                [(n, None if j is None else json_to_text(j)) for n, j in at_e],
            )
        spec = TableSpec(
            mysql_db.db, "jn", ("n", "j"), Identity.ROWID, json_columns=frozenset({"j"})
        )
        rows = [
            MountedRow(1, {"n": 1, "j": None}, {"n": 1, "j": JSON_NULL}, 5, 6),  # JSON → SQL
            MountedRow(2, {"n": 1, "j": JSON_NULL}, {"n": 1, "j": None}, 5, 6),  # SQL → JSON
            MountedRow(3, None, {"n": 2, "j": [1.0]}, 5, 6),  # added after T
            MountedRow(4, {"n": 9, "j": "x"}, {"n": 3, "j": "a\u2028b"}, 5, 6),
        ]
        for phase in plan_statements(plan_table(spec, rows), dialect=Dialect.MYSQL):
            await sink.apply(list(phase))
        got = await _rows(admin, "SELECT n, j FROM jn ORDER BY n, j")
        assert got == [
            (1, None), (1, None), (1, "null"), (1, "null"),
            (2, "[1]"), (3, '"a\\u2029b"'), (9, '"x"'),
        ]  # fmt: skip
    finally:
        await sink.close()
        admin.close()


async def test_phase1_row_deletes_share_round_trips_and_keep_their_row_checks(
    mysql_db: Any,
) -> None:
    """300 all-column ``LIMIT 1`` deletes (twins included) go in a few multi-statement requests.

    Each still removes exactly one row; a miss in the last request rolls every request back.
    """
    from app.sink.mysql import _requests
    from app.undo.model import Identity, MountedRow, TableSpec
    from app.undo.plan import plan_table
    from app.undo.sqlgen import plan_statements

    admin = await _admin(mysql_db)
    sink = _sink(mysql_db, request_bytes=8192)
    try:
        async with admin.cursor() as cur:
            await cur.execute("CREATE TABLE r (a INT NOT NULL, v VARCHAR(8)) ENGINE=InnoDB")
            # rows 0..149 once and 150..299 twice: every delete must take exactly one twin
            vals = [(i, f"v{i}") for i in range(300)] + [(i, f"v{i}") for i in range(150, 300)]
            await cur.executemany("INSERT INTO r VALUES (%s, %s)", vals)
        spec = TableSpec(mysql_db.db, "r", ("a", "v"), Identity.ROWID)
        rows = [MountedRow(i, None, {"a": i, "v": f"v{i}"}, 5, 6) for i in range(300)]
        phase0, _ = plan_statements(plan_table(spec, rows))
        assert len(phase0) == 300 and all(st.expect_rows == 1 for st in phase0)
        groups = _requests(list(phase0), 8192)
        assert 1 < len(groups) < 300 and [s for g in groups for s in g] == list(phase0)

        miss = MountedRow(999, None, {"a": 999, "v": "v999"}, 5, 6)  # not downstream
        bad, _ = plan_statements(plan_table(spec, [*rows, miss]))
        with pytest.raises(SinkError, match=r"changed 0 row\(s\), expected 1"):
            await sink.apply(list(bad))
        assert (await _rows(admin, "SELECT COUNT(*) FROM r"))[0][0] == 450  # rolled back

        assert await sink.apply(list(phase0))
        assert await _rows(admin, "SELECT a, COUNT(*) FROM r GROUP BY a ORDER BY a") == [
            (i, 1) for i in range(150, 300)
        ]
    finally:
        await sink.close()
        admin.close()
