"""The downstream cluster's ``new_collation_enabled``: read once, pinned in the job record.

Why it matters: with new collation off (every cluster bootstrapped before v6.0 without
``new_collations_enabled_on_first_bootstrap``, for ever), TiDB leaves clustered string PK
columns out of the row value and keys them as binary, so their values come from the key; with
it on, most of them are in the value and the key holds only a sort key
(:mod:`core.codec.row`). Decoding with the wrong setting writes wrong keys back.

Where TiDB keeps it: the ``new_collation_enabled`` row of ``mysql.tidb``, read at every start
(pingcap/tidb ``pkg/session`` ``loadCollationParameter``: ``True`` is on, any other value off).
There is no status-API route for it (``/settings`` shows only the bootstrap-time config
``new_collations_enabled_on_first_bootstrap``, which says nothing about an older cluster).

:func:`resolve` turns the ``TIUNDO_NEW_COLLATION`` setting (``auto``/``on``/``off``) into a
bool; ``auto`` reads ``mysql.tidb``. A downstream without that table is not TiDB: with
``--dialect mysql`` (MariaDB standing in for TiDB's SQL layer, tests and demo) the fake
cluster's default, on, is taken; with ``--dialect tidb`` it is refused (exit 3) with the
setting to give.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Final

import pymysql

from app.sink.connect import connect
from core.errors import TransientError, UnsafeToUndoError
from core.urls import MySQLTarget

__all__ = ["NEW_COLLATION_SQL", "parse_flag", "read_new_collation", "resolve"]

log = logging.getLogger(__name__)

NEW_COLLATION_SQL: Final = (
    "SELECT VARIABLE_VALUE FROM mysql.tidb WHERE VARIABLE_NAME = 'new_collation_enabled'"
)
_NO_TABLE: Final = frozenset({1146, 1049})  # table / database does not exist
_DENIED: Final = frozenset({1142, 1044})  # SELECT command denied / access denied to db


def parse_flag(rows: Any, where: str) -> bool:
    """The setting from the query's rows, as TiDB reads it (``True`` = on, anything else off)."""
    if not rows:
        raise UnsafeToUndoError(
            f"{where}: mysql.tidb has no new_collation_enabled row; "
            "set TIUNDO_NEW_COLLATION=on or off"
        )
    value = rows[0][0]
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return str(value) == "True"


def resolve(setting: str, detected: bool | None) -> bool:
    """``on``/``off`` as given; ``auto`` = what the downstream says (``detected``)."""
    if setting == "on":
        return True
    if setting == "off":
        return False
    if detected is None:
        raise ValueError("TIUNDO_NEW_COLLATION=auto needs the downstream's setting")
    return detected


async def read_new_collation(
    target: MySQLTarget, dialect: str, *, connect_timeout_s: float = 10.0
) -> bool:
    """Read ``new_collation_enabled`` from the downstream (see the module docstring).

    :class:`TransientError` when the downstream does not answer; :class:`UnsafeToUndoError`
    when it cannot say (no ``mysql.tidb`` on TiDB, access denied, no row).
    """
    conn = await connect(target, timeout_s=connect_timeout_s)
    try:
        async with conn.cursor() as cur:
            try:
                async with asyncio.timeout(connect_timeout_s):
                    await cur.execute(NEW_COLLATION_SQL)
            except pymysql.err.MySQLError as exc:
                code = exc.args[0] if exc.args else None
                if code in _NO_TABLE and dialect == "mysql":
                    log.warning(
                        "%s has no mysql.tidb (not TiDB): taking new collation as on, the fake "
                        "cluster's default; set TIUNDO_NEW_COLLATION to say otherwise",
                        target,
                    )
                    return True
                if code in _NO_TABLE or code in _DENIED:
                    raise UnsafeToUndoError(
                        f"cannot read new_collation_enabled from mysql.tidb on {target} "
                        f"({exc.args[-1] if exc.args else exc}); set TIUNDO_NEW_COLLATION=on "
                        "or off (SELECT VARIABLE_VALUE FROM mysql.tidb WHERE "
                        "VARIABLE_NAME='new_collation_enabled' says which)"
                    ) from exc
                raise TransientError(f"reading mysql.tidb on {target}: {exc}") from exc
            async with asyncio.timeout(connect_timeout_s):
                rows = await cur.fetchall()
    finally:
        conn.close()
    return parse_flag(rows, str(target))
