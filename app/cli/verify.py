"""``tiundo verify``: re-read the tables and compare them with their state at T.

Two sources for "the state at T" (a dialect switch):

- ``--expect FILE`` (the fake cluster and MariaDB; what the demo and the tests use): the
  per-table row digests and ``CHECKSUM TABLE`` values recorded when T was taken (JSON, written
  by ``scripts/demo.py``: ``{"db", "target_ts", "tables": {name: {"rows", "digest",
  "checksum"}}}``). The digests are :mod:`core.digest`'s order-free row digests;
  ``CHECKSUM TABLE`` must match too, except on tables with JSON columns (see
  :func:`_has_json`).
- TiDB without ``--expect``: a snapshot read at T (``SET @@tidb_snapshot = T``) gives each
  table's digest at T, compared with the digest read now. **Not exercised by the test suite**
  (MariaDB has no snapshot reads); it needs GC not to have passed T, which the job ensured.

Table schemas (for the canonical row text) come from the status API.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from app.cli.common import (
    CLI_ENV,
    EXIT_FAILED,
    Settings,
    UnreachableError,
    cluster_options,
    log_options,
    run_command,
    start_logging,
    window_options,
)
from app.cli.output import document, emit, json_errors
from app.config import UndoConfig
from app.sink.connect import connect
from core.codec.mysqldef import TYPE_JSON
from core.codec.tableinfo import TableInfo
from core.digest import checksum_table, mariadb_digest
from core.errors import ConfigError, TransientError
from core.settings import env_name
from core.status_api import StatusApiClient
from core.tls import TlsFiles
from core.urls import parse_mysql_url
from ingest.discover import select_tables

__all__ = ["TableCheck", "load_expect", "verify"]


@dataclass(frozen=True, slots=True)
class TableCheck:
    """One table's verdict."""

    table: str
    expected: str
    actual: str
    checksum_expected: int | None = None
    checksum_actual: int | None = None

    @property
    def ok(self) -> bool:
        """Same rows as at T (and the same CHECKSUM TABLE, when both are known)."""
        same_sum = (
            self.checksum_expected is None
            or self.checksum_actual is None
            or self.checksum_expected == self.checksum_actual
        )
        return self.expected == self.actual and same_sum


def load_expect(path: Path) -> dict[str, Any]:
    """Read and check an ``--expect`` file (``ConfigError`` naming what is wrong)."""
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"--expect {path}: {exc.strerror}") from exc
    except ValueError as exc:
        raise ConfigError(f"--expect {path}: not JSON ({exc})") from exc
    if not isinstance(obj, dict) or not isinstance(obj.get("tables"), dict) or not obj.get("db"):
        raise ConfigError(f"--expect {path}: expected {{'db': ..., 'tables': {{...}}}}")
    return obj


def _tls(s: Settings) -> TlsFiles:
    """The cluster's ``--ca/--cert/--key``, for an ``https://`` status API."""
    return TlsFiles(s.ca, s.cert, s.key)


async def _connect(url: str, timeout_s: float) -> Any:
    try:
        return await connect(parse_mysql_url(url), timeout_s=timeout_s)
    except TransientError as exc:
        raise UnreachableError(str(exc)) from exc


async def _infos(s: Settings, names: list[tuple[str, str]]) -> dict[tuple[str, str], TableInfo]:
    async with StatusApiClient(s.status_api, timeout=s.timeout_s, tls=_tls(s)) as client:
        return {(db, n): TableInfo.from_json(await client.table(db, n)) for db, n in names}


def _has_json(info: TableInfo) -> bool:
    """Whether the table has a JSON column (then ``CHECKSUM TABLE`` cannot decide).

    MariaDB keeps JSON as text, and the undo writes TiDB's canonical text (keys sorted), so
    ``CHECKSUM TABLE`` differs although every value is equal; the row digest compares JSON
    values, so it alone decides for such tables.
    """
    return any(c.type.tp == TYPE_JSON for c in info.sql_columns())


async def _verify_expect(s: Settings, expect: dict[str, Any]) -> list[TableCheck]:
    db = str(expect["db"])
    wanted = sorted(expect["tables"])
    infos = await _infos(s, [(db, n) for n in wanted])
    conn = await _connect(s.downstream, s.timeout_s)
    try:
        out = []
        for name in wanted:
            exp = expect["tables"][name]
            info = infos[(db, name)]
            digest = await mariadb_digest(conn, db, info)
            checksum = None
            if s.dialect == "mysql" and not _has_json(info):
                checksum = await checksum_table(conn, db, name)
            raw_sum = exp.get("checksum")
            out.append(
                TableCheck(
                    f"{db}.{name}",
                    str(exp["digest"]),
                    str(digest),
                    int(raw_sum) if raw_sum is not None else None,
                    checksum,
                )
            )
        return out
    finally:
        conn.close()


async def _verify_snapshot(s: Settings) -> list[TableCheck]:
    """TiDB: digest at T by ``tidb_snapshot`` vs digest now (untested here, see module doc)."""
    target = s.target_ts()
    if target is None:
        raise ConfigError("verify on TiDB needs T (--to-ts/--to-time) or an --expect file")
    async with StatusApiClient(s.status_api, timeout=s.timeout_s, tls=_tls(s)) as client:
        tables = await select_tables(client, s.tables)
    conn = await _connect(s.downstream, s.timeout_s)
    try:
        out = []
        for t in tables:
            info = TableInfo.from_json(t.info)
            async with conn.cursor() as cur:
                await cur.execute("SET @@tidb_snapshot = %s", (str(target),))
            try:
                at_t = await mariadb_digest(conn, t.db, info)
            finally:
                async with conn.cursor() as cur:
                    await cur.execute("SET @@tidb_snapshot = ''")
            now = await mariadb_digest(conn, t.db, info)
            out.append(TableCheck(t.qualified, str(at_t), str(now)))
        return out
    finally:
        conn.close()


def render_checks(checks: list[TableCheck]) -> str:
    """One line per table and a verdict."""
    lines = [f"  {'table':<40} {'rows at T':>10} {'rows now':>10}  result"]
    for c in checks:
        exp_rows, act_rows = c.expected.split(":")[0], c.actual.split(":")[0]
        lines.append(
            f"  {c.table:<40} {exp_rows:>10} {act_rows:>10}  {'ok' if c.ok else 'DIFFERENT'}"
        )
    bad = [c.table for c in checks if not c.ok]
    verdict = (
        f"verify: {len(checks)} table(s) equal to their state at T"
        if not bad
        else f"verify: {len(bad)} of {len(checks)} table(s) differ from T: {', '.join(bad)}"
    )
    return "\n".join([verdict, *lines])


@click.command()
@cluster_options()
@window_options()
@click.option(
    "--expect",
    type=click.Path(path_type=Path),
    envvar=CLI_ENV["expect"],
    show_envvar=True,
    help="checksums at T (JSON from the demo/workload)",
)
@click.option(
    "--dialect",
    envvar=env_name(UndoConfig, "dialect"),
    show_envvar=True,
    type=click.Choice(["tidb", "mysql"]),
    help="tidb: snapshot read at T; mysql: --expect checksums [tidb]",
)
@click.option("--json", "as_json", is_flag=True, help="print the verdict as JSON")
@log_options()
def verify(**params: Any) -> None:  # fmt: skip
    """Compare every table with its state at T; exit 1 if one differs."""
    start_logging(params, job="", role="verify")
    if params["as_json"]:
        json_errors("verify", None)
    s = Settings.from_params(params)
    if not s.downstream:
        raise ConfigError("no downstream (--downstream / TIUNDO_DOWNSTREAM mysql://…)")
    if params["expect"] is not None:
        checks = run_command(_verify_expect(s, load_expect(params["expect"])))
    else:
        if s.dialect != "tidb":
            raise ConfigError("without a TiDB snapshot read, verify needs --expect FILE")
        if not s.tables:
            raise ConfigError("no tables selected (--tables db.t / db.*)")
        checks = run_command(_verify_snapshot(s))
    ok = bool(checks) and all(c.ok for c in checks)
    if params["as_json"]:
        tables = [
            {
                "table": c.table,
                "ok": c.ok,
                "rows_at_t": _rows(c.expected),
                "rows_now": _rows(c.actual),
            }
            for c in checks
        ]
        emit(document("verify", None, 0 if ok else EXIT_FAILED, ok=ok, tables=tables))
    else:
        click.echo(render_checks(checks))
    if not ok:
        raise SystemExit(EXIT_FAILED)


def _rows(digest: str) -> int | None:
    """The row count of a ``rows:checksum`` digest (``None`` when it names none)."""
    head = digest.split(":", 1)[0]
    return int(head) if head.isdigit() else None
