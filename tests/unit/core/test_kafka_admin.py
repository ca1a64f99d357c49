"""core.kafka_admin against a scripted admin client: order of checks, messages, waiting."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError

import core.kafka_admin as ka
from core.errors import ConfigError, TransientError
from core.kafka_admin import (
    COMPACTED,
    TopicNotReadyError,
    TopicSpec,
    create_topic_exclusive,
    ensure_topic,
    ensure_topics,
)
from core.topicpolicy import TopicPolicy


class _Resp:
    def __init__(self, errors: list[dict[str, Any]]) -> None:
        self.errors = errors

    def to_object(self) -> dict[str, Any]:
        return {"topic_errors": self.errors}


class FakeAdmin:
    """A broker with ``topics`` (name → partition count); new topics get leaders after
    ``leaderless_polls`` describes."""

    def __init__(
        self, topics: dict[str, int], *, leaderless_polls: int = 0, brokers: int = 1
    ) -> None:
        self.topics = dict(topics)
        self.brokers = brokers
        self.factors: dict[str, int] = {}
        self.leaderless = {t: 0 for t in topics}
        self.leaderless_polls = leaderless_polls
        self.calls: list[tuple[str, Any]] = []
        self.closed = False
        self.create_error: dict[str, int] = {}

    def __call__(self, **kwargs: Any) -> FakeAdmin:  # stands in for the class
        return self

    async def start(self) -> None:
        self.calls.append(("start", None))

    async def close(self) -> None:
        self.closed = True

    async def describe_topics(self, names: list[str]) -> list[dict[str, Any]]:
        self.calls.append(("describe", tuple(names)))
        out = []
        for n in names:
            if n not in self.topics:
                out.append({"topic": n, "error_code": 3, "partitions": []})
                continue
            leader = 0 if self.leaderless[n] <= 0 else -1
            self.leaderless[n] -= 1
            parts = [{"partition": p, "leader": leader} for p in range(self.topics[n])]
            out.append({"topic": n, "error_code": 0, "partitions": parts})
        return out

    async def describe_cluster(self) -> dict[str, Any]:
        self.calls.append(("cluster", None))
        return {"brokers": [{"node_id": i} for i in range(self.brokers)]}

    async def create_topics(self, new: list[Any]) -> _Resp:
        self.calls.append(
            ("create", tuple((t.name, t.num_partitions, t.topic_configs) for t in new))
        )
        errors = []
        for t in new:
            code = self.create_error.get(t.name, 0)
            if t.name in self.topics:
                code = 36
            elif t.replication_factor > self.brokers:
                code = 38  # INVALID_REPLICATION_FACTOR, as a broker answers
            elif code == 0:
                self.topics[t.name] = t.num_partitions
                self.factors[t.name] = t.replication_factor
                self.leaderless[t.name] = self.leaderless_polls
            errors.append({"topic": t.name, "error_code": code, "error_message": None})
        return _Resp(errors)

    async def list_topics(self) -> list[str]:
        return list(self.topics)

    async def delete_topics(self, names: list[str]) -> None:
        self.calls.append(("delete", tuple(names)))
        for n in names:
            del self.topics[n]


@pytest.fixture
def broker(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    def install(admin: FakeAdmin) -> FakeAdmin:
        monkeypatch.setattr(ka, "AIOKafkaAdminClient", admin)
        return admin

    yield install


async def test_creates_missing_topics_with_configs_and_waits_for_leaders(broker: Any) -> None:
    admin = broker(FakeAdmin({"j.kv": 3}, leaderless_polls=2))
    await ensure_topics(
        "b:9092",
        [TopicSpec("j.kv", 3, create=False), TopicSpec("j.progress", 1, COMPACTED)],
    )
    kinds = [c[0] for c in admin.calls]
    # the kv check comes before creating; the broker count decides the replication factor
    assert kinds[:4] == ["start", "describe", "cluster", "create"]
    assert admin.calls[3] == (
        "create",
        (("j.progress", 1, {"cleanup.policy": "compact", "min.insync.replicas": "1"}),),
    )
    assert admin.factors == {"j.progress": 1}  # min(3, 1 broker)
    assert kinds.count("describe") == 1 + 3  # two polls without a leader, then ready
    assert admin.topics == {"j.kv": 3, "j.progress": 1} and admin.closed


async def test_existing_topic_is_checked_not_recreated(broker: Any) -> None:
    admin = broker(FakeAdmin({"t": 4}))
    await ensure_topic("b", "t", 4)
    with pytest.raises(ConfigError) as info:
        await ensure_topic("b", "t", 2)
    assert str(info.value) == (
        "topic t has 4 partitions, the job is configured for 2 (the Faust tables must match): "
        "delete it or change the count"
    )
    assert admin.topics == {"t": 4}


async def test_a_topic_that_must_exist_fails_before_anything_is_created(broker: Any) -> None:
    admin = broker(FakeAdmin({}))
    spec = TopicSpec("j.kv", 3, create=False, missing="{topic} missing, want {expected}")
    with pytest.raises(ConfigError, match=r"^j.kv missing, want 3$"):
        await ensure_topics("b", [spec, TopicSpec("j.dead", 1)])
    assert "create" not in [c[0] for c in admin.calls] and admin.closed
    with pytest.raises(ConfigError, match=r"^topic t does not exist \(error 3\)$"):
        await ensure_topic("b", "t", 1, create=False)


async def test_wrong_count_of_a_topic_that_must_exist_fails_before_creating(broker: Any) -> None:
    admin = broker(FakeAdmin({"j.kv": 2}))
    spec = TopicSpec(
        "j.kv", 3, create=False, mismatch="{topic} has {actual} (error {error}), want {expected}"
    )
    with pytest.raises(ConfigError, match=r"^j.kv has 2 \(error 0\), want 3$"):
        await ensure_topics("b", [spec, TopicSpec("j.dead", 1)])
    assert "create" not in [c[0] for c in admin.calls]


async def test_refused_creation_names_the_topic(broker: Any) -> None:
    admin = broker(FakeAdmin({}))
    admin.create_error["bad"] = 42
    with pytest.raises(ConfigError, match=r"^cannot create topic bad: .*'error_code': 42"):
        await ensure_topic("b", "bad", 1)


async def test_leaders_that_never_come_end_in_a_transient_error(broker: Any) -> None:
    broker(FakeAdmin({}, leaderless_polls=10**9))
    with pytest.raises(TopicNotReadyError, match=r"^topic t is not ready after 0\.2 s") as info:
        await ensure_topics("b", [TopicSpec("t", 1)], timeout_s=0.2)
    assert info.value.retriable


async def test_kafka_errors_become_transient(broker: Any) -> None:
    admin = broker(FakeAdmin({}))

    async def refuse() -> None:
        raise KafkaConnectionError("no broker")

    admin.start = refuse
    with pytest.raises(TransientError, match=r"^Kafka at b:1: KafkaConnectionError"):
        await ensure_topic("b:1", "t", 1)
    assert admin.closed


async def test_delete_topics_by_exact_name(broker: Any) -> None:
    # exact names only: a prefix "tiundo-j-" would also reach job "j-x"'s topics
    admin = broker(
        FakeAdmin({"j.kv": 1, "j.dead": 1, "tiundo-j-x": 1, "tiundo-j-x-compact": 1, "jj.kv": 1})
    )
    assert await ka.delete_topics("b", ["j.kv", "j.dead", "tiundo-j-x", "j.status"]) == [
        "j.dead",
        "j.kv",
        "tiundo-j-x",
    ]
    assert sorted(admin.topics) == ["jj.kv", "tiundo-j-x-compact"]
    assert await ka.delete_topics("b", ["j."]) == []  # not a prefix any more
    assert ("delete", ()) not in admin.calls


def test_message_templates() -> None:
    spec = TopicSpec("t", 3)
    assert str(spec.missing_error(3)) == "topic t does not exist (error 3)"
    assert "topic t has 5 partitions, the job is configured for 3" in str(spec.mismatch_error(5))


async def test_default_policy_follows_the_broker_count(broker: Any) -> None:
    admin = broker(FakeAdmin({}, brokers=5))
    policy = TopicPolicy(retention_ms=3_600_000)
    await ensure_topics(
        "b", [TopicSpec("j.kv", 2), TopicSpec("j.status", 1, COMPACTED)], policy=policy
    )
    assert admin.factors == {"j.kv": 3, "j.status": 3}
    created = dict((name, configs) for name, _, configs in admin.calls[2][1])
    # retention only where time deletes records; compaction keeps each key's last value
    assert created == {
        "j.kv": {"min.insync.replicas": "2", "retention.ms": "3600000"},
        "j.status": {"min.insync.replicas": "2", "cleanup.policy": "compact"},
    }


async def test_a_factor_above_the_broker_count_is_refused_by_name(broker: Any) -> None:
    admin = broker(FakeAdmin({}, brokers=1))
    with pytest.raises(ConfigError) as info:
        await ensure_topics("b", [TopicSpec("j.kv", 2)], policy=TopicPolicy(replication_factor=2))
    assert str(info.value) == (
        "TIUNDO_REPLICATION_FACTOR=2, but the Kafka cluster has 1 broker(s): "
        "lower it (0 = min(3, brokers))"
    )
    assert "create" not in [c[0] for c in admin.calls] and admin.closed


async def test_a_factor_the_broker_refuses_names_the_setting(broker: Any) -> None:
    admin = broker(FakeAdmin({}, brokers=3))
    admin.brokers = 1  # a broker left between the count and the creation
    admin.describe_cluster = _three_brokers  # type: ignore[method-assign]
    with pytest.raises(
        ConfigError, match=r"refuse replication factor 3 \(TIUNDO_REPLICATION_FACTOR\)"
    ):
        await ensure_topics("b", [TopicSpec("j.kv", 2)])
    assert await create_topic_exclusive("b", TopicSpec("x", 1), policy=TopicPolicy(1)) is True


async def _three_brokers() -> dict[str, Any]:
    return {"brokers": [{"node_id": i} for i in range(3)]}
