"""tiundo cleanup's plan: only the job's own things, by exact name; refused under live workers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from click.testing import CliRunner

from app.cli.cleanup import CleanupPlan, plan_cleanup, refusal, render_cleanup
from app.config import job_topics


def _plan(**kw: Any) -> CleanupPlan:
    base: dict[str, Any] = {
        "existing_topics": [*job_topics("a"), *job_topics("a-b"), "a.other", "x.kv"],
        "group_known": True,
        "live_workers": 0,
        "counter_rows": 7,
        "progress_db": "tiundo_meta",
        "folder": Path("/tmp/jobs/a"),
        "folder_exists": True,
        "state": "SUCCEEDED",
    }
    base.update(kw)
    return plan_cleanup("a", **base)


def test_the_plan_names_the_jobs_own_topics_group_counters_and_folder() -> None:
    plan = _plan()
    assert set(plan.topics) == set(job_topics("a"))
    # never by prefix: job a-b's Faust topics tiundo-a-b-… start like job a's tiundo-a-…
    assert not any(t.startswith(("a-b.", "tiundo-a-b-")) for t in plan.topics)
    assert plan.group == "tiundo-a"
    assert plan.counter_table == "`tiundo_meta`.`undo_progress`"
    text = render_cleanup(plan)
    assert "a.kv" in text and "tiundo-a-compact-changelog" in text and "tiundo-a-b" not in text
    assert "7 in `tiundo_meta`.`undo_progress`" in text and "/tmp/jobs/a" in text
    assert refusal(plan, force=False) is None


def test_a_prefixed_job_plans_its_prefixed_topics_and_group_only() -> None:
    """Under --topic-prefix the job's topics and group carry it; the unprefixed job of the same
    name (another team's, on a shared cluster) is not touched."""
    existing = [*job_topics("a", prefix="team."), *job_topics("a")]
    plan = _plan(existing_topics=existing, topic_prefix="team.", live_workers=1, state="RUNNING")
    assert set(plan.topics) == set(job_topics("a", prefix="team."))
    assert all(t.startswith("team.") for t in plan.topics)
    assert plan.group == "team.tiundo-a"
    why = refusal(plan, force=False)
    assert why is not None and "team.tiundo-a" in why


def test_only_what_exists_is_planned() -> None:
    plan = _plan(existing_topics=["a.kv"], group_known=False, counter_rows=0, folder_exists=False)
    assert plan.topics == ("a.kv",) and plan.group is None
    assert plan.counter_table is None and plan.folder is None
    text = render_cleanup(plan)
    assert "consumer group" not in text and "counter" not in text and "folder" not in text
    gone = _plan(existing_topics=[], group_known=False, counter_rows=0, folder_exists=False)
    assert gone.empty and "nothing of job a is left" in render_cleanup(gone)


def test_live_workers_refuse_unless_forced() -> None:
    plan = _plan(live_workers=2, state="RUNNING")
    why = refusal(plan, force=False)
    assert why is not None and "RUNNING" in why and "2 worker(s)" in why and "--force" in why
    assert "\n" not in why
    assert refusal(plan, force=True) is None


def test_cleanup_needs_a_job() -> None:
    from app.cli import main

    r = CliRunner().invoke(main, ["cleanup"], env={"TIUNDO_JOB": ""})
    assert r.exit_code == 2 and "give --job NAME" in r.stderr
