"""A resumed job takes its window, tables and partitioning from its record, never from flags."""

from __future__ import annotations

from typing import Any

import pytest

from app.cli.common import Settings
from app.cli.pin import resume_settings, same_tables
from app.cli.plan import Prepared
from core.errors import ConfigError, UnsafeToUndoError
from ingest.config import IngestConfig
from ingest.discover import SelectedTable
from ingest.window import UndoWindow
from proto import tiundo_pb2


def _record(**kw: Any) -> tiundo_pb2.JobRecord:
    base: dict[str, Any] = {
        "job_id": "j1",
        "instance_id": "abcabcabcabc",
        "target_ts": 100,
        "end_ts": 200,
        "partitions": 5,
        "txn_source": 3,
        "spread_tables": ["shop.big"],
        "tables": [
            tiundo_pb2.JobTable(db_name="shop", table_name="a", table_id=70, physical_ids=[70]),
            tiundo_pb2.JobTable(db_name="shop", table_name="p", table_id=80, physical_ids=[81, 82]),
        ],
    }
    base.update(kw)
    return tiundo_pb2.JobRecord(**base)


def test_resume_settings_come_from_the_record() -> None:
    flags = Settings(job="j1", tables=("other.*",), to_time="2026-01-01 00:00:00", partitions=9)
    s = resume_settings(flags, _record())
    assert s.tables == ("shop.a", "shop.p")
    assert (s.to_ts, s.to_time, s.end_ts, s.partitions) == (100, None, 200, 5)
    assert (s.spread, s.txn_source) == (("shop.big",), 3)


def test_resume_refuses_another_jobs_record() -> None:
    with pytest.raises(ConfigError, match="j2"):
        resume_settings(Settings(job="j1"), _record(job_id="j2"))


def _prep(tables: list[SelectedTable]) -> Prepared:
    return Prepared(IngestConfig(job="j1"), UndoWindow(100, 200), tuple(tables), 0, True)


def test_same_tables_passes_when_ids_match() -> None:
    same_tables(
        _prep([
            SelectedTable("shop", "a", 70, (70,), {}),
            SelectedTable("shop", "p", 80, (81, 82), {}),
        ]),
        _record(),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("tables", "named"),
    [
        ([SelectedTable("shop", "a", 71, (71,), {}), SelectedTable("shop", "p", 80, (81, 82), {})],
         "shop.a"),  # recreated: a new id
        ([SelectedTable("shop", "a", 70, (70,), {}), SelectedTable("shop", "p", 80, (81, 83), {})],
         "shop.p"),  # a partition replaced
        ([SelectedTable("shop", "a", 70, (70,), {})], "shop.p"),  # dropped
    ],
)  # fmt: skip
def test_same_tables_refuses_recreated_or_missing_tables(
    tables: list[SelectedTable], named: str
) -> None:
    with pytest.raises(UnsafeToUndoError, match=named):
        same_tables(_prep(tables), _record())
