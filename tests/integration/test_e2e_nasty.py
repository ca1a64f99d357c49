"""End to end with hand-written histories the random workload does not draw.

Same rig as ``test_e2e_undo`` (fake cluster → ingest → ``<job>.kv`` → two Faust workers →
MariaDB), but every change is scripted so each table holds one awkward case:

- ``wide``: rows over 64 KiB (TiDB's large row format), BLOBs of 0x00/0xFF runs, wide↔narrow;
- ``dupes``: ``_tidb_rowid`` rows identical in every column, one deleted, one changed, one added;
- ``nulluk``: ``_tidb_rowid`` table whose only unique key is nullable, NULLs moving in and out;
- ``flt``: ``_tidb_rowid`` table with FLOAT/DOUBLE/JSON and a nullable unique key, rows added
  after T with the key NULL (the undo must find them by every column, FLOAT included);
- ``untouched`` (no change after T) and ``wiped`` (every row deleted after T);
- a table and columns whose names hold a backtick, ``%``, non-ASCII letters and reserved words;
- extremes: BIGINT UNSIGNED handle at 2^63 and 2^64-1, BIT(64) all ones, YEAR 0.

And a job whose window holds no change at all must still end SUCCEEDED with nothing undone.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiomysql
import pytest

from app.cli.jobstate import delete_job_topics
from core.codec.jsonbin import JSON_NULL, JsonUint
from ingest.worker import IngestWorker, run_ingest
from proto import tiundo_pb2
from simulator.cluster import FakeCluster
from simulator.regions import record_key
from simulator.tabledef import ColumnDef, IndexDef, TableDef
from simulator.tso import compose, physical
from simulator.workload import Delete, Insert, RowOp, Update, Workload, WorkloadConfig, _apply

from .faust_undo_harness import undo_with_two_workers
from .ingest_harness import Env, cluster_env, delete_topics
from .test_e2e_undo import PARTITIONS, SOAK, _assert_same_as_t, _settings

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

WEIRD = "we`ird%名"


def _tables(db: str) -> tuple[TableDef, ...]:
    c = ColumnDef
    return (
        TableDef(
            db, "wide",
            (c("id", "int", nullable=False), c("b1", "blob"), c("b2", "blob"), c("t", "text")),
            primary_key=("id",),
        ),
        TableDef(db, "dupes", (c("a", "int"), c("b", "varchar", length=8))),
        TableDef(
            db, "nulluk", (c("u", "int"), c("v", "varchar", length=8)),
            indexes=(IndexDef("uk_u", ("u",), unique=True),),
        ),
        TableDef(
            db, "flt",
            (c("id", "bigint", nullable=False), c("u", "int"), c("f", "float"),
             c("d", "double"), c("j", "json")),
            indexes=(IndexDef("uk_id", ("id",), unique=True), IndexDef("uk_u", ("u",), True)),
        ),
        TableDef(db, "untouched", (c("id", "int", nullable=False), c("v", "int")),
                 primary_key=("id",)),
        TableDef(db, "wiped", (c("id", "int", nullable=False), c("v", "varchar", length=8)),
                 primary_key=("id",)),
        TableDef(
            db, WEIRD,
            (c("key`%", "int", nullable=False), c("order", "varchar", length=16),
             c("ü", "decimal", length=10, scale=0)),
            primary_key=("key`%", "order"),
        ),
        TableDef(
            db, "extremes",
            (c("id", "bigint", unsigned=True, nullable=False), c("bits", "bit", length=64),
             c("y", "year"), c("big", "bigint")),
            primary_key=("id",),
        ),
    )  # fmt: skip


class Script:
    """Scripted row operations applied to MariaDB and the MVCC store in step."""

    def __init__(self, w: Workload) -> None:
        self.w = w

    def _t(self, table: str) -> Any:
        return self.w._tables[table]

    def ins(self, table: str, **row: Any) -> Insert:
        t = self._t(table)
        ident = t.next_rowid if t.tdef.uses_rowid else t.ident_of(row)
        op = Insert(table, ident, row)
        _apply(self.w._tables, op)
        return op

    def upd(self, table: str, ident: Any, **changes: Any) -> Update:
        t = self._t(table)
        old = dict(t.rows[ident])
        new = {**old, **changes}
        op = Update(table, ident, ident if t.tdef.uses_rowid else t.ident_of(new), old, new)
        _apply(self.w._tables, op)
        return op

    def dele(self, table: str, ident: Any) -> Delete:
        op = Delete(table, ident, dict(self._t(table).rows[ident]))
        _apply(self.w._tables, op)
        return op

    async def txn(self, *ops: RowOp) -> None:
        await self.w._run(list(ops))


@contextlib.asynccontextmanager
async def nasty_env(
    mysql_db: Any, tables: tuple[TableDef, ...] | None = None, *, new_collation: bool = True
) -> AsyncIterator[Env]:
    cluster = FakeCluster(stores=3, regions_per_table=2, resolved_ts_interval=0.05, handle_step=20)
    await cluster.start()
    conn = await aiomysql.connect(**mysql_db.connect_kwargs(), autocommit=False)
    sp_db = f"{mysql_db.db}_cdc"[:64]
    try:
        cfg = WorkloadConfig(
            seed=5, syncpoint_db=sp_db, initial_rows=0, new_collation=new_collation
        )
        tdefs = tables if tables is not None else _tables(mysql_db.db)
        w = Workload(conn, mysql_db.db, cluster.mvcc, cluster.catalog, cfg, tdefs)
        await w.setup()
        yield Env(cluster, w, conn, mysql_db.db, sp_db, mysql_db.url)
    finally:
        conn.close()
        admin = await aiomysql.connect(**mysql_db.connect_kwargs(), autocommit=True)
        try:
            async with admin.cursor() as cur:
                await cur.execute(f"DROP DATABASE IF EXISTS `{sp_db}`")
        finally:
            admin.close()
        await cluster.stop()


def _blob(n: int, pattern: bytes) -> bytes:
    return (pattern * (n // len(pattern) + 1))[:n]


async def _before_t(s: Script) -> dict[str, Any]:
    """Rows at T; returns the identities the later script needs."""
    ids: dict[str, Any] = {}
    await s.txn(
        s.ins("wide", id=1, b1=_blob(60_000, b"\x00\xff"), b2=_blob(30_000, b"\xff\x00\x00"),
              t="é" * 5000),
        s.ins("wide", id=2, b1=b"\x00", b2=None, t=""),
        s.ins("wide", id=3, b1=_blob(65_535, b"\xff"), b2=_blob(65_535, b"\x00"), t=None),
    )  # fmt: skip
    dupes = [s.ins("dupes", a=1, b="x") for _ in range(3)]
    dupes.append(s.ins("dupes", a=2, b="y"))
    dupes.append(s.ins("dupes", a=None, b=None))
    dupes.append(s.ins("dupes", a=None, b=None))
    await s.txn(*dupes)
    ids["dupes"] = [op.ident for op in dupes]
    nulls = [
        s.ins("nulluk", u=None, v="n1"),
        s.ins("nulluk", u=None, v="n1"),
        s.ins("nulluk", u=1, v="one"),
        s.ins("nulluk", u=None, v=None),
    ]
    await s.txn(*nulls)
    ids["nulluk"] = [op.ident for op in nulls]
    flt = [s.ins("flt", id=i, u=i, f=0.5 * i, d=1e-300 * i, j={"i": i}) for i in (1, 2)]
    await s.txn(*flt)
    ids["flt"] = [op.ident for op in flt]
    await s.txn(*(s.ins("untouched", id=i, v=i) for i in range(1, 4)))
    await s.txn(*(s.ins("wiped", id=i, v=f"w{i}") for i in range(1, 6)))
    await s.txn(
        s.ins(WEIRD, **{"key`%": 1, "order": "a%b`c", "ü": Decimal("12")}),
        s.ins(WEIRD, **{"key`%": 2, "order": "中文", "ü": None}),
    )
    await s.txn(
        s.ins("extremes", id=(1 << 63), bits=(1 << 64) - 1, y=2155, big=-(1 << 63)),
        s.ins("extremes", id=(1 << 64) - 1, bits=0, y=1901, big=(1 << 63) - 1),
        s.ins("extremes", id=(1 << 63) - 1, bits=1 << 63, y=None, big=0),
    )
    return ids


async def _after_t(s: Script, ids: dict[str, Any]) -> None:
    d, n, f = ids["dupes"], ids["nulluk"], ids["flt"]
    await s.txn(
        s.upd("wide", 1, b1=b"", t="narrow"),
        s.upd("wide", 2, b1=_blob(65_535, b"\x00\xff\xfe"), b2=_blob(50_000, b"\xff")),
        s.dele("wide", 3),
        s.ins("wide", id=4, b1=_blob(65_000, b"\x00"), b2=_blob(65_000, b"\xff"), t="x" * 60_000),
    )
    await s.txn(s.dele("dupes", d[0]), s.upd("dupes", d[1], b="z"), s.ins("dupes", a=1, b="x"))
    await s.txn(s.dele("dupes", d[4]), s.ins("dupes", a=None, b="y"), s.ins("dupes", a=2, b="y"))
    await s.txn(s.upd("nulluk", n[0], u=5), s.upd("nulluk", n[2], u=None))
    await s.txn(
        s.dele("nulluk", n[3]), s.ins("nulluk", u=1, v="n1"), s.ins("nulluk", u=None, v=None)
    )
    await s.txn(
        s.ins("flt", id=10, u=None, f=0.1, d=0.1, j={"k": [1, "a", None]}),
        s.ins("flt", id=11, u=None, f=-3.4028234663852886e38, d=-0.0, j=None),
        s.upd("flt", f[0], u=None, f=1.401298464324817e-45),
        s.dele("flt", f[1]),
    )
    await s.txn(*(s.dele("wiped", i) for i in range(1, 6)))
    await s.txn(
        s.upd(WEIRD, (1, "a%b`c"), **{"order": "z"}),
        s.upd(WEIRD, (2, "中文"), **{"ü": Decimal("-9999999999")}),
        s.ins(WEIRD, **{"key`%": 3, "order": "%%", "ü": Decimal("0")}),
    )
    await s.txn(
        s.upd("extremes", 1 << 63, bits=0, y=0),
        s.dele("extremes", (1 << 64) - 1),
        s.ins("extremes", id=(1 << 63) + 1, bits=(1 << 64) - 1, y=0, big=None),
    )


async def _undo(
    env: Env, kafka: str, job: str, mysql_db: Any, sp: Any, tmp_path: Path, **extra: str
) -> tiundo_pb2.JobStatus:
    cfg = env.config(kafka, job, partitions=PARTITIONS)
    result = await run_ingest(cfg, lambda _p: None)
    assert result.state == "done", result
    assert result.target_ts == sp.ts
    settings = _settings(
        env, kafka, job, mysql_db, sp, TIUNDO_BATCH_ROWS="2", TIUNDO_TXN_STATEMENTS="2", **extra
    )
    try:
        status = await undo_with_two_workers(kafka, job, settings, tmp_path)
        assert status.target_ts == sp.ts and status.end_ts == result.end_ts
        return status
    finally:
        await delete_topics(kafka, [f"{job}.kv"])
        await delete_job_topics(kafka, job)


async def test_scripted_edge_cases_undone(
    mysql_db: Any, kafka_bootstrap: str, tmp_path: Path
) -> None:
    job = f"nasty-{uuid.uuid4().hex[:6]}"
    async with nasty_env(mysql_db) as env:
        s = Script(env.workload)
        ids = await _before_t(s)
        sp = await env.workload.take_syncpoint()
        await _after_t(s, ids)
        before = await env.workload.checksums()
        changed = {n for n in before if before[n].digest != sp.checksums[n].digest}
        assert changed == set(sp.checksums) - {"untouched"}, changed
        status = await _undo(env, kafka_bootstrap, job, mysql_db, sp, tmp_path)
        by_name: Mapping[str, Any] = {t.table_name: t for t in status.tables}
        assert by_name["wiped"].restored == 5 and by_name["wiped"].deleted == 0
        assert "untouched" not in by_name or by_name["untouched"].restored == 0
        after = await env.workload.checksums()
        _assert_same_as_t(env.workload, after, sp.checksums)


async def test_empty_window_succeeds_with_nothing_undone(
    mysql_db: Any, kafka_bootstrap: str, tmp_path: Path
) -> None:
    job = f"empty-{uuid.uuid4().hex[:6]}"
    async with nasty_env(mysql_db) as env:
        s = Script(env.workload)
        await _before_t(s)
        sp = await env.workload.take_syncpoint()
        status = await _undo(env, kafka_bootstrap, job, mysql_db, sp, tmp_path)
        assert sum(t.restored + t.deleted for t in status.tables) == 0, status
        after = await env.workload.checksums()
        _assert_same_as_t(env.workload, after, sp.checksums)


def _json_tables(db: str) -> tuple[TableDef, ...]:
    c = ColumnDef
    return (
        TableDef(db, "jpk", (c("id", "int", nullable=False), c("j", "json")), primary_key=("id",)),
        TableDef(db, "jtwin", (c("n", "int"), c("j", "json"))),  # _tidb_rowid, no key
    )


async def test_json_null_and_json_types_undone(
    mysql_db: Any, kafka_bootstrap: str, tmp_path: Path
) -> None:
    """JSON null is not SQL NULL, and a JSON value keeps its kind, through the whole undo.

    ``jpk`` (primary key): JSON null at T and SQL NULL at E and back, uint64 numbers, a double
    that replaced an int, U+2028. ``jtwin`` (no key, all-column deletes): JSON null and SQL
    NULL twins, ``1`` next to a ``1.0`` added after T, U+2028 strings.
    """
    job = f"jnull-{uuid.uuid4().hex[:6]}"
    async with nasty_env(mysql_db, _json_tables(mysql_db.db)) as env:
        s = Script(env.workload)
        big = JsonUint(2**64 - 1)
        await s.txn(
            s.ins("jpk", id=1, j=JSON_NULL),
            s.ins("jpk", id=2, j=None),
            s.ins("jpk", id=3, j=big),
            s.ins("jpk", id=4, j={"u": JsonUint(5), "i": 5, "n": None}),
            s.ins("jpk", id=5, j="a\u2028b"),
            s.ins("jpk", id=6, j=1),
        )
        tw = [
            s.ins("jtwin", n=1, j=JSON_NULL),
            s.ins("jtwin", n=1, j=JSON_NULL),
            s.ins("jtwin", n=1, j=None),
            s.ins("jtwin", n=1, j=None),
            s.ins("jtwin", n=2, j=1),
            s.ins("jtwin", n=2, j="x"),
            s.ins("jtwin", n=3, j="a\u2028b"),
            s.ins("jtwin", n=3, j="a\u2028b"),
        ]
        await s.txn(*tw)
        sp = await env.workload.take_syncpoint()
        t = [op.ident for op in tw]
        await s.txn(
            s.upd("jpk", 1, j=None),
            s.upd("jpk", 2, j=JSON_NULL),
            s.upd("jpk", 3, j=1.0),
            s.upd("jpk", 4, j={"u": 5, "i": 5.0, "n": None}),
            s.dele("jpk", 5),
            s.upd("jpk", 6, j=1.0),
        )
        await s.txn(
            s.upd("jtwin", t[0], j=None),  # now 3 SQL NULL rows and one JSON null
            s.upd("jtwin", t[2], j=JSON_NULL),  # and back to 2 + 2, other rows than at T
            s.upd("jtwin", t[5], j=1.0),  # next to the unchanged 1
            s.dele("jtwin", t[6]),  # one U+2028 twin
            s.ins("jtwin", n=1, j=JSON_NULL),
        )
        before = await env.workload.checksums()
        assert all(before[n].digest != sp.checksums[n].digest for n in ("jpk", "jtwin"))
        await _undo(env, kafka_bootstrap, job, mysql_db, sp, tmp_path)
        after = await env.workload.checksums()
        _assert_same_as_t(env.workload, after, sp.checksums)
        async with env.conn.cursor() as cur:
            await cur.execute(f"SELECT id, j FROM `{mysql_db.db}`.jpk ORDER BY id")
            jpk = await cur.fetchall()
            await cur.execute(f"SELECT n, j FROM `{mysql_db.db}`.jtwin ORDER BY n, j")
            jtwin = await cur.fetchall()
        await env.conn.commit()
        # the text TiDB renders for each value at T (MariaDB cannot keep uint64 apart)
        assert jpk == (
            (1, "null"), (2, None), (3, "18446744073709551615"),
            (4, '{"i": 5, "n": null, "u": 5}'), (5, '"a\\u2028b"'), (6, "1"),
        )  # fmt: skip
        assert jtwin == (
            (1, None), (1, None), (1, "null"), (1, "null"),
            (2, '"x"'), (2, "1"), (3, '"a\\u2028b"'), (3, '"a\\u2028b"'),
        )  # fmt: skip


def _collation_tables(db: str) -> tuple[TableDef, ...]:
    c = ColumnDef
    return (
        TableDef(db, "cvs", (c("k", "varchar", length=16, nullable=False), c("v", "int")),
                 primary_key=("k",)),
        TableDef(
            db, "cci",
            (c("k", "varchar", length=16, nullable=False, collate="utf8mb4_general_ci"),
             c("n", "int", nullable=False), c("v", "varchar", length=8)),
            primary_key=("k", "n"),
        ),
        TableDef(db, "cch", (c("k", "char", length=8, nullable=False), c("v", "text")),
                 primary_key=("k",)),
    )  # fmt: skip


async def test_clustered_string_pk_with_new_collation_off_undone(
    mysql_db: Any, kafka_bootstrap: str, tmp_path: Path
) -> None:
    """A cluster bootstrapped before v6.0 (new collation off) keeps clustered string PK values
    only in the key, for every collation (``_bin`` VARCHAR, ``_ci``, CHAR): each row, moved PK
    values and trailing spaces included, must come back exactly at T."""
    job = f"coll-{uuid.uuid4().hex[:6]}"
    async with nasty_env(mysql_db, _collation_tables(mysql_db.db), new_collation=False) as env:
        s = Script(env.workload)
        await s.txn(
            s.ins("cvs", k="alpha", v=1), s.ins("cvs", k="b ", v=2), s.ins("cvs", k="中文", v=3),
            s.ins("cci", k="Mixed", n=1, v="x"), s.ins("cci", k="lower", n=2, v=None),
            s.ins("cch", k="c1", v="one"), s.ins("cch", k="c2", v="two"),
        )  # fmt: skip
        sp = await env.workload.take_syncpoint()
        await s.txn(
            s.upd("cvs", ("alpha",), v=10),
            s.upd("cvs", ("b ",), k="moved"),
            s.dele("cvs", ("中文",)),
            s.ins("cvs", k="new", v=4),
        )
        await s.txn(
            s.upd("cci", ("Mixed", 1), v="y"),
            s.upd("cci", ("lower", 2), k="Other", n=3),
            s.dele("cch", ("c1",)),
            s.upd("cch", ("c2",), v="changed"),
            s.ins("cch", k="c3", v="three"),
        )
        before = await env.workload.checksums()
        assert all(before[n].digest != sp.checksums[n].digest for n in ("cvs", "cci", "cch"))
        await _undo(env, kafka_bootstrap, job, mysql_db, sp, tmp_path, TIUNDO_NEW_COLLATION="off")
        after = await env.workload.checksums()
        _assert_same_as_t(env.workload, after, sp.checksums)


async def _write_until(env: Env, stop_ts: int) -> int:
    """Random transactions while the TSO is below ``stop_ts``; returns how many."""
    n = 0
    while env.cluster.tso.next() < stop_ts:
        await env.workload.run(1)
        n += 1
        await asyncio.sleep(0.01)
    return n


@pytest.mark.parametrize("seed", [77] + [2000 + i for i in range(SOAK)])
async def test_undo_after_ingest_under_combined_faults(
    mysql_db: Any, kafka_bootstrap: str, tmp_path: Path, seed: int
) -> None:
    """Split during the scan, live split, leader moves and duplicated events in one ingest run;
    live commits inside the window; the tables must still end at T."""
    job = f"faults-{uuid.uuid4().hex[:6]}"
    async with cluster_env(
        mysql_db, seed=seed, rows=30, response_max_bytes=4_000
    ) as env:  # small responses: every scan takes several messages
        w = env.workload
        await w.run(15)
        sp = await w.take_syncpoint()
        await w.run(40)
        end_ts = compose(physical(env.cluster.tso.next()) + 1500, 0)
        pids = env.physical_ids()
        first = env.cluster.regions.locate_raw(record_key(pids[0], 1))
        env.cluster.faults.split_during_scan(first.id, record_key(pids[0], 40_000))
        env.cluster.faults.slow_scan(0.01)
        cfg = env.config(kafka_bootstrap, job, partitions=PARTITIONS, end_ts=end_ts)
        ingest = IngestWorker(cfg)
        task = asyncio.create_task(ingest.run())
        writer = asyncio.create_task(_write_until(env, compose(physical(end_ts) - 300, 0)))
        try:
            await asyncio.sleep(0.3)
            env.cluster.faults.duplicate_events(True)
            for pid in pids[1:3]:
                region = env.cluster.regions.locate_raw(record_key(pid, 5))
                env.cluster.faults.split(region.id, record_key(pid, 5))
            for region in env.cluster.regions.all():
                env.cluster.faults.move_leader(region.id)
            assert await writer > 0
            result = await asyncio.wait_for(task, 60)
            env.cluster.faults.clear()
            assert result.state == "done", result
            assert result.end_ts == end_ts and result.target_ts == sp.ts
            seen = result.region_errors
            assert seen.get("not_leader", 0) > 0, seen
            assert seen.get("epoch_not_match", 0) + seen.get("region_not_found", 0) > 0, seen
            now = await w.checksums()
            assert now != dict(sp.checksums)
            settings = _settings(env, kafka_bootstrap, job, mysql_db, sp)
            await undo_with_two_workers(kafka_bootstrap, job, settings, tmp_path)
            _assert_same_as_t(w, await w.checksums(), sp.checksums)
        finally:
            task.cancel()
            writer.cancel()
            await asyncio.gather(task, writer, return_exceptions=True)
            await delete_topics(kafka_bootstrap, [f"{job}.kv"])
            await delete_job_topics(kafka_bootstrap, job)
