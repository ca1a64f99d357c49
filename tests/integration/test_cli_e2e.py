"""``tiundo plan``/``run``/``verify`` end to end, as processes, on the fake cluster.

Real Kafka and MariaDB; the fake cluster and its seeded workload run in a child process
(``scripts/demo.py cluster``, the demo's own), which writes the addresses and the checksums at
T. The DBA errors that need the syncpoint table (none found; a changefeed still writing) are
checked here too: one line, exit 3, no traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.cli.jobstate import delete_job_topics

from .cli_harness import assert_one_line_error, demo_cluster, sql, tiundo

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

__all__ = ["demo_cluster"]  # the fixture, used by name


def test_plan_run_verify(
    demo_cluster: tuple[dict[str, str], Path, str], kafka_bootstrap: str, tmp_path: Path
) -> None:
    import json

    env, expect, db = demo_cluster
    before = tiundo(["verify", "--expect", str(expect)], env)
    assert before.returncode == 1 and "DIFFERENT" in before.stdout, before.stdout + before.stderr

    plan = tiundo(["plan", "--json"], env)
    assert plan.returncode == 0, plan.stderr
    p = json.loads(plan.stdout)
    exp = json.loads(expect.read_text())
    assert p["target_ts"] == exp["target_ts"] and p["primary_ts"] == exp["primary_ts"]
    assert p["end_ts"] > p["target_ts"]
    assert {t["table"] for t in p["tables"]} == {f"{db}.{n}" for n in exp["tables"]}
    assert sum(t["changed_rows"] for t in p["tables"]) > 0
    assert all(t["changed_rows"] <= t["changes"] for t in p["tables"])
    # the RPO a run would give now: exactly what the workload committed after T
    rpo = p["rpo"]
    assert rpo["changes_undone"] == exp["changes_after_t"] > 0
    assert rpo["transactions_undone"] == exp["transactions_after_t"] > 0
    assert rpo["window_ms"] == (p["end_ts"] >> 18) - (p["target_ts"] >> 18)
    assert 0 <= rpo["point_age_ms"] < 600_000  # the workload ran minutes ago at most
    # the plan wrote nothing: the tables are as torn as before
    assert tiundo(["verify", "--expect", str(expect)], env).stdout == before.stdout

    job = f"cli-{uuid.uuid4().hex[:8]}"
    try:
        _run_and_verify(env, expect, job, tmp_path, exp)
    finally:
        asyncio.run(delete_job_topics(kafka_bootstrap, job))


def _run_and_verify(
    env: dict[str, str], expect: Path, job: str, tmp_path: Path, exp: dict[str, Any]
) -> None:
    run = tiundo(["run", "--job", job, "--workers", "2", "--job-dir", str(tmp_path / job)], env)
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"job {job}: SUCCEEDED" in run.stdout
    assert f"primary_ts {exp['primary_ts']}" in run.stdout and "RTO" in run.stdout
    undone = (
        f"changes undone = {exp['changes_after_t']}   "
        f"transactions undone = {exp['transactions_after_t']}"
    )
    [rpo_line] = [line for line in run.stdout.splitlines() if line.startswith("  RPO: ")]
    assert rpo_line.endswith(undone), rpo_line

    after = tiundo(["verify", "--expect", str(expect)], env)
    assert after.returncode == 0, after.stdout
    assert "DIFFERENT" not in after.stdout

    rep = tiundo(["report", "--job", job], env)
    assert rep.returncode == 0 and "SUCCEEDED" in rep.stdout, rep.stdout + rep.stderr
    # the workers' status carries the same counts (End records → partition reports)
    assert rpo_line in rep.stdout.splitlines(), rep.stdout


def test_no_syncpoint_found(demo_cluster: tuple[dict[str, str], Path, str]) -> None:
    env = demo_cluster[0]
    r = tiundo(["plan", "--changefeed", "no-such-feed", "--no-count"], env)
    assert_one_line_error(r, 3, "syncpoint_v1", "no-such-feed", "--to-ts")


def test_changefeed_still_writing_is_refused_unless_forced(
    demo_cluster: tuple[dict[str, str], Path, str], mysql_config: Any
) -> None:
    import json

    env, expect, db = demo_cluster
    exp = json.loads(expect.read_text())
    insert = (
        f"INSERT INTO `{db}_cdc`.syncpoint_v1 (ticdc_cluster_id, changefeed, primary_ts, "
        "secondary_ts) VALUES ('default', 'tiundo-sim', '{p}', '{s}')"
    )

    steps = itertools.count(1)  # (primary_ts) is the table's key: never the same pair twice

    @contextlib.contextmanager
    def changefeed_writing() -> Iterator[None]:
        """A changefeed still running writes a newer syncpoint every interval (here 0.5 s), so
        one lands inside the check's window however long the command takes to get there; each
        is a real pair below now, so whichever the command reads as T has an E above it."""
        stop = threading.Event()

        def write() -> None:
            while not stop.wait(0.5):
                i = next(steps)
                p, s = exp["primary_ts"] + i, exp["target_ts"] + i
                sql(mysql_config, [insert.format(p=p, s=s)])

        thread = threading.Thread(target=write, daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()

    with changefeed_writing():
        r = tiundo(["plan", "--no-count", "--writer-check", "5"], env)
    assert_one_line_error(r, 3, "still writing", "tiundo-sim", "--force")

    with changefeed_writing():  # still advancing, but --force skips the check
        forced = tiundo(["plan", "--no-count", "--writer-check", "5", "--force"], env)
    assert forced.returncode == 0, forced.stderr
    assert "skipped (--force)" in forced.stdout


def test_two_changefeeds_are_refused_until_one_is_named(
    demo_cluster: tuple[dict[str, str], Path, str],
    mysql_config: Any,
    kafka_bootstrap: str,
    tmp_path: Path,
) -> None:
    """Another changefeed's newer syncpoint must not become T for this one's tables."""
    import json

    env, expect, db = demo_cluster
    exp = json.loads(expect.read_text())
    t, primary = exp["target_ts"], exp["primary_ts"]
    insert = (
        f"INSERT INTO `{db}_cdc`.syncpoint_v1 (ticdc_cluster_id, changefeed, primary_ts, "
        "secondary_ts) VALUES ('{c}', '{f}', '{p}', '{s}')"
    )
    # a second changefeed into the same downstream, its newest syncpoint 1 ms after our T
    sql(mysql_config, [insert.format(c="default", f="orders-feed", p=primary + 7, s=t + (1 << 18))])
    for command in (["plan", "--no-count"], ["run", "--job", f"cf-{uuid.uuid4().hex[:8]}"]):
        r = tiundo(command, env)
        assert_one_line_error(
            r, 3, "default/tiundo-sim", str(t), "default/orders-feed", str(t + (1 << 18)),
            "--changefeed",
        )  # fmt: skip

    # a second TiCDC cluster whose changefeed has our name: the name alone is ambiguous
    sql(mysql_config, [insert.format(c="cdc-b", f="tiundo-sim", p=primary + 9, s=t + (2 << 18))])
    r = tiundo(["plan", "--no-count", "--changefeed", "tiundo-sim"], env)
    assert_one_line_error(r, 3, "default/tiundo-sim", "cdc-b/tiundo-sim", "--ticdc-cluster")

    named = ["--changefeed", "tiundo-sim", "--ticdc-cluster", "default"]
    plan = tiundo(["plan", "--no-count", "--json", *named], env)
    assert plan.returncode == 0, plan.stderr
    p = json.loads(plan.stdout)
    assert (p["target_ts"], p["primary_ts"]) == (t, primary)
    assert (p["ticdc_cluster_id"], p["changefeed"]) == ("default", "tiundo-sim")

    # the other changefeed still writes syncpoints: named in the plan, not this job's writer
    other = insert.format(c="default", f="orders-feed", p=primary + 11, s=t + (3 << 18))
    timer = threading.Timer(1.5, sql, (mysql_config, [other]))
    timer.start()
    watched = tiundo(["plan", "--no-count", "--writer-check", "4", *named], env)
    timer.join()
    assert watched.returncode == 0, watched.stderr
    assert "no new syncpoint of changefeed default/tiundo-sim while watching" in watched.stdout
    assert "other changefeeds wrote syncpoints meanwhile (default/orders-feed)" in watched.stdout

    job = f"cf-{uuid.uuid4().hex[:8]}"
    try:
        run = tiundo(
            ["run", "--job", job, "--workers", "2", "--job-dir", str(tmp_path / job),
             *named],
            env,
        )  # fmt: skip
        assert run.returncode == 0, run.stdout + run.stderr
        assert f"job {job}: SUCCEEDED" in run.stdout
        assert "changefeed = default/tiundo-sim" in run.stdout
        assert f"primary_ts {primary}" in run.stdout
        after = tiundo(["verify", "--expect", str(expect)], env)
        assert after.returncode == 0 and "DIFFERENT" not in after.stdout, after.stdout
        rep = tiundo(["report", "--job", job], env)
        assert rep.returncode == 0, rep.stdout + rep.stderr
        assert "changefeed = default/tiundo-sim" in rep.stdout
    finally:
        asyncio.run(delete_job_topics(kafka_bootstrap, job))
