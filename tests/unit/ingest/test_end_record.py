"""The END record carries the job's distinct transactions (the RPO in the report)."""

from __future__ import annotations

from ingest.batcher import End
from ingest.producer import RecordEncoder
from proto import tiundo_pb2


def test_every_end_carries_the_job_wide_transactions() -> None:
    enc = RecordEncoder("j", 2, target_ts=5, end_ts=9)
    ends = [tiundo_pb2.Envelope.FromString(enc.encode(End(p, 9, 17))[2]).end for p in (0, 1)]
    assert [(e.end_ts, e.target_ts, e.transactions) for e in ends] == [(9, 5, 17)] * 2
