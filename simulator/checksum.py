"""Per-table checksums comparable between "MariaDB now" and "the state at T" in the fake cluster.

The row digest itself and its MariaDB readers are the product's (:mod:`core.digest`, what
``tiundo verify`` compares); this module adds what only the simulator has: the digest of the
MVCC store at a timestamp, and both measures of a MariaDB table kept together
(:class:`TableChecksum`, what the demo records at T).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from core.codec.keys import RecordKey, decode_key, record_prefix
from core.codec.row import decode_row
from core.codec.tableinfo import TableInfo
from core.digest import Connection, RowDigest, checksum_table, mariadb_digest, row_digest

__all__ = [
    "TableChecksum",
    "mariadb_checksums",
    "mvcc_digest",
    "mvcc_rows",
]


@dataclass(frozen=True, slots=True)
class TableChecksum:
    """A table's measures at one point: ``checksum`` is CHECKSUM TABLE (None if not taken)."""

    table: str
    rows: int
    digest: str
    checksum: int | None = None


class _MvccReader(Protocol):
    def scan(self, start_raw: bytes, end_raw: bytes, ts: int) -> list[tuple[bytes, bytes]]: ...


def mvcc_rows(
    store: _MvccReader, info: TableInfo, ts: int, new_collation: bool = True
) -> list[dict[str, Any]]:
    """Every row of ``info`` (all partitions) visible at ``ts``, decoded by the codec."""
    out: list[dict[str, Any]] = []
    for pid in info.physical_ids():
        prefix = record_prefix(pid)
        end = prefix[:-1] + bytes([prefix[-1] + 1])  # 't{id}_r' .. 't{id}_s'
        for key, value in store.scan(prefix, end, ts):
            k = decode_key(key)
            if not isinstance(k, RecordKey):
                continue
            row = decode_row(value, info, k.handle, _dt.UTC, new_collation)
            if row is not None:
                out.append(row)
    return out


def mvcc_digest(
    store: _MvccReader, info: TableInfo, ts: int, new_collation: bool = True
) -> RowDigest:
    """Digest of the table's rows in the MVCC store at ``ts``."""
    return row_digest(info, mvcc_rows(store, info, ts, new_collation))


async def mariadb_checksums(
    conn: Connection, db: str, infos: Iterable[TableInfo]
) -> dict[str, TableChecksum]:
    """Both measures for each table, keyed by table name."""
    out: dict[str, TableChecksum] = {}
    for info in infos:
        d = await mariadb_digest(conn, db, info)
        cs = await checksum_table(conn, db, info.name)
        out[info.name] = TableChecksum(info.name, d.rows, str(d), cs)
    return out
