"""The benchmark's 16 tables: 12 int-PK, 2 clustered, 2 ``_tidb_rowid`` (every undo path).

Columns are the ones of the measured binlog2sql run in ``/work/shared/facts/services.md``
(BIGINT key, INT, VARCHAR(64), DECIMAL(12,2), DATETIME), so figures compare with it. The two
``_tidb_rowid`` tables keep an index that the all-column ``WHERE`` of a reverse replay can use:
without one, every per-row delete of a 12,500-row table is a full scan and that, not the
method, would decide the race. Pure: builds :class:`simulator.tabledef.TableDef` values only.
"""

from __future__ import annotations

from typing import Final

from simulator.tabledef import ColumnDef, IndexDef, TableDef

__all__ = ["INT_PK_TABLES", "TABLE_COUNT", "bench_tables"]

TABLE_COUNT: Final = 16
INT_PK_TABLES: Final = 12


def _payload() -> tuple[ColumnDef, ...]:
    c = ColumnDef
    return (
        c("a", "int"),
        c("b", "varchar", length=64),
        c("c", "decimal", length=12, scale=2),
        c("d", "datetime"),
    )


def bench_tables(db: str) -> tuple[TableDef, ...]:
    """The 16 tables in database ``db``, in a fixed order (the history indexes them by it).

    - ``t00``..``t11``: ``id BIGINT`` primary key (int handle);
    - ``c12``: clustered ``VARCHAR(32)`` primary key (common handle);
    - ``c13``: clustered ``(VARCHAR(16), INT)`` primary key;
    - ``r14``: no primary key, ``u BIGINT NOT NULL`` unique key (``_tidb_rowid``);
    - ``r15``: no primary key, no unique key, a plain index on ``a INT NOT NULL``.
    """
    c = ColumnDef
    tables = [
        TableDef(db, f"t{i:02d}", (c("id", "bigint", nullable=False), *_payload()), ("id",))
        for i in range(INT_PK_TABLES)
    ]
    tables.append(
        TableDef(db, "c12", (c("k", "varchar", length=32, nullable=False), *_payload()), ("k",))
    )
    tables.append(
        TableDef(
            db,
            "c13",
            (
                c("k", "varchar", length=16, nullable=False),
                c("n", "int", nullable=False),
                *_payload(),
            ),
            ("k", "n"),
        )
    )
    tables.append(
        TableDef(
            db,
            "r14",
            (c("u", "bigint", nullable=False), *_payload()),
            indexes=(IndexDef("uk_u", ("u",), unique=True),),
        )
    )
    a_not_null = c("a", "int", nullable=False)
    tables.append(
        TableDef(
            db,
            "r15",
            (a_not_null, *_payload()[1:]),
            indexes=(IndexDef("ix_a", ("a",)),),
        )
    )
    assert len(tables) == TABLE_COUNT
    return tuple(tables)
