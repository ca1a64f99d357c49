"""tiundo.proto: the Kafka record contract keeps its field numbers, oneof and enums."""

from typing import Any

import pytest

from proto import cdcpb_pb2, tiundo_pb2

RowChange = tiundo_pb2.RowChange


def h(text: str) -> bytes:
    return bytes.fromhex(text)


def test_row_change_field_numbers() -> None:
    change = RowChange(
        key=b"k",
        start_ts=1,
        commit_ts=2,
        op_type=RowChange.DELETE,
        value=b"v",
        old_value=b"o",
        txn_source=3,
        region_id=4,
    )
    wire = h("0a 01 6b 10 01 18 02 20 02 2a 01 76 32 01 6f 38 03 40 04")
    assert change.SerializeToString() == wire
    assert RowChange.FromString(wire) == change


def test_op_type_matches_cdcpb_numbers() -> None:
    names = {v.name: v.number for v in RowChange.OpType.DESCRIPTOR.values}
    assert names == {"OP_TYPE_UNSPECIFIED": 0, "PUT": 1, "DELETE": 2}
    assert int(RowChange.PUT) == int(cdcpb_pb2.Event.Row.PUT)
    assert int(RowChange.DELETE) == int(cdcpb_pb2.Event.Row.DELETE)


def test_change_batch_envelope() -> None:
    batch = tiundo_pb2.ChangeBatch(job_id="j", table_id=-5, seq=7, changes=[RowChange(key=b"k")])
    # table_id is int64: negative ids (never produced by TiDB) still round-trip
    envelope = tiundo_pb2.Envelope(change_batch=batch)
    wire = envelope.SerializeToString()
    assert wire.startswith(h("0a"))  # change_batch is f1
    back = tiundo_pb2.Envelope.FromString(wire)
    assert back.WhichOneof("body") == "change_batch"
    assert back.change_batch == batch
    assert tiundo_pb2.ChangeBatch(seq=7, changes=[RowChange()]).SerializeToString() == h(
        "18 07 22 00"
    )


@pytest.mark.parametrize(
    ("envelope", "body", "wire"),
    [
        (
            tiundo_pb2.Envelope(watermark=tiundo_pb2.Watermark(job_id="j", resolved_ts=9)),
            "watermark",
            "12 05 0a 01 6a 10 09",
        ),
        (
            tiundo_pb2.Envelope(
                end=tiundo_pb2.End(job_id="j", end_ts=9, target_ts=5, total_changes=3, batches=2)
            ),
            "end",
            "1a 0b 0a 01 6a 10 09 18 05 20 03 28 02",
        ),
        (
            tiundo_pb2.Envelope(
                dead_letter=tiundo_pb2.DeadLetter(stage="mount", table_id=1, commit_ts=2)
            ),
            "dead_letter",
            "22 0b 12 05 6d 6f 75 6e 74 38 01 48 02",
        ),
    ],
)
def test_envelope_bodies(envelope: tiundo_pb2.Envelope, body: str, wire: str) -> None:
    assert envelope.SerializeToString() == h(wire)
    back = tiundo_pb2.Envelope.FromString(h(wire))
    assert back.WhichOneof("body") == body
    assert back == envelope


def test_dead_letter_field_numbers() -> None:
    numbers = {f.name: f.number for f in tiundo_pb2.DeadLetter.DESCRIPTOR.fields_by_number.values()}
    assert numbers == {
        "job_id": 1,
        "stage": 2,
        "error": 3,
        "key": 4,
        "value": 5,
        "old_value": 6,
        "table_id": 7,
        "handle": 8,
        "commit_ts": 9,
        "start_ts": 10,
        "region_id": 11,
        "instance_id": 12,
        "attempt": 13,
    }


def test_job_status() -> None:
    status = tiundo_pb2.JobStatus(
        job_id="j",
        state=tiundo_pb2.JobStatus.INCOMPLETE,
        target_ts=1,
        end_ts=2,
        primary_ts=3,
        tables=[
            tiundo_pb2.TableCounters(
                table_id=4,
                db_name="d",
                table_name="t",
                restored=5,
                deleted=6,
                skipped=7,
                dead_letters=8,
            )
        ],
        dead_letters=8,
        foreign_writes=9,
        started_unix_ms=10,
        finished_unix_ms=11,
        message="m",
    )
    wire = h(
        "0a 01 6a 10 04 18 01 20 02 28 03"
        " 32 10 08 04 12 01 64 1a 01 74 20 05 28 06 30 07 38 08"
        " 38 08 40 09 48 0a 50 0b 5a 01 6d"
    )
    assert status.SerializeToString() == wire
    assert tiundo_pb2.JobStatus.FromString(wire) == status
    names = {v.name: v.number for v in tiundo_pb2.JobStatus.State.DESCRIPTOR.values}
    assert names == {
        "STATE_UNSPECIFIED": 0,
        "RUNNING": 1,
        "SUCCEEDED": 2,
        "FAILED": 3,
        "INCOMPLETE": 4,
    }
    assert tiundo_pb2.DESCRIPTOR.package == "tiundo.v1"


@pytest.mark.parametrize(
    ("message", "wire"),
    [
        # ChangeBatch: instance_id f5 (string), attempt f6 (varint)
        (tiundo_pb2.ChangeBatch(instance_id="ab", attempt=3), "2a 02 61 62 30 03"),
        # Watermark: f3, f4
        (tiundo_pb2.Watermark(instance_id="ab", attempt=3), "1a 02 61 62 20 03"),
        # End: f6, f7; 300 is a two-byte varint
        (tiundo_pb2.End(instance_id="ab", attempt=300), "32 02 61 62 38 ac 02"),
        # DeadLetter: f12 (tag 0x62), f13 (tag 0x68)
        (tiundo_pb2.DeadLetter(instance_id="ab", attempt=3), "62 02 61 62 68 03"),
        # JobStatus: f12, f13
        (tiundo_pb2.JobStatus(instance_id="ab", attempt=3), "62 02 61 62 68 03"),
    ],
)
def test_instance_fields(message: Any, wire: str) -> None:
    """Every record of a job names the instance (and attempt) of the start that wrote it."""
    assert message.SerializeToString() == h(wire)
    assert type(message).FromString(h(wire)) == message


def test_instance_fields_follow_the_existing_ones_on_the_wire() -> None:
    end = tiundo_pb2.End(job_id="j", end_ts=9, instance_id="i", attempt=1)
    assert end.SerializeToString() == h("0a 01 6a 10 09 32 01 69 38 01")
