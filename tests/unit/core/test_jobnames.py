"""Every Kafka name of a job starts with its topic prefix; jobs never share a name."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.config import FAUST_TABLES, UndoConfig, job_topics
from core.errors import ConfigError
from core.jobnames import JobNames, check_prefix
from ingest.config import IngestConfig

_jobs = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_-]{0,20}", fullmatch=True)
_prefixes = st.from_regex(r"[A-Za-z0-9._-]{0,12}", fullmatch=True)


@given(job=_jobs, prefix=_prefixes)
def test_every_topic_and_the_group_carry_the_prefix(job: str, prefix: str) -> None:
    names = JobNames(job, prefix)
    every = (*names.topics(FAUST_TABLES), names.group)
    assert all(n.startswith(prefix) for n in every)
    assert len(set(every)) == len(every)
    # what the listing finds is filtered down to exactly the job's own topics
    assert all(t.startswith(names.listing_prefixes) for t in names.topics(FAUST_TABLES))


@given(job=_jobs, a=_prefixes, b=_prefixes)
def test_two_prefixes_never_share_a_topic_of_the_same_job(job: str, a: str, b: str) -> None:
    if a == b:
        return
    assert not set(JobNames(job, a).topics(FAUST_TABLES)) & set(
        JobNames(job, b).topics(FAUST_TABLES)
    )


def test_names_without_a_prefix_are_unchanged() -> None:
    names = JobNames("j1")
    assert (names.kv, names.record, names.group) == ("j1.kv", "j1.job", "tiundo-j1")
    assert names.changelog("compact") == "tiundo-j1-compact-changelog"
    assert job_topics("j1") == names.topics(FAUST_TABLES)


def test_configs_and_the_faust_app_id_use_the_prefix() -> None:
    cfg = UndoConfig.from_env({"TIUNDO_JOB": "j1", "TIUNDO_TOPIC_PREFIX": "team-a."}).validate()
    assert (cfg.kv_topic, cfg.dead_topic, cfg.app_id) == (
        "team-a.j1.kv",
        "team-a.j1.dead",
        "team-a.tiundo-j1",
    )
    ingest = IngestConfig.from_env({"TIUNDO_TOPIC_PREFIX": "team-a."}, job="j1")
    assert ingest.topic == cfg.kv_topic
    assert UndoConfig.from_env(cfg.to_env()).topic_prefix == "team-a."


@pytest.mark.parametrize("bad", ["a b", "a/b", "x" * 101, "ü"])
def test_a_prefix_kafka_would_refuse_is_named(bad: str) -> None:
    with pytest.raises(ConfigError, match=r"^TIUNDO_TOPIC_PREFIX must be"):
        check_prefix(bad)
    with pytest.raises(ConfigError, match=r"^TIUNDO_TOPIC_PREFIX"):
        UndoConfig(job="j", topic_prefix=bad).validate()


def test_the_gc_service_id_carries_the_prefix_and_never_collides() -> None:
    # PD keeps one hold per service id: two tenants' jobs of one name must not share it
    assert JobNames("j1").gc_service_id == "tiundo-j1"  # unprefixed jobs keep their id
    assert JobNames("j1", "team-a.").gc_service_id == "tiundo-team-a.:j1"
    # prefix + job concatenate alike here; the ':' (in neither) keeps the ids apart
    assert JobNames("ax", "team-").gc_service_id == "tiundo-team-:ax"
    assert JobNames("x", "team-a").gc_service_id == "tiundo-team-a:x"
    cfg = IngestConfig.from_env({}, job="j1", topic_prefix="t.", tables=("d.t",))
    assert cfg.gc_service_id == "tiundo-t.:j1"


@given(job=_jobs, a=_prefixes, other=_jobs, b=_prefixes)
def test_gc_service_ids_of_two_jobs_differ(job: str, a: str, other: str, b: str) -> None:
    if (job, a) == (other, b):
        return
    assert JobNames(job, a).gc_service_id != JobNames(other, b).gc_service_id
    # PD stores it as one etcd path segment: never a '/', never empty
    assert "/" not in JobNames(job, a).gc_service_id
