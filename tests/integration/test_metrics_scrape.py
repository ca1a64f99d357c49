"""``/metrics`` scraped over HTTP during a real run on the fake cluster.

``tiundo run --attach --metrics-addr`` serves the ingest's and the job's metrics; two
``tiundo worker --metrics-addr`` processes, started by hand as on other machines, serve the
compaction's and the sink's. The workers outlive the run, so their final counters are read
after the report and compared with it: rows applied per table reach the report's counts.
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections import defaultdict
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.cli.jobstate import delete_job_topics

from .cli_harness import ROOT, demo_cluster, tiundo

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

__all__ = ["demo_cluster"]  # the fixture, used by name

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _scrape(port: int) -> Samples | None:
    """Every sample of the endpoint, or ``None`` while it does not answer."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as resp:
            text = resp.read().decode()
    except OSError:
        return None
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def _get(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def _by_label(samples: Samples, name: str, label: str) -> dict[str, float]:
    out: dict[str, float] = defaultdict(float)
    for (n, labels), value in samples.items():
        if n == name:
            out[dict(labels)[label]] += value
    return out


def _worker(env: dict[str, str], job: str, datadir: Path, port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "app.cli", "worker", "--job", job, "--datadir", str(datadir),
         "--metrics-addr", f"127.0.0.1:{port}"],
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def _worker(env: dict[str, str], job: str, datadir: Path, port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "app.cli", "worker", "--job", job, "--datadir", str(datadir),
         "--metrics-addr", f"127.0.0.1:{port}"],
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def test_metrics_move_during_a_run(
    demo_cluster: tuple[dict[str, str], Path, str], kafka_bootstrap: str, tmp_path: Path
) -> None:
    env, _, db = demo_cluster
    job = f"met-{uuid.uuid4().hex[:8]}"
    run_port, worker_ports = _free_port(), [_free_port(), _free_port()]
    workers = [_worker(env, job, tmp_path / f"w{i}", p) for i, p in enumerate(worker_ports)]
    run = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "run", "--job", job, "--attach", "--progress", "none",
         "--job-dir", str(tmp_path / job), "--metrics-addr", f"127.0.0.1:{run_port}"],
        env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        scrapes: list[Samples] = []
        while run.poll() is None:
            got = _scrape(run_port)
            if got is not None:
                scrapes.append(got)
            time.sleep(0.05)
        out, err = run.communicate()
        assert run.returncode == 0, out + err
        assert scrapes, "the run's /metrics never answered"

        changes = [_get(s, "tiundo_changes_total") for s in scrapes]
        assert changes == sorted(changes) and changes[0] < changes[-1], changes
        assert max(_get(s, "tiundo_regions_initialized") for s in scrapes) > 0
        assert max(_get(s, "tiundo_regions") for s in scrapes) > 0
        assert any(_get(s, "tiundo_job_state", state="WAITING") == 1 for s in scrapes)
        states = {
            dict(labels)["state"]
            for s in scrapes
            for (name, labels), value in s.items()
            if name == "tiundo_ingest_state" and value == 1
        }
        assert states & {"ingesting", "fencing", "flushing", "done"}, states
        assert _get(scrapes[-1], "tiundo_frontier_lag_seconds") == 0  # the frontier passed E

        # the workers outlive the run: their counters are final now
        finals = [_scrape(p) for p in worker_ports]
        assert all(f is not None for f in finals)
        report = tiundo(["report", "--job", job, "--json"], env)
        assert report.returncode == 0, report.stdout + report.stderr
        tables = json.loads(report.stdout)["status"]["tables"]
        written: dict[str, float] = defaultdict(float)
        deleted: dict[str, float] = defaultdict(float)
        two_phase: set[str] = set()
        compacted = 0.0
        for f in finals:
            assert f is not None
            compacted += sum(_by_label(f, "tiundo_records_compacted_total", "partition").values())
            for (name, labels), value in f.items():
                if name != "tiundo_rows_applied_total":
                    continue
                lab = dict(labels)
                if lab["kind"] in ("replace", "insert"):
                    written[lab["table"]] += value
                if lab["kind"] == "insert":
                    two_phase.add(lab["table"])
                elif lab["kind"] == "delete":
                    deleted[lab["table"]] += value
        assert compacted > 0
        # the report lists a partitioned table once per physical partition; metrics name the table
        restored: dict[str, int] = defaultdict(int)
        gone: dict[str, int] = defaultdict(int)
        for t in tables:
            name = f"{t['db_name']}.{t['table_name']}"
            assert name.startswith(f"{db}.")
            restored[name] += t["restored"]
            gone[name] += t["deleted"]
        for name in restored:
            # every row restored was written back once (REPLACE, or INSERT of a _tidb_rowid table)
            assert written[name] == restored[name], (name, written[name], restored[name])
            if name not in two_phase:  # keyed by primary key: a by-key delete per row gone
                assert deleted[name] == gone[name], (name, deleted[name], gone[name])
        assert sum(written.values()) > 0
        assert any(_get(f, "tiundo_job_state", state="SUCCEEDED") == 1 for f in finals if f)
        assert all(_get(f, "tiundo_dead_letters_total") == 0 for f in finals if f)
        assert any(_get(f, "tiundo_faust_messages_received_total") > 0 for f in finals if f)
    finally:
        if run.poll() is None:
            run.send_signal(signal.SIGTERM)
            run.wait(30)
        for w in workers:
            w.send_signal(signal.SIGTERM)
        for w in workers:
            try:
                w.wait(30)
            except subprocess.TimeoutExpired:
                w.kill()
        asyncio.run(delete_job_topics(kafka_bootstrap, job))
