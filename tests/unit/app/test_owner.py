"""Records of another start of a job (instance id, attempt) are never taken for this one's."""

from __future__ import annotations

import json

from app.cli.jobstate import takes_status
from app.report import PartitionReport, TableReport, job_status
from app.undo.barrier import (
    barrier_open,
    done_key,
    done_report,
    done_value,
    holds_key,
    holds_tables,
    holds_value,
    keep_note,
    note_writer,
    part_key,
    reporting_partitions,
    takes_note,
)
from app.undo.owner import Owner, Strangers
from ingest.batcher import ChangeBatch, End, Watermark
from ingest.producer import RecordEncoder
from proto import tiundo_pb2

ME = Owner("a1b2c3d4e5f6", 0)
OLD = Owner("0ld0ld0ld0ld", 0)  # a worker of an earlier instance (--replace), still running
EARLIER = Owner(ME.instance, 0)
RESUMED = Owner(ME.instance, 1)  # --resume keeps the instance id and bumps the attempt


def _part(p: int, owner: Owner, error: str = "") -> bytes:
    return PartitionReport(
        partition=p, target_ts=1, end_ts=2, error=error, started_unix_ms=1, finished_unix_ms=2,
        instance=owner.instance, attempt=owner.attempt,
    ).to_json()  # fmt: skip


def test_an_owner_takes_only_its_own_start() -> None:
    assert ME.owns(ME.instance, 0)
    assert not ME.owns(OLD.instance, 0)
    assert not ME.owns(ME.instance, 1)  # the same instance, another attempt
    assert not RESUMED.owns(EARLIER.instance, EARLIER.attempt)
    assert not ME.owns("", 0)  # a note that names no start is not provably this one's
    assert Owner().owns(OLD.instance, 3)  # a worker without a record takes everything


def test_kv_records_naming_no_start_are_taken() -> None:
    """A replay writes ``<job>.kv`` without a start; a record naming another one is dropped."""
    assert ME.takes_record("", 0)
    assert ME.takes_record(ME.instance, 0)
    assert not ME.takes_record(OLD.instance, 0)
    assert not RESUMED.takes_record(EARLIER.instance, EARLIER.attempt)


def test_strangers_are_counted_and_said_once_per_writer() -> None:
    seen = Strangers()
    assert seen.seen("note", OLD)
    assert not seen.seen("note", OLD)
    assert seen.seen("end", OLD)
    assert seen.seen("note", Owner("other", 2))
    assert seen.total == 4


def test_a_forged_report_of_another_instance_does_not_mark_the_partition_done() -> None:
    """The reviewer's finding: ``part/0`` of an old instance made the new job skip partition 0."""
    notes: dict[str, bytes] = {}
    assert keep_note(notes, ME, part_key(0), _part(0, OLD)) == OLD
    assert keep_note(notes, ME, part_key(1), _part(1, ME)) is None
    assert part_key(0) not in notes
    assert reporting_partitions(notes) == [1]
    # written after this start's own report, it does not overwrite it either
    mine = _part(0, ME)
    assert keep_note(notes, ME, part_key(0), mine) is None
    assert keep_note(notes, ME, part_key(0), _part(0, OLD, error="zombie")) == OLD
    assert notes[part_key(0)] == mine
    reports = {PartitionReport.from_json(v).partition: PartitionReport.from_json(v)
               for k, v in notes.items() if k.startswith("part/")}  # fmt: skip
    assert job_status("j", 2, reports).state == tiundo_pb2.JobStatus.SUCCEEDED


def test_notes_of_an_earlier_attempt_of_the_same_instance_do_not_count() -> None:
    notes: dict[str, bytes] = {}
    assert keep_note(notes, RESUMED, part_key(0), _part(0, EARLIER)) == EARLIER
    assert keep_note(notes, RESUMED, holds_key(0), holds_value([9], EARLIER)) == EARLIER
    assert keep_note(notes, RESUMED, done_key(0, 9, 0), done_value(TableReport(9), EARLIER))
    assert notes == {}


def test_the_barrier_does_not_open_on_notes_of_another_start() -> None:
    notes: dict[str, bytes] = {}
    for key, raw in [
        (holds_key(0), holds_value([9], OLD)),
        (holds_key(1), holds_value([], ME)),
        (done_key(0, 9, 0), done_value(TableReport(9), OLD)),
    ]:
        keep_note(notes, ME, key, raw)
    assert not barrier_open(notes, 2, 9)  # partition 0 of this start has not reached End
    keep_note(notes, ME, holds_key(0), holds_value([9], ME))
    assert not barrier_open(notes, 2, 9)  # nor deleted table 9's E images
    keep_note(notes, ME, done_key(0, 9, 0), done_value(TableReport(9), ME))
    assert barrier_open(notes, 2, 9)


def test_every_note_names_its_writer() -> None:
    assert note_writer(_part(3, ME)) == ME
    assert note_writer(holds_value([1, 2], RESUMED)) == RESUMED
    rep = TableReport(7, "db", "t", 1, 2, 3, 4)
    raw = done_value(rep, OLD)
    assert note_writer(raw) == OLD
    assert done_report(raw) == rep
    assert takes_note(OLD, raw) and not takes_note(ME, raw)


def test_notes_of_an_older_tiundo_are_still_readable() -> None:
    """Without a start in them they belong to nobody (taken only by a worker without one)."""
    holds, done = b"[9, 10]", json.dumps([7, "db", "t", 1, 2, 3, 4]).encode()
    part = json.loads(_part(0, ME))
    del part["instance"], part["attempt"]
    old_part = json.dumps(part).encode()
    assert holds_tables(holds) == [9, 10] and holds_tables(holds_value([9, 10], ME)) == [9, 10]
    assert done_report(done) == TableReport(7, "db", "t", 1, 2, 3, 4)
    assert PartitionReport.from_json(old_part).instance == ""
    for raw in (holds, done, old_part, b"not json"):
        assert note_writer(raw) == Owner()
        assert not takes_note(ME, raw) and takes_note(Owner(), raw)


def test_a_partition_report_keeps_its_start() -> None:
    rep = PartitionReport(partition=2, target_ts=1, end_ts=2, instance="x", attempt=4)
    assert PartitionReport.from_json(rep.to_json()) == rep
    obj = json.loads(rep.to_json())
    assert (obj["instance"], obj["attempt"]) == ("x", 4)


def test_the_watcher_takes_only_its_start_s_status() -> None:
    def status(owner: Owner) -> bytes:
        return tiundo_pb2.JobStatus(
            job_id="j", state=tiundo_pb2.JobStatus.SUCCEEDED,
            instance_id=owner.instance, attempt=owner.attempt,
        ).SerializeToString()  # fmt: skip

    assert takes_status(ME, status(ME))
    assert not takes_status(ME, status(OLD))
    assert not takes_status(RESUMED, status(EARLIER))
    assert not takes_status(ME, tiundo_pb2.JobStatus(job_id="j").SerializeToString())
    assert not takes_status(ME, b"\xff\xff")  # not a status at all
    assert takes_status(Owner(), status(OLD))  # `tiundo status` of a job without a record


def test_the_ingest_stamps_every_record_with_its_start() -> None:
    enc = RecordEncoder("j", 2, target_ts=5, end_ts=9, instance_id=ME.instance, attempt=3)
    outputs = [ChangeBatch(1, 7, (), 0), Watermark(0, 8), End(1, 9)]
    envs = [tiundo_pb2.Envelope.FromString(enc.encode(o)[2]) for o in outputs]
    bodies = [getattr(e, e.WhichOneof("body")) for e in envs]
    assert [(b.instance_id, b.attempt) for b in bodies] == [(ME.instance, 3)] * 3
