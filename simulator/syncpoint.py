"""TiCDC's syncpoint table (``tidb_cdc.syncpoint_v1``): exact DDL, insert, and its TableDef.

TiCDC (tiflow ``cdc/syncpointstore/mysql_syncpoint_store.go``, since PR #6971) creates the table
in the downstream with ``CREATE DATABASE IF NOT EXISTS tidb_cdc``, ``USE tidb_cdc`` and the
statement in :data:`CREATE_TABLE_SQL`, in one transaction; at every syncpoint it runs
:data:`INSERT_SQL` in the transaction whose start ts it reports as ``secondary_ts``.

The schema name is a parameter only so parallel tests can use private copies; production
TiCDC always uses :data:`SYNCPOINT_DB`. Pure.
"""

from __future__ import annotations

from typing import Final

from simulator.tabledef import ColumnDef, IndexDef, TableDef

__all__ = [
    "CREATE_TABLE_SQL",
    "INSERT_SQL",
    "SYNCPOINT_DB",
    "SYNCPOINT_TABLE",
    "create_statements",
    "insert_statement",
    "syncpoint_table_def",
]

SYNCPOINT_DB: Final = "tidb_cdc"
SYNCPOINT_TABLE: Final = "syncpoint_v1"

# TiCDC's statement, whitespace included (the table name is substituted like its %s).
CREATE_TABLE_SQL: Final = """CREATE TABLE IF NOT EXISTS syncpoint_v1
	(
		ticdc_cluster_id varchar (255),
		changefeed varchar(255),
		primary_ts varchar(18),
		secondary_ts varchar(18),
		created_at timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP,
		INDEX (created_at),
		PRIMARY KEY (changefeed, primary_ts)
	);"""

INSERT_SQL: Final = (
    "insert ignore into tidb_cdc.syncpoint_v1 "
    "(ticdc_cluster_id, changefeed, primary_ts, secondary_ts) VALUES (%s,%s,%s,%s)"
)


def create_statements(db: str = SYNCPOINT_DB) -> list[str]:
    """The three statements TiCDC runs, in order, in one transaction."""
    return [f"CREATE DATABASE IF NOT EXISTS {db}", f"USE {db}", CREATE_TABLE_SQL]


def insert_statement(db: str = SYNCPOINT_DB) -> str:
    """TiCDC's insert (PyMySQL ``%s`` placeholders) for the schema ``db``."""
    return INSERT_SQL.replace("tidb_cdc.", f"{db}.", 1)


def syncpoint_table_def(db: str = SYNCPOINT_DB) -> TableDef:
    """The same table as a :class:`TableDef`, for its TableInfo and row encoding.

    TiDB (clustered indexes on) makes the two-VARCHAR primary key a clustered common handle;
    TiDB names the unnamed ``INDEX (created_at)`` after its first column.
    """
    c = ColumnDef
    return TableDef(
        db,
        SYNCPOINT_TABLE,
        (
            c("ticdc_cluster_id", "varchar", length=255),
            c("changefeed", "varchar", length=255),
            c("primary_ts", "varchar", length=18),
            c("secondary_ts", "varchar", length=18),
            c("created_at", "timestamp", nullable=False, default_expr="CURRENT_TIMESTAMP"),
        ),
        primary_key=("changefeed", "primary_ts"),
        indexes=(IndexDef("created_at", ("created_at",)),),
    )
