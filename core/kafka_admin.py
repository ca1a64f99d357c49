"""Creating, checking and deleting a job's Kafka topics: the one admin-client helper.

Every topic a job uses has a fixed partition count: ``<job>.kv`` is co-partitioned with the
Faust tables' changelogs, so an existing topic with another count must stop the job with a
clear one-line error rather than be used. :func:`ensure_topics` does, for a list of
:class:`TopicSpec`:

1. topics that must already exist (``create=False``) are looked up first, so a missing or
   wrongly sized one fails before anything is created;
2. the others are created (an existing one is fine), with their topic configs;
3. all of them are awaited until every partition has a leader (a new topic has none for a
   moment, and producing to it then fails), polled through :func:`core.retry.retry_async`;
4. each one's partition count is checked.

Creation is attempted before the first look-up of a topic that may be created: a metadata
request may auto-create a missing topic with the broker's defaults (``auto.create.topics.enable``),
which would leave it with the wrong count and no compaction.

Every topic is created under a :class:`core.topicpolicy.TopicPolicy` (replication factor,
``min.insync.replicas``, retention), resolved against the cluster's broker count
(:func:`broker_count`) in the same admin session; a broker that still refuses the factor or a
config is reported by the setting's name.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from aiokafka.protocol.admin import DeleteGroupsRequest

from core.errors import ConfigError, TransientError
from core.kafka_security import kafka_options
from core.retry import Backoff, retry_async
from core.topicpolicy import MIN_INSYNC_ENV, REPLICATION_ENV, RETENTION_ENV, TopicPolicy

__all__ = [
    "COMPACTED",
    "TopicNotReadyError",
    "TopicSpec",
    "broker_count",
    "create_topic_exclusive",
    "delete_group",
    "delete_topics",
    "describe_group",
    "ensure_topic",
    "ensure_topics",
    "group_members",
    "list_topics",
    "resolve_policy",
]

log = logging.getLogger(__name__)

COMPACTED: Final[Mapping[str, str]] = {"cleanup.policy": "compact"}
"""Topic configs of a topic that keeps only each key's latest value."""

_UNKNOWN_TOPIC: Final = 3  # UNKNOWN_TOPIC_OR_PARTITION
_INVALID_REPLICATION_FACTOR: Final = 38
_INVALID_CONFIG: Final = 40
_REQUEST_TIMEOUT_MS: Final = 15_000


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """One topic a job needs, and what to say when the cluster has it wrong.

    ``missing`` and ``mismatch`` are :meth:`str.format` templates with the fields ``topic``,
    ``actual`` (partitions found), ``expected`` (``partitions``) and ``error`` (the metadata
    error code): the caller knows what a wrong topic means for the job and how to fix it.
    """

    name: str
    partitions: int
    configs: Mapping[str, str] = field(default_factory=dict)
    create: bool = True
    """False: the topic must exist already (someone else creates it)."""
    missing: str = "topic {topic} does not exist (error {error})"
    mismatch: str = (
        "topic {topic} has {actual} partitions, the job is configured for {expected} "
        "(the Faust tables must match): delete it or change the count"
    )

    def missing_error(self, error: int) -> ConfigError:
        """The error for a topic that should exist but does not."""
        return ConfigError(self._text(self.missing, 0, error))

    def mismatch_error(self, actual: int, error: int = 0) -> ConfigError:
        """The error for a topic with ``actual`` partitions instead of ``partitions``."""
        return ConfigError(self._text(self.mismatch, actual, error))

    def _text(self, template: str, actual: int, error: int) -> str:
        return template.format(
            topic=self.name, actual=actual, expected=self.partitions, error=error
        )


class TopicNotReadyError(TransientError):
    """A topic has no metadata yet or a partition without a leader; retried until the deadline."""


def _ready(meta: Mapping[str, Any]) -> bool:
    parts = meta["partitions"]
    return bool(meta["error_code"] == 0 and parts and all(p["leader"] >= 0 for p in parts))


async def _describe(admin: AIOKafkaAdminClient, names: Sequence[str]) -> dict[str, Any]:
    return {m["topic"]: m for m in await admin.describe_topics(list(names))}


def _new_topic(spec: TopicSpec, policy: TopicPolicy) -> NewTopic:
    compacted = spec.configs.get("cleanup.policy") == "compact"
    configs = {**policy.configs(compacted=compacted), **spec.configs}
    return NewTopic(spec.name, spec.partitions, policy.replication_factor, topic_configs=configs)


def _creation_error(err: Mapping[str, Any], policy: TopicPolicy) -> ConfigError:
    """A refused creation as one line naming the setting the broker refused."""
    code, topic = err["error_code"], err["topic"]
    if code == _INVALID_REPLICATION_FACTOR:
        return ConfigError(
            f"cannot create topic {topic}: the brokers refuse replication factor "
            f"{policy.replication_factor} ({REPLICATION_ENV})"
        )
    if code == _INVALID_CONFIG:
        return ConfigError(
            f"cannot create topic {topic}: the brokers refuse its configs "
            f"(min.insync.replicas {policy.min_insync_replicas}, {MIN_INSYNC_ENV}; "
            f"retention.ms {policy.retention_ms}, {RETENTION_ENV}): {err.get('error_message')}"
        )
    return ConfigError(f"cannot create topic {topic}: {dict(err)}")


async def broker_count(admin: AIOKafkaAdminClient) -> int:
    """How many brokers the cluster has now (its metadata)."""
    return len((await admin.describe_cluster())["brokers"])


async def _create(
    admin: AIOKafkaAdminClient, specs: Sequence[TopicSpec], policy: TopicPolicy
) -> None:
    wanted = [_new_topic(s, policy) for s in specs]
    resp = await admin.create_topics(wanted)  # per-topic errors come in the response
    for err in resp.to_object()["topic_errors"]:
        if err["error_code"] not in (0, TopicAlreadyExistsError.errno):
            raise _creation_error(err, policy)


async def _await_leaders(
    admin: AIOKafkaAdminClient, specs: Sequence[TopicSpec], timeout_s: float
) -> dict[str, Any]:
    """Metadata of every topic once all their partitions have leaders."""
    by_name = {s.name: s for s in specs}

    async def poll() -> dict[str, Any]:
        metas = await _describe(admin, list(by_name))
        for name, spec in by_name.items():
            meta = metas.get(name)
            if meta is not None and _ready(meta):
                continue
            error = -1 if meta is None else int(meta["error_code"])
            if error == _UNKNOWN_TOPIC and not spec.create:
                raise spec.missing_error(error)
            raise TopicNotReadyError(
                f"topic {name} is not ready after {timeout_s:g} s (error {error}): "
                "a partition has no leader"
            )
        return metas

    def on_retry(attempt: int, exc: BaseException, delay: float) -> None:
        log.debug("waiting for topic leaders (%d): %s", attempt, exc)

    return await retry_async(
        poll,
        backoff=Backoff(0.05, 1.5, cap=0.5),
        what="topic leaders",
        retriable=lambda exc: isinstance(exc, TopicNotReadyError),
        deadline_s=timeout_s,
        on_retry=on_retry,
    )


async def ensure_topics(
    bootstrap: str,
    specs: Sequence[TopicSpec],
    *,
    policy: TopicPolicy | None = None,
    timeout_s: float = 15.0,
) -> None:
    """Check, create (under ``policy``, default: the defaults) and await ``specs``.

    See the module docstring.

    Raises ConfigError (one line, from the spec's templates) when a topic is missing or has
    another partition count, TopicNotReadyError when leaders do not appear within
    ``timeout_s``, and TransientError when Kafka does not answer.
    """
    admin = AIOKafkaAdminClient(
        **kafka_options(), bootstrap_servers=bootstrap, request_timeout_ms=_REQUEST_TIMEOUT_MS
    )
    try:
        await admin.start()
        existing = [s for s in specs if not s.create]
        if existing:
            metas = await _describe(admin, [s.name for s in existing])
            for s in existing:
                meta = metas.get(s.name)
                if meta is None or meta["error_code"] == _UNKNOWN_TOPIC:
                    raise s.missing_error(_UNKNOWN_TOPIC)
                found = len(meta["partitions"])
                if meta["error_code"] == 0 and found != s.partitions:
                    raise s.mismatch_error(found)
        created = [s for s in specs if s.create]
        if created:
            resolved = (policy or TopicPolicy()).resolve(await broker_count(admin))
            await _create(admin, created, resolved)
        metas = await _await_leaders(admin, specs, timeout_s)
        for s in specs:
            found = len(metas[s.name]["partitions"])
            if found != s.partitions:
                raise s.mismatch_error(found)
    except KafkaError as exc:
        raise TransientError(f"Kafka at {bootstrap}: {exc!r}") from exc
    finally:
        await admin.close()


async def ensure_topic(
    bootstrap: str,
    topic: str,
    partitions: int,
    *,
    create: bool = True,
    policy: TopicPolicy | None = None,
) -> None:
    """One topic with ``partitions`` partitions: created, or the existing one checked."""
    await ensure_topics(bootstrap, [TopicSpec(topic, partitions, create=create)], policy=policy)


async def resolve_policy(bootstrap: str, policy: TopicPolicy) -> TopicPolicy:
    """``policy`` with its defaults resolved against the cluster's broker count now."""
    admin = AIOKafkaAdminClient(
        **kafka_options(), bootstrap_servers=bootstrap, request_timeout_ms=_REQUEST_TIMEOUT_MS
    )
    try:
        await admin.start()
        brokers = await broker_count(admin)
    except KafkaError as exc:
        raise TransientError(f"Kafka at {bootstrap}: {exc!r}") from exc
    finally:
        await admin.close()
    return policy.resolve(brokers)


async def create_topic_exclusive(
    bootstrap: str, spec: TopicSpec, *, policy: TopicPolicy | None = None
) -> bool:
    """Create ``spec``'s topic; False when it exists already (the broker decides: atomic).

    Two processes racing to create the same name get one True: a claim on the name.
    """
    admin = AIOKafkaAdminClient(
        **kafka_options(), bootstrap_servers=bootstrap, request_timeout_ms=_REQUEST_TIMEOUT_MS
    )
    try:
        await admin.start()
        resolved = (policy or TopicPolicy()).resolve(await broker_count(admin))
        resp = await admin.create_topics([_new_topic(spec, resolved)])
    except KafkaError as exc:
        raise TransientError(f"Kafka at {bootstrap}: {exc!r}") from exc
    finally:
        await admin.close()
    for err in resp.to_object()["topic_errors"]:
        if err["error_code"] == TopicAlreadyExistsError.errno:
            return False
        if err["error_code"] != 0:
            raise _creation_error(err, resolved)
    return True


async def list_topics(bootstrap: str, prefixes: Sequence[str]) -> list[str]:
    """Names of the topics that start with one of ``prefixes``, sorted."""
    admin = AIOKafkaAdminClient(
        **kafka_options(), bootstrap_servers=bootstrap, request_timeout_ms=_REQUEST_TIMEOUT_MS
    )
    try:
        await admin.start()
        return sorted(t for t in await admin.list_topics() if t.startswith(tuple(prefixes)))
    except KafkaError as exc:
        raise TransientError(f"Kafka at {bootstrap}: {exc!r}") from exc
    finally:
        await admin.close()


async def delete_topics(bootstrap: str, names: Sequence[str]) -> list[str]:
    """Delete the topics of ``names`` (exact names) that exist; their names, sorted."""
    admin = AIOKafkaAdminClient(
        **kafka_options(), bootstrap_servers=bootstrap, request_timeout_ms=_REQUEST_TIMEOUT_MS
    )
    try:
        await admin.start()
        wanted = set(names)
        doomed = sorted(t for t in await admin.list_topics() if t in wanted)
        if doomed:
            await admin.delete_topics(doomed)
        return doomed
    except KafkaError as exc:
        raise TransientError(f"Kafka at {bootstrap}: {exc!r}") from exc
    finally:
        await admin.close()


async def group_members(bootstrap: str, group: str) -> int:
    """How many consumers are members of ``group`` now (0: none, or the group is unknown)."""
    return (await describe_group(bootstrap, group))[1]


async def describe_group(bootstrap: str, group: str) -> tuple[bool, int]:
    """(whether Kafka knows ``group``: members or committed offsets, its member count)."""
    admin = AIOKafkaAdminClient(
        **kafka_options(), bootstrap_servers=bootstrap, request_timeout_ms=_REQUEST_TIMEOUT_MS
    )
    try:
        await admin.start()
        responses = await admin.describe_consumer_groups([group])
    except KafkaError as exc:
        raise TransientError(f"Kafka at {bootstrap}: group {group}: {exc!r}") from exc
    finally:
        await admin.close()
    members, known = 0, False
    for resp in responses:
        for described in resp.to_object()["groups"]:
            if described["group"] == group:
                members += len(described["members"])
                known = known or described["state"] not in ("Dead", "")
    return known, members


_GROUP_NOT_EMPTY: Final = 68  # NON_EMPTY_GROUP
_GROUP_NOT_FOUND: Final = 69  # GROUP_ID_NOT_FOUND


async def delete_group(bootstrap: str, group: str) -> bool:
    """Delete the consumer group ``group`` and its committed offsets; False when it is unknown.

    A group with members is refused by Kafka: :class:`ConfigError` naming it. aiokafka's admin
    client has no call for DeleteGroups (API 42), so its request goes to the group's
    coordinator through the client's request path.
    """
    admin = AIOKafkaAdminClient(
        **kafka_options(), bootstrap_servers=bootstrap, request_timeout_ms=_REQUEST_TIMEOUT_MS
    )
    try:
        await admin.start()
        coordinator = await admin.find_coordinator(group)
        resp = await admin._send_request(DeleteGroupsRequest([group]), coordinator)
    except KafkaError as exc:
        raise TransientError(f"Kafka at {bootstrap}: group {group}: {exc!r}") from exc
    finally:
        await admin.close()
    for result in resp.to_object()["results"]:
        if result["group_id"] != group:
            continue
        code = int(result["error_code"])
        if code == _GROUP_NOT_FOUND:
            return False
        if code == _GROUP_NOT_EMPTY:
            raise ConfigError(f"Kafka group {group} still has members: stop its workers first")
        if code:
            raise TransientError(f"Kafka at {bootstrap}: deleting group {group}: error {code}")
    return True
