"""Replication factor, min.insync.replicas and retention of a job's topics."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.config import UndoConfig
from core.errors import ConfigError
from core.topicpolicy import TopicPolicy


@given(brokers=st.integers(1, 50))
def test_defaults_follow_the_cluster(brokers: int) -> None:
    p = TopicPolicy().resolve(brokers)
    assert p.replication_factor == min(3, brokers)
    # one replica may be down without stopping the job; never 0
    assert p.min_insync_replicas == max(1, p.replication_factor - 1)
    assert p.retention_ms == 0 and "retention.ms" not in p.configs(compacted=False)


@given(brokers=st.integers(1, 20), factor=st.integers(0, 20), insync=st.integers(0, 20))
def test_resolved_policies_are_always_writable(brokers: int, factor: int, insync: int) -> None:
    try:
        p = TopicPolicy(factor, insync).resolve(brokers)
    except ConfigError as exc:
        assert "\n" not in str(exc)
        assert (factor or min(3, brokers)) > brokers or insync > (factor or min(3, brokers))
        return
    assert 1 <= p.min_insync_replicas <= p.replication_factor <= brokers
    assert p.resolve(brokers) == p  # pinned values resolve to themselves


def test_an_explicit_factor_above_the_brokers_names_the_setting() -> None:
    with pytest.raises(ConfigError) as info:
        TopicPolicy(replication_factor=2).resolve(1)
    assert str(info.value) == (
        "TIUNDO_REPLICATION_FACTOR=2, but the Kafka cluster has 1 broker(s): "
        "lower it (0 = min(3, brokers))"
    )


def test_retention_applies_to_deleting_topics_only() -> None:
    p = TopicPolicy(3, 2, 86_400_000)
    assert p.configs(compacted=False) == {"min.insync.replicas": "2", "retention.ms": "86400000"}
    assert p.configs(compacted=True) == {"min.insync.replicas": "2"}
    assert TopicPolicy(1, 1, -1).configs(compacted=False)["retention.ms"] == "-1"


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"TIUNDO_REPLICATION_FACTOR": "-1"}, "TIUNDO_REPLICATION_FACTOR"),
        ({"TIUNDO_REPLICATION_FACTOR": "x"}, "TIUNDO_REPLICATION_FACTOR"),
        ({"TIUNDO_MIN_INSYNC_REPLICAS": "-2"}, "TIUNDO_MIN_INSYNC_REPLICAS"),
        (
            {"TIUNDO_REPLICATION_FACTOR": "2", "TIUNDO_MIN_INSYNC_REPLICAS": "3"},
            "TIUNDO_MIN_INSYNC_REPLICAS=3 is above TIUNDO_REPLICATION_FACTOR=2",
        ),
        ({"TIUNDO_TOPIC_RETENTION_MS": "-5"}, "TIUNDO_TOPIC_RETENTION_MS"),
    ],
)
def test_bad_settings_are_named(env: dict[str, str], needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        UndoConfig.from_env({"TIUNDO_JOB": "j", **env}).validate()
