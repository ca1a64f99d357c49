"""Every ``--json`` document has one shape: envelope, snake_case keys, integers as numbers."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from app.cli import main
from app.cli.jobs import _echo_result, status_fields
from app.cli.jobstate import JobSnapshot
from app.cli.output import document, proto_fields
from app.cli.run import RunOutcome, outcome_fields
from ingest.worker import IngestResult
from proto import tiundo_pb2
from tests.json_shape import check_document

BIG = (1 << 62) + 3  # a TSO: above 2**53, where a JSON reader of strings-or-floats loses digits


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    import os

    for key in list(os.environ):
        if key.startswith("TIUNDO_"):
            monkeypatch.delenv(key)
    yield


def _status() -> tiundo_pb2.JobStatus:
    st = tiundo_pb2.JobStatus(
        job_id="j", state=tiundo_pb2.JobStatus.SUCCEEDED, target_ts=BIG, end_ts=BIG + 1,
        primary_ts=BIG - 1, dead_letters=0, started_unix_ms=1_700_000_000_000, instance_id="ab",
        attempt=2,
    )  # fmt: skip
    st.tables.add(table_id=101, db_name="shop", table_name="t", restored=3, deleted=1)
    return st


def _ingest() -> IngestResult:
    return IngestResult(
        job="j", topic="j.kv", state="done", target_ts=BIG, end_ts=BIG + 1, primary_ts=0,
        tables=("shop.t",), changes=10, records=4, changes_per_partition=(10, 0),
        batches_per_partition=(2, 0), foreign_writes=1, dropped={"index_key": 2},
        region_errors={}, stream_reconnects=0, duration_s=0.5, foreign_by_table={101: 1},
        transactions=3,
    )  # fmt: skip


def _json_line(r: Result) -> dict[str, Any]:
    lines = r.stdout.splitlines()
    assert len(lines) == 1, r.stdout
    doc: dict[str, Any] = json.loads(lines[0])
    return doc


def test_report_and_run_write_the_status_with_integer_timestamps() -> None:
    doc = check_document(
        document("report", "j", 0, status=proto_fields(_status()), changefeed="c/f"), "report"
    )
    st = doc["status"]
    assert st["target_ts"] == BIG and st["state"] == "SUCCEEDED" and st["instance_id"] == "ab"
    assert st["tables"][0]["restored"] == 3 and st["finished_unix_ms"] == 0
    pinned_ms = ((BIG - 1) >> 18) + 5_000  # the job pinned 5 s after the upstream point
    out = RunOutcome(_status(), _ingest(), 7.25, changefeed="c/f", started_unix_ms=pinned_ms)
    run = check_document(
        json.loads(json.dumps(document("run", "j", 5, **outcome_fields(out, "/x/run.log")))), "run"
    )
    assert run["status"] == st and run["rto_s"] == 7.25 and run["changes_read"] == 10
    # the point from the status's primary_ts, the counts from the ingest: all numbers
    assert run["rpo"] == {
        "point_age_ms": 5_000, "window_ms": 0, "changes_undone": 10, "transactions_undone": 3,
    }  # fmt: skip
    assert run["rows_restored_or_deleted"] == 4 and run["foreign_writes"] == 1


def test_status_fields() -> None:
    snap = JobSnapshot(None, kv_end=22, kv_consumed=22, rows_applied=9)
    doc = check_document(document("status", "j", 0, **status_fields(snap)), "status")
    assert doc["state"] == "WAITING" and doc["records_compacted"] == 22


def test_ingest_and_replay_print_the_same_envelope(capsys: pytest.CaptureFixture[str]) -> None:
    _echo_result("ingest", _ingest())
    doc = check_document(json.loads(capsys.readouterr().out), "ingest", 0)
    assert doc["job"] == "j" and doc["target_ts"] == BIG and doc["foreign_by_table"] == {"101": 1}
    assert doc["changes_per_partition"] == [10, 0] and doc["transactions"] == 3


def test_the_envelope_cannot_be_overwritten() -> None:
    with pytest.raises(ValueError, match="envelope"):
        document("run", "j", 0, error="x")


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    ("args", "command", "code"),
    [
        (["status", "--job", "j", "--json"], "status", 4),
        (["report", "--job", "j", "--json"], "report", 4),
        (["cleanup", "--job", "j", "--json", "--yes"], "cleanup", 4),
        (["plan", "--json", "-t", "shop.t", "--pd", "pd://bad url"], "plan", 2),
        (["run", "--json", "-t", "shop.t", "--downstream", "mysql://u@127.0.0.1:1/",
          "--to-ts", "5", "--job-dir", "{tmp}"], "run", 4),
        (["verify", "--json", "--expect", "{tmp}/none.json", "--downstream",
          "mysql://u@127.0.0.1:1/"], "verify", 2),
    ],
)  # fmt: skip
def test_a_failure_under_json_is_a_document_too(
    args: list[str], command: str, code: int, tmp_path: Path
) -> None:
    port = _dead_port()
    env = {
        "TIUNDO_KAFKA": f"127.0.0.1:{port}",
        "TIUNDO_PD": f"pd://127.0.0.1:{port}",
        "TIUNDO_STATUS_API": f"http://127.0.0.1:{port}",
        "TIUNDO_TIMEOUT_S": "1",
    }
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    r = CliRunner().invoke(main, args, env=env)
    assert r.exit_code == code, (r.stdout, r.stderr)
    doc = check_document(_json_line(r), command, code)
    (line,) = [x for x in r.stderr.splitlines() if x.startswith("tiundo: error:")]
    assert line == f"tiundo: error: {doc['error']}"
