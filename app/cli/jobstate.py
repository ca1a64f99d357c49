"""Read a job's state from Kafka without joining it: status, partition reports, offsets.

The workers publish everything a watcher needs (:mod:`app.stages.board`): the job status
(``<job>.status``, compacted, key = job id), per-partition notes (``<job>.progress``:
``part/<p>`` reports, ``done/<p>/<table>/<phase>`` counters) and, as a Faust consumer group
``tiundo-<job>``, their committed offsets on ``<job>.kv``. :class:`JobWatcher` reads those
topics with a group-less consumer (nothing is committed) and the group's offsets with the admin
client, so any number of ``tiundo status`` calls can watch one job.

A watcher that knows the job's start (``owner``: the record's instance id and attempt; ``run``
and ``status``/``report`` read it from the record) takes only statuses and notes of that start
(:func:`takes_status`, :func:`app.undo.barrier.takes_note`): a worker of an earlier instance
writing into the recreated topics can neither end the job nor stand in for a partition.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from google.protobuf.message import DecodeError

from app.cli.common import UnreachableError
from app.config import job_topics
from app.report import PartitionReport, job_status, with_foreign_writes
from app.undo.activity import Activity, Stall, beats_of, stalls
from app.undo.barrier import takes_note
from app.undo.owner import Owner
from core.jobnames import JobNames
from core.kafka_admin import delete_topics, list_topics
from core.kafka_security import kafka_options
from proto import tiundo_pb2

__all__ = [
    "JobSnapshot",
    "JobWatcher",
    "compacted_records",
    "delete_job_topics",
    "foreign_key",
    "partitions_at_end",
    "publish_status",
    "read_compacted",
    "set_when_final",
    "store_foreign_writes",
    "takes_status",
]

log = logging.getLogger(__name__)

#: how long a deletion may take before Kafka stops listing the topics
GONE_TIMEOUT_S = 60.0

FINAL = frozenset(
    {
        tiundo_pb2.JobStatus.SUCCEEDED,
        tiundo_pb2.JobStatus.FAILED,
        tiundo_pb2.JobStatus.INCOMPLETE,
    }
)


Take = Callable[[bytes, bytes], bool]
"""Whether a (key, value) read from a compacted topic is kept."""


def takes_status(owner: Owner, raw: bytes) -> bool:
    """Whether a ``JobStatus`` (a status or the foreign-writes note) is of ``owner``'s start."""
    try:
        status = tiundo_pb2.JobStatus.FromString(raw)
    except DecodeError:
        return False
    return owner.owns(status.instance_id, status.attempt)


def _everything(key: bytes, value: bytes) -> bool:
    return True


async def _drain(
    reader: AIOKafkaConsumer,
    tp: TopicPartition,
    notes: dict[bytes, bytes],
    take: Take = _everything,
) -> None:
    """Read ``tp`` up to its current end into ``notes`` (latest value per key that ``take``s)."""
    end = (await reader.end_offsets([tp]))[tp]
    while await reader.position(tp) < end:
        batch = await reader.getmany(tp, timeout_ms=500)
        for rec in batch.get(tp, []):
            if rec.key is not None and rec.value is not None and take(rec.key, rec.value):
                notes[rec.key] = rec.value


async def delete_job_topics(
    bootstrap: str, job: str, *, keep_record: bool = False, prefix: str = ""
) -> list[str]:
    """Delete the job's topics and its Faust app's (:func:`app.config.job_topics`); their names.

    Returns once Kafka no longer lists them (a topic marked for deletion cannot be created
    again under the same name until it is gone).
    """
    names = job_topics(job, keep_record=keep_record, prefix=prefix)
    deleted = await delete_topics(bootstrap, names)
    deadline = time.monotonic() + GONE_TIMEOUT_S
    while await list_topics(bootstrap, names):
        if time.monotonic() > deadline:
            raise UnreachableError(
                f"job {job}: Kafka still lists deleted topics after {GONE_TIMEOUT_S:.0f} s"
            )
        await asyncio.sleep(0.5)
    return deleted


def foreign_key(job: str) -> bytes:
    """Key on ``<job>.status`` of the writes by others that the fence saw.

    Kept apart from the status, which workers may publish again (an End delivered twice).
    """
    return f"foreign/{job}".encode()


async def publish_status(
    bootstrap: str, status: tiundo_pb2.JobStatus, *, key: bytes | None = None, prefix: str = ""
) -> None:
    """Write ``status`` on ``<job>.status`` under ``key`` (the job id), acknowledged."""
    producer = AIOKafkaProducer(
        **kafka_options(), bootstrap_servers=bootstrap, acks="all", enable_idempotence=True
    )
    try:
        await producer.start()
        await producer.send_and_wait(
            JobNames(status.job_id, prefix).status,
            status.SerializeToString(),
            key=key if key is not None else status.job_id.encode(),
        )
    except KafkaError as exc:
        raise UnreachableError(f"Kafka at {bootstrap}: status of {status.job_id}: {exc!r}") from exc
    finally:
        await producer.stop()


async def read_compacted(bootstrap: str, topic: str) -> dict[bytes, bytes]:
    """Every key's latest value of a one-partition topic (empty if the topic is missing)."""
    reader = AIOKafkaConsumer(
        **kafka_options(), bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None
    )
    try:
        await reader.start()  # inside: a stop signal may cancel the start, stop() still closes
        if topic not in await reader.topics():
            return {}
        tp = TopicPartition(topic, 0)
        reader.assign([tp])
        await reader.seek_to_beginning(tp)
        notes: dict[bytes, bytes] = {}
        await _drain(reader, tp, notes)
        return notes
    finally:
        await reader.stop()


def partitions_at_end(notes: Mapping[bytes, bytes]) -> set[int]:
    """Partitions whose worker has consumed their END, so every record before it is compacted.

    Their undo began: it wrote a ``holds/``, ``done/`` or ``part/`` note (:mod:`app.undo.barrier`).
    """
    out: set[int] = set()
    for key in notes:
        kind, _, rest = key.decode(errors="replace").partition("/")
        head = rest.split("/", 1)[0]
        if kind in ("holds", "done", "part") and head.isdigit():
            out.add(int(head))
    return out


def compacted_records(
    ends: Mapping[int, int], committed: Mapping[int, int], at_end: Collection[int]
) -> int:
    """Records of ``<job>.kv`` the workers have compacted, summed over partitions.

    The consumer group's committed offset says it only every few seconds (Faust commits on a
    timer, and a job often ends before the first commit): a partition whose END was consumed
    counts whole, the others by their committed offset (never above their end).
    """
    total = 0
    for p, end in ends.items():
        total += end if p in at_end else min(end, max(committed.get(p, 0), 0))
    return total


@dataclass(frozen=True, slots=True)
class JobSnapshot:
    """What the job's topics said at one read."""

    status: tiundo_pb2.JobStatus | None
    reports: dict[int, PartitionReport] = field(default_factory=dict)
    rows_applied: int = 0
    kv_end: int = 0
    kv_consumed: int = 0
    topic_exists: bool = False
    #: partition → its last ``beat/<p>`` note (what it was doing, by which worker)
    beats: dict[int, Activity] = field(default_factory=dict)

    @property
    def final(self) -> bool:
        """The job reached SUCCEEDED, FAILED or INCOMPLETE."""
        return self.status is not None and self.status.state in FINAL

    def stalled(
        self, partitions: int, stall_s: float, *, since_ms: int | None = None
    ) -> list[Stall]:
        """Partitions without a report that no worker moved for ``stall_s`` (none once final).

        ``since_ms``: when the watch began (a partition never noted is idle from then); see
        :func:`app.undo.activity.stalls`.
        """
        if self.final:
            return []
        now_ms = int(time.time() * 1000)
        return stalls(
            partitions, self.beats, self.reports, now_ms=now_ms, since_ms=since_ms,
            stall_s=stall_s,
        )  # fmt: skip


class JobWatcher:
    """Reads one job's topics (see the module docstring); ``async with`` or start/stop.

    ``owner``: the job start whose statuses and notes are taken (``Owner()``: any).
    """

    def __init__(
        self,
        bootstrap: str,
        job: str,
        partitions: int,
        *,
        owner: Owner | None = None,
        prefix: str = "",
    ) -> None:
        self.bootstrap = bootstrap
        self.job = job
        self.names = JobNames(job, prefix)
        self.partitions = partitions
        self.owner = owner or Owner()
        self._consumer: AIOKafkaConsumer | None = None
        self._admin: AIOKafkaAdminClient | None = None
        self._notes: dict[str, dict[bytes, bytes]] = {}
        self._readers: dict[str, AIOKafkaConsumer] = {}

    async def __aenter__(self) -> JobWatcher:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Connect (``UnreachableError`` when Kafka does not answer)."""
        self._consumer = AIOKafkaConsumer(
            **kafka_options(),
            bootstrap_servers=self.bootstrap,
            enable_auto_commit=False,
            group_id=None,
            request_timeout_ms=10_000,
        )
        self._admin = AIOKafkaAdminClient(
            **kafka_options(), bootstrap_servers=self.bootstrap, request_timeout_ms=10_000
        )
        try:
            await self._consumer.start()
            await self._admin.start()
        except (KafkaError, OSError) as exc:
            await self.stop()
            raise UnreachableError(f"cannot reach Kafka at {self.bootstrap}: {exc!r}") from exc

    async def stop(self) -> None:
        """Close the clients (idempotent)."""
        consumer, self._consumer = self._consumer, None
        admin, self._admin = self._admin, None
        readers, self._readers = list(self._readers.values()), {}
        for reader in readers:
            await reader.stop()
        if consumer is not None:
            await consumer.stop()
        if admin is not None:
            await admin.close()

    async def _read_compacted(self, topic: str, take: Take) -> dict[bytes, bytes]:
        """Every key's latest taken value of a one-partition topic, read on from the last call."""
        meta = self._consumer
        assert meta is not None
        notes = self._notes.setdefault(topic, {})
        tp = TopicPartition(topic, 0)
        reader = self._readers.get(topic)
        if reader is None:
            if topic not in await meta.topics():
                return notes
            reader = AIOKafkaConsumer(
                **kafka_options(),
                bootstrap_servers=self.bootstrap,
                enable_auto_commit=False,
                group_id=None,
            )
            await reader.start()
            self._readers[topic] = reader
            reader.assign([tp])
            await reader.seek_to_beginning(tp)
        await _drain(reader, tp, notes, take)
        return notes

    async def _kv_offsets(self) -> tuple[bool, dict[int, int], dict[int, int]]:
        """(topic exists, end offset per partition, the app group's committed offset per one)."""
        consumer, admin = self._consumer, self._admin
        assert consumer is not None and admin is not None
        topic = self.names.kv
        if topic not in await consumer.topics():
            return False, {}, {}
        tps = [TopicPartition(topic, p) for p in range(self.partitions)]
        ends = await consumer.end_offsets(tps)
        try:
            committed = await admin.list_consumer_group_offsets(self.names.group)
        except KafkaError:
            committed = {}
        done = {tp.partition: m.offset for tp, m in committed.items() if tp.topic == topic}
        return True, {tp.partition: end for tp, end in ends.items()}, done

    async def snapshot(self) -> JobSnapshot:
        """Read everything once (``UnreachableError`` when Kafka stops answering)."""
        try:
            owner = self.owner
            status_notes = await self._read_compacted(
                self.names.status, lambda _, raw: takes_status(owner, raw)
            )
            progress = await self._read_compacted(
                self.names.progress, lambda _, raw: takes_note(owner, raw)
            )
            exists, ends, committed = await self._kv_offsets()
        except KafkaError as exc:
            raise UnreachableError(f"Kafka at {self.bootstrap}: {exc!r}") from exc
        status = None
        raw = status_notes.get(self.job.encode())
        if raw is not None:
            status = tiundo_pb2.JobStatus.FromString(raw)
        foreign = status_notes.get(foreign_key(self.job))
        if status is not None and foreign is not None:
            # whatever a worker published last, the writes by others stay in the status
            seen = tiundo_pb2.JobStatus.FromString(foreign)
            status = with_foreign_writes(
                status,
                {t.table_id: t.foreign_writes for t in seen.tables},
                {t.table_id: (t.db_name, t.table_name) for t in seen.tables},
            )
        reports: dict[int, PartitionReport] = {}
        applied = 0
        for key, value in progress.items():
            k = key.decode(errors="replace")
            if k.startswith("part/"):
                rep = PartitionReport.from_json(value)
                reports[rep.partition] = rep
            elif k.startswith("done/"):
                t = json.loads(value)
                applied += int(t[3]) + int(t[4])
        if status is None and reports:
            status = job_status(self.job, self.partitions, reports)
        consumed = compacted_records(ends, committed, partitions_at_end(progress))
        beats = beats_of({k.decode(errors="replace"): v for k, v in progress.items()})
        return JobSnapshot(status, reports, applied, sum(ends.values()), consumed, exists, beats)


async def set_when_final(
    bootstrap: str,
    job: str,
    partitions: int,
    fence: asyncio.Event,
    poll_s: float = 1.0,
    *,
    owner: Owner | None = None,
    prefix: str = "",
) -> None:
    """Set ``fence`` once the job's status (of ``owner``'s start) is final.

    Kafka being unreachable does not end the watch (the workers wait for it too): it is said
    once a minute and the watch goes on. Anything else sets the fence, so the feed never stays
    open because nobody watches it any more, and is raised.
    """
    said = float("-inf")
    while not fence.is_set():
        try:
            async with JobWatcher(
                bootstrap, job, partitions, owner=owner, prefix=prefix
            ) as watcher:
                while not fence.is_set():
                    if (await watcher.snapshot()).final:
                        fence.set()
                        return
                    await asyncio.sleep(poll_s)
        except UnreachableError as exc:
            now = time.monotonic()
            if now - said >= 60:
                log.warning("job %s: cannot read its status yet (%s); still watching", job, exc)
                said = now
            await asyncio.sleep(poll_s)
        except BaseException:
            fence.set()
            raise


async def store_foreign_writes(
    bootstrap: str,
    job: str,
    partitions: int,
    by_table: Mapping[int, int],
    names: Mapping[int, tuple[str, str]],
    *,
    owner: Owner | None = None,
    prefix: str = "",
) -> tiundo_pb2.JobStatus | None:
    """Add the writes by others the fence saw to the job's final status, and store it."""
    owner = owner or Owner()
    async with JobWatcher(bootstrap, job, partitions, owner=owner, prefix=prefix) as watcher:
        snap = await watcher.snapshot()
    if snap.status is None:
        return None
    seen = tiundo_pb2.JobStatus(
        job_id=job,
        foreign_writes=sum(by_table.values()),
        instance_id=owner.instance,
        attempt=owner.attempt,
    )
    for tid in sorted(by_table):
        db, name = names.get(tid, ("", ""))
        seen.tables.add(table_id=tid, db_name=db, table_name=name, foreign_writes=by_table[tid])
    await publish_status(bootstrap, seen, key=foreign_key(job), prefix=prefix)
    status = with_foreign_writes(snap.status, by_table, names)
    await publish_status(bootstrap, status, prefix=prefix)
    return status
