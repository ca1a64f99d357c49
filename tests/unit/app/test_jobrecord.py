"""The job record pins the window and every setting that changes what is written."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.config import UndoConfig
from app.jobrecord import (
    CHECK_DDL,
    CHECK_GC,
    CHECK_WRITER,
    CHECK_WRITER_FORCED,
    build_record,
    counter_settings,
    decode_record,
    describe,
    foreign_owner,
    missing_checks,
    new_instance_id,
    pin,
)
from app.undo.chunk import STATE_FORMAT
from core.errors import ConfigError, DecodeError
from proto import tiundo_pb2

ALL_CHECKS = (CHECK_GC, CHECK_DDL, CHECK_WRITER)
TABLE = tiundo_pb2.JobTable(
    db_name="shop", table_name="orders", table_id=70, physical_ids=[70], schema_version=5
)


def _record(config: UndoConfig, **kw: object) -> tiundo_pb2.JobRecord:
    args: dict[str, object] = {
        "instance_id": "abc123def456",
        "target_ts": 100,
        "end_ts": 200,
        "primary_ts": 99,
        "changefeed": "default/cf1",
        "tables": [TABLE],
        "checks": ALL_CHECKS,
        "created_unix_ms": 1_700_000_000_000,
    }
    args.update(kw)
    return build_record(config, **args)  # type: ignore[arg-type]


def test_record_carries_window_and_settings() -> None:
    cfg = UndoConfig(job="j1", dialect="mysql", batch_rows=7, txn_statements=3, dry_run="/x")
    rec = _record(cfg)
    assert (rec.job_id, rec.instance_id, rec.target_ts, rec.end_ts) == (
        "j1",
        "abc123def456",
        100,
        200,
    )
    assert (rec.dialect, rec.batch_rows, rec.txn_statements, rec.dry_run_dir) == (
        "mysql",
        7,
        3,
        "/x",
    )
    assert (rec.partitions, rec.mount_chunk, rec.tz) == (cfg.partitions, cfg.mount_chunk, cfg.tz)
    assert list(rec.checks_passed) == list(ALL_CHECKS)
    assert rec.tables[0].db_name == "shop"


@pytest.mark.parametrize(("t", "e"), [(0, 5), (5, 5), (9, 5)])
def test_empty_or_inverted_window_is_refused(t: int, e: int) -> None:
    with pytest.raises(ConfigError, match="window"):
        _record(UndoConfig(job="j1"), target_ts=t, end_ts=e)


def test_pin_takes_what_is_written_from_the_record_and_keeps_what_is_local() -> None:
    spawner = UndoConfig(
        job="j1",
        dialect="mysql",
        batch_rows=50,
        dry_run="/plans",
        tz="+08:00",
        downstream="mysql://root@DB2:4000",
    )
    rec = _record(spawner)
    # an attached worker with its own (different) environment
    mine = UndoConfig(
        job="j1",
        dialect="tidb",
        batch_rows=1000,
        txn_statements=9,
        mount_chunk=17,
        dry_run="",
        tz="+00:00",
        datadir="/var/lib/w7",
        web_port=6067,
        downstream="mysql://u@db2:4000",
        sink_retries=3,
    )
    got = pin(mine, rec)
    assert got.instance == "abc123def456"
    # the schema versions the workers must decode with are the record's, not the worker's
    assert got.pinned_schemas() == {70: 5}
    assert got.dry_run == "/plans"  # the worker's empty dry_run cannot turn it into an apply
    assert (got.dialect, got.batch_rows, got.txn_statements) == (
        "mysql",
        50,
        spawner.txn_statements,
    )
    assert (got.mount_chunk, got.tz, got.primary_ts) == (spawner.mount_chunk, "+08:00", 99)
    assert (got.datadir, got.web_port, got.downstream, got.sink_retries) == (
        "/var/lib/w7",
        6067,
        "mysql://u@db2:4000",
        3,
    )


def test_pin_refuses_another_jobs_record() -> None:
    rec = _record(UndoConfig(job="other"))
    with pytest.raises(ConfigError, match="'other'"):
        pin(UndoConfig(job="j1"), rec)


@pytest.mark.parametrize(
    ("checks", "missing"),
    [
        ((), ["gc", "ddl", "writer"]),
        ((CHECK_GC,), ["ddl", "writer"]),
        ((CHECK_GC, CHECK_DDL), ["writer"]),
        ((CHECK_GC, CHECK_DDL, CHECK_WRITER_FORCED), []),
        ((CHECK_DDL, CHECK_WRITER), ["gc"]),
    ],
)
def test_a_worker_refuses_a_record_whose_checks_did_not_pass(
    checks: tuple[str, ...], missing: list[str]
) -> None:
    rec = _record(UndoConfig(job="j1"), checks=checks)
    assert missing_checks(rec) == missing
    if missing:
        with pytest.raises(ConfigError, match=missing[0]):
            pin(UndoConfig(job="j1"), rec)
    else:
        assert pin(UndoConfig(job="j1"), rec).instance == "abc123def456"


def test_counter_settings_differ_by_instance_and_by_cut() -> None:
    base = UndoConfig(job="j1", instance="aaaa")
    assert counter_settings(base) != counter_settings(base.replace(instance="bbbb"))
    assert counter_settings(base) != counter_settings(base.replace(batch_rows=999))
    assert counter_settings(base) != counter_settings(base.replace(mount_chunk=1))
    assert counter_settings(base) != counter_settings(base.replace(txn_statements=1))
    assert counter_settings(base) != counter_settings(base.replace(txn_max_bytes=1 << 20))
    assert counter_settings(base) != counter_settings(base.replace(txn_entry_max_bytes=1 << 20))
    assert len(counter_settings(base.replace(instance=new_instance_id()))) <= 64  # VARCHAR(64)
    huge = base.replace(
        instance=new_instance_id(), batch_rows=2**32 - 1, txn_statements=2**32 - 1,
        mount_chunk=2**32 - 1, txn_max_bytes=2**63 - 1, txn_entry_max_bytes=2**63 - 1,
    )  # fmt: skip
    assert len(counter_settings(huge)) <= 64
    assert counter_settings(huge) != counter_settings(huge.replace(txn_max_bytes=2**63 - 2))


def test_transaction_byte_bounds_are_pinned() -> None:
    """A restarted or attached worker cuts by the record's bytes, not by its own environment."""
    rec = _record(UndoConfig(job="j1", txn_max_bytes=5_000_000, txn_entry_max_bytes=300_000))
    assert (rec.txn_max_bytes, rec.txn_entry_max_bytes) == (5_000_000, 300_000)
    pinned = pin(UndoConfig(job="j1", txn_max_bytes=1 << 30, txn_entry_max_bytes=1 << 30), rec)
    assert (pinned.txn_max_bytes, pinned.txn_entry_max_bytes) == (5_000_000, 300_000)


def test_a_record_without_byte_bounds_is_refused() -> None:
    """A record written before the byte bounds existed cuts by rows only: a worker that cut by
    bytes would number other transactions under the same counters."""
    rec = _record(UndoConfig(job="j1"))
    rec.txn_max_bytes = 0
    with pytest.raises(ConfigError, match=r"j1 .*no transaction byte bound.*older tiundo"):
        pin(UndoConfig(job="j1"), rec)


@pytest.mark.parametrize("theirs", [0, STATE_FORMAT + 1])
def test_a_record_of_another_state_format_is_refused(theirs: int) -> None:
    """Workers of one job keep the compact state one way: a worker that stored another's flush
    chunks as rows would plan its undo with those rows missing."""
    rec = _record(UndoConfig(job="j1"))
    assert rec.state_format == STATE_FORMAT
    rec.state_format = theirs
    with pytest.raises(ConfigError, match=r"j1 .*compact state in .*this worker in format 3"):
        pin(UndoConfig(job="j1"), rec)


def test_instance_ids_are_fresh() -> None:
    ids = {new_instance_id() for _ in range(200)}
    assert len(ids) == 200
    assert all(len(i) == 12 and int(i, 16) >= 0 for i in ids)


def test_decode_refuses_garbage_and_other_jobs() -> None:
    rec = _record(UndoConfig(job="j1"))
    with pytest.raises(DecodeError, match="not a JobRecord"):
        decode_record(b"\xff\xff\xff", "j1")
    with pytest.raises(DecodeError, match="expected job 'j2'"):
        decode_record(rec.SerializeToString(), "j2")


def test_describe_names_window_tables_and_mode() -> None:
    rec = _record(UndoConfig(job="j1", dry_run="/plans"))
    text = describe(rec)
    assert "(100, 200]" in text and "shop.orders" in text and "dry run to /plans" in text
    assert "\n" not in text


_names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=20)


@given(
    batch_rows=st.integers(1, 100_000),
    txn_statements=st.integers(1, 64),
    mount_chunk=st.integers(1, 100_000),
    txn_max_bytes=st.integers(1, 2**40),
    partitions=st.integers(1, 256),
    dialect=st.sampled_from(["tidb", "mysql"]),
    txn_source=st.integers(1, 15),
    dry_run=st.sampled_from(["", "/tmp/plan", "rel/dir"]),
    t=st.integers(1, 2**63),
    span=st.integers(1, 2**32),
    db=_names,
)
def test_record_round_trips_and_pins_every_written_setting(
    batch_rows: int,
    txn_statements: int,
    mount_chunk: int,
    txn_max_bytes: int,
    partitions: int,
    dialect: str,
    txn_source: int,
    dry_run: str,
    t: int,
    span: int,
    db: str,
) -> None:
    cfg = UndoConfig(
        job="job-1",
        batch_rows=batch_rows,
        txn_statements=txn_statements,
        mount_chunk=mount_chunk,
        txn_max_bytes=txn_max_bytes,
        partitions=partitions,
        dialect=dialect,
        txn_source=txn_source,
        dry_run=dry_run,
    )
    table = tiundo_pb2.JobTable(db_name=db, table_name="t", table_id=1, physical_ids=[1])
    rec = _record(cfg, target_ts=t, end_ts=t + span, tables=[table])
    back = decode_record(rec.SerializeToString(), "job-1")
    assert back == rec
    pinned = pin(UndoConfig(job="job-1"), back)
    written = (
        "batch_rows", "txn_statements", "mount_chunk", "txn_max_bytes", "txn_entry_max_bytes",
        "partitions", "dialect",
    )  # fmt: skip
    assert all(getattr(pinned, f) == getattr(cfg, f) for f in written)
    assert (pinned.txn_source, pinned.dry_run) == (txn_source, dry_run)
    assert counter_settings(pinned) == counter_settings(cfg.replace(instance=rec.instance_id))


def test_a_worker_of_another_downstream_server_is_refused() -> None:
    rec = _record(UndoConfig(job="j1", downstream="mysql://root@tidb-a:4000/x"))
    assert rec.downstream == "tidb-a:4000"  # the server only: no user, no password
    with pytest.raises(ConfigError, match=r"tidb-b:4000.*tidb-a:4000"):
        pin(UndoConfig(job="j1", downstream="mysql://u:secret@tidb-b:4000"), rec)
    with pytest.raises(ConfigError) as err:
        pin(UndoConfig(job="j1", downstream="mysql://u:secret@tidb-a:4001"), rec)
    assert "secret" not in str(err.value)
    # the same server under other credentials is the same downstream
    assert pin(UndoConfig(job="j1", downstream="mysql://u:pw@TIDB-A:4000"), rec).instance


@pytest.mark.parametrize("pinned", ["on", "off"])
def test_new_collation_is_pinned_over_the_workers_own(pinned: str) -> None:
    rec = _record(UndoConfig(job="j1", new_collation=pinned))
    assert rec.new_collation == pinned
    worker = UndoConfig(job="j1", new_collation="on" if pinned == "off" else "off")
    assert pin(worker, rec).new_collation == pinned


def test_unresolved_new_collation_is_not_pinned_and_workers_keep_theirs() -> None:
    """``auto`` is resolved by ``run`` before the record; a record without it (an older
    tiundo's) leaves the worker's own setting, which it resolves from the downstream."""
    rec = _record(UndoConfig(job="j1"))
    assert rec.new_collation == ""
    assert pin(UndoConfig(job="j1"), rec).new_collation == "auto"
    assert pin(UndoConfig(job="j1", new_collation="off"), rec).new_collation == "off"


def test_topic_settings_are_pinned_and_the_prefix_must_agree() -> None:
    cfg = UndoConfig(
        job="j1",
        topic_prefix="team-a.",
        replication_factor=3,
        min_insync_replicas=2,
        topic_retention_ms=3_600_000,
    )
    rec = decode_record(_record(cfg).SerializeToString(), "j1")
    assert (rec.topic_prefix, rec.replication_factor, rec.min_insync_replicas) == ("team-a.", 3, 2)
    assert rec.topic_retention_ms == 3_600_000
    # a worker's own replication settings never win over the record's
    pinned = pin(UndoConfig(job="j1", topic_prefix="team-a.", replication_factor=1), rec)
    assert pinned.topic_policy == cfg.topic_policy
    assert pinned.kv_topic == "team-a.j1.kv"
    with pytest.raises(ConfigError) as info:
        pin(UndoConfig(job="j1", topic_prefix="team-b."), rec)
    assert str(info.value) == (
        "job j1: this worker's topic prefix is 'team-b.', the job was pinned with 'team-a.' "
        "(TIUNDO_TOPIC_PREFIX): set the job's"
    )


def test_a_record_of_an_older_tiundo_keeps_factor_one() -> None:
    rec = _record(UndoConfig(job="j1"))
    rec.ClearField("replication_factor")
    assert pin(UndoConfig(job="j1", replication_factor=3), rec).replication_factor == 1


def test_foreign_owner_names_the_job_whose_record_is_on_the_topic() -> None:
    # prefix "team-" + job "ax" and prefix "team-a" + job "x" share team-ax.job
    ax = _record(UndoConfig(job="ax", topic_prefix="team-")).SerializeToString()
    assert foreign_owner({b"ax": ax}, "ax", "team-") is None
    assert foreign_owner({}, "x", "team-a") is None
    assert foreign_owner({b"ax": ax}, "x", "team-a") == (
        "job 'ax' (topic prefix 'team-', instance abc123def456)"
    )
    # the same job name pinned under another prefix is someone else's too
    assert foreign_owner({b"ax": ax}, "ax", "") is not None
    # an undecodable value under another key still belongs to that key's job
    assert foreign_owner({b"ax": b"\xff\xff"}, "x", "team-a") == "job 'ax' (topic prefix '')"
