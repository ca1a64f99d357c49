from __future__ import annotations

import json

from app.report import PartitionReport, TableReport, job_status, render
from app.rpo import rpo_of_status
from proto import tiundo_pb2

S = tiundo_pb2.JobStatus


def _rep(p: int, **kw: object) -> PartitionReport:
    base: dict[str, object] = {
        "partition": p,
        "target_ts": 100,
        "end_ts": 200,
        "tables": (TableReport(50 + p, "db", f"t{p}", restored=2, deleted=1, skipped=3),),
        "started_unix_ms": 1_000 + p,
        "finished_unix_ms": 5_000 + p,
    }
    base.update(kw)
    return PartitionReport(**base)  # type: ignore[arg-type]


def test_json_round_trip() -> None:
    rep = _rep(3, dead_letters=2, missing_batches=1, error="boom", dry_run=True)
    assert PartitionReport.from_json(rep.to_json()) == rep
    rpo = _rep(1, changes=7, transactions=3)
    assert PartitionReport.from_json(rpo.to_json()) == rpo


def test_a_report_of_an_older_tiundo_has_no_rpo_counts() -> None:
    raw = json.loads(_rep(0, changes=7, transactions=3).to_json())
    del raw["changes"], raw["transactions"]
    old = PartitionReport.from_json(json.dumps(raw).encode())
    assert (old.changes, old.transactions) == (0, 0)


def test_rpo_counts_sum_changes_and_take_the_job_wide_transactions() -> None:
    reps = {0: _rep(0, changes=5, transactions=4), 1: _rep(1, changes=3, transactions=4)}
    st = job_status("j", 2, reps)
    assert (st.changes_undone, st.transactions_undone) == (8, 4)
    # not before every partition reported, even when one failed
    early = job_status("j", 3, {0: _rep(0, changes=5, transactions=4, error="boom")})
    assert early.state == S.FAILED
    assert (early.changes_undone, early.transactions_undone) == (0, 0)


def test_running_until_every_partition_reported() -> None:
    st = job_status("j", 3, {0: _rep(0), 2: _rep(2)})
    assert st.state == S.RUNNING and "2 of 3" in st.message and st.finished_unix_ms == 0


def test_succeeded_sums_tables_across_partitions() -> None:
    shared = TableReport(7, "db", "t", restored=1, deleted=2, skipped=3)
    reps = {p: _rep(p, tables=(shared,)) for p in range(2)}
    st = job_status("j", 2, reps, primary_ts=99)
    assert st.state == S.SUCCEEDED
    assert (st.target_ts, st.end_ts, st.primary_ts) == (100, 200, 99)
    assert (st.started_unix_ms, st.finished_unix_ms) == (1_000, 5_001)
    [t] = st.tables
    assert (t.table_id, t.restored, t.deleted, t.skipped) == (7, 2, 4, 6)


def test_dead_letters_make_it_incomplete_never_success() -> None:
    st = job_status("j", 2, {0: _rep(0), 1: _rep(1, dead_letters=1)})
    assert st.state == S.INCOMPLETE and st.dead_letters == 1


def test_missing_changes_make_it_incomplete() -> None:
    st = job_status("j", 1, {0: _rep(0, missing_changes=4)})
    assert st.state == S.INCOMPLETE and "never received" in st.message


def test_an_error_fails_the_job_even_before_all_reported() -> None:
    st = job_status("j", 3, {1: _rep(1, error="SinkError: refused")})
    assert st.state == S.FAILED and "partition 1: SinkError: refused" in st.message


def test_render_lists_tables_and_points() -> None:
    st = job_status("j", 1, {0: _rep(0)}, primary_ts=42)
    text = render(st)
    assert text.splitlines()[0] == "job j: SUCCEEDED - every table is back at T"
    assert "T (target_ts) = 100" in text and "primary_ts = 42" in text
    assert "db.t0" in text and "duration (undo after END) = 4.000 s" in text


def test_render_names_the_changefeed_when_the_record_knows_it() -> None:
    st = job_status("j", 1, {0: _rep(0)}, primary_ts=42)
    assert "changefeed" not in render(st)
    lines = render(st, changefeed="default/shop").splitlines()
    assert lines[2] == "  changefeed = default/shop (T is its newest syncpoint)"


def test_render_says_what_the_undo_gave_up() -> None:
    # T at 1,000 ms, E at 3,500 ms, upstream point at 900 ms, job pinned at 10,000 ms
    reps = {0: _rep(0, target_ts=1_000 << 18, end_ts=3_500 << 18, changes=12, transactions=5)}
    st = job_status("j", 1, reps, primary_ts=900 << 18)
    assert "RPO" not in render(st)
    lines = render(st, rpo=rpo_of_status(st, 10_000)).splitlines()
    assert lines[2] == (
        "  RPO: upstream point age at job start = 9.100 s   window undone (E - T) = 2.500 s   "
        "changes undone = 12   transactions undone = 5"
    )


def test_render_sums_a_partitioned_table_on_one_line() -> None:
    parts = (
        TableReport(61, "db", "parted", restored=2, deleted=1, skipped=0),
        TableReport(62, "db", "parted", restored=5, deleted=0, skipped=4),
        TableReport(70, "db", "plain", restored=1),
    )
    text = render(job_status("j", 1, {0: _rep(0, tables=parts)}))
    [parted] = [line for line in text.splitlines() if "db.parted" in line]
    assert parted.split() == ["db.parted", "2", "parts", "7", "1", "4", "0"]
    [plain] = [line for line in text.splitlines() if "db.plain" in line]
    assert plain.split() == ["db.plain", "70", "1", "0", "0", "0"]
