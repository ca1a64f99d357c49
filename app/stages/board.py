"""The progress board: this worker's reader/writer of ``<job>.progress``, dead letters, status.

The notes and the ``_tidb_rowid`` barrier are defined in :mod:`app.undo.barrier` (pure). Every note
is written with ``acks=all`` and awaited, so a note that a phase is done is durable before the
next phase starts: a restarted worker never re-applies a finished phase.

Notes, dead letters and statuses carry the instance and attempt of this worker's job start
(:mod:`app.undo.owner`); notes of another start (a worker of an earlier instance still running,
a zombie) are ignored on reading, logged once per writer: they never mark a partition done,
open a barrier, or overwrite this start's own note of the same key.

This module also starts the board when the worker starts: it checks that ``<job>.kv`` exists
with the configured partition count (the ingest worker creates it; we never do, a wrong count
would silently misroute table state) and creates the other three topics when missing.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from app.config import UndoConfig
from app.report import PartitionReport
from app.topics import app, compact_table, config, progress_table
from app.undo.barrier import barrier_open, keep_note
from app.undo.owner import Owner, Strangers
from core.errors import ConfigError
from core.kafka_admin import COMPACTED, TopicSpec, ensure_topics
from core.kafka_security import kafka_options
from core.metrics import DEAD_LETTERS, JOB_STATE, JOB_STATES, set_state
from proto import tiundo_pb2

__all__ = ["Board", "PartitionFailedError", "check_topics", "get_board"]

log = logging.getLogger(__name__)


class PartitionFailedError(Exception):
    """Another partition of the job failed; a barrier that waits on it can never open."""


async def check_topics(cfg: UndoConfig, changelogs: Sequence[str] = ()) -> None:
    """Fail clearly unless ``<job>.kv`` has ``cfg.partitions`` partitions; create the others.

    ``changelogs`` (the tables' changelog topics) are created compacted with
    ``cfg.partitions`` partitions too: left to Faust, two workers starting together race to
    create them and one may cache "0 partitions" until its metadata refreshes (5 minutes).
    Faust's assignor topic is created here too, so every topic of the job, Faust's included,
    gets the job's replication factor and ``min.insync.replicas`` (``cfg.topic_policy``).
    """
    left_over = (
        "topic {topic} has {actual} partitions, expected {expected}: "
        "it is left from another run of this job; delete it"
    )
    kv = TopicSpec(
        cfg.kv_topic,
        cfg.partitions,
        create=False,
        missing=(
            "topic {topic} does not exist: the ingest worker creates it with "
            "TIUNDO_PARTITIONS={expected} partitions; start it first"
        ),
        mismatch=(
            "topic {topic} has {actual} partitions (error {error}), "
            "but TIUNDO_PARTITIONS={expected}: every worker and the ingest worker "
            "must use the topic's partition count"
        ),
    )
    await ensure_topics(
        cfg.kafka_bootstrap,
        [
            kv,
            TopicSpec(cfg.dead_topic, 1, mismatch=left_over),
            TopicSpec(cfg.progress_topic, 1, COMPACTED, mismatch=left_over),
            TopicSpec(cfg.status_topic, 1, COMPACTED, mismatch=left_over),
            *(TopicSpec(c, cfg.partitions, COMPACTED, mismatch=left_over) for c in changelogs),
            *([TopicSpec(cfg.names.assignor, 1, mismatch=left_over)] if changelogs else []),
        ],
        policy=cfg.topic_policy,
    )


class Board:
    """One worker's view of ``<job>.progress`` and its producer for dead letters and status."""

    def __init__(self, cfg: UndoConfig) -> None:
        self.cfg = cfg
        self.owner = Owner(cfg.instance, cfg.attempt)
        #: notes of other starts, ignored
        self.strangers = Strangers()
        self.notes: dict[str, bytes] = {}
        self._tp = TopicPartition(cfg.progress_topic, 0)
        self._producer: AIOKafkaProducer | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._read_lock = asyncio.Lock()

    async def start(self) -> None:
        """Check/create topics, start the producer and the progress reader."""
        await check_topics(self.cfg)
        self._producer = AIOKafkaProducer(
            **kafka_options(), bootstrap_servers=self.cfg.kafka_bootstrap, acks="all", linger_ms=5
        )
        await self._producer.start()
        self._consumer = AIOKafkaConsumer(
            **kafka_options(),
            bootstrap_servers=self.cfg.kafka_bootstrap,
            enable_auto_commit=False,
            group_id=None,
        )
        await self._consumer.start()
        self._consumer.assign([self._tp])
        await self._consumer.seek_to_beginning(self._tp)

    async def stop(self) -> None:
        """Stop the clients (idempotent)."""
        producer, self._producer = self._producer, None
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            await consumer.stop()
        if producer is not None:
            await producer.stop()

    async def refresh(self) -> Mapping[str, bytes]:
        """Read the progress topic up to its current end; return every note (latest wins)."""
        assert self._consumer is not None
        async with self._read_lock:
            end = (await self._consumer.end_offsets([self._tp]))[self._tp]
            while await self._consumer.position(self._tp) < end:
                batch = await self._consumer.getmany(self._tp, timeout_ms=500)
                for rec in batch.get(self._tp, []):
                    if rec.key is not None and rec.value is not None:
                        self._take(rec.key.decode(), rec.value)
        return self.notes

    def _take(self, key: str, value: bytes) -> None:
        """Keep a note of this start; ignore (count, log once per writer) any other."""
        writer = keep_note(self.notes, self.owner, key, value)
        if writer is not None and self.strangers.seen("note", writer):
            log.warning(
                "job %s: ignoring progress notes of another instance (%s, first: %s); this "
                "worker's job start is %s",
                self.cfg.job, writer, key, self.owner,
            )  # fmt: skip

    async def publish(self, key: str, value: bytes) -> None:
        """Write a note and wait until the broker has it (acks=all)."""
        assert self._producer is not None
        await self._producer.send_and_wait(self.cfg.progress_topic, value, key=key.encode())
        self.notes[key] = value

    async def dead_letter(self, letter: tiundo_pb2.DeadLetter) -> None:
        """Send one dead letter to ``<job>.dead`` (keyed by table id) and wait for the ack."""
        assert self._producer is not None
        letter.instance_id, letter.attempt = self.owner.instance, self.owner.attempt
        env = tiundo_pb2.Envelope(dead_letter=letter)
        key = str(letter.table_id).encode()
        await self._producer.send_and_wait(self.cfg.dead_topic, env.SerializeToString(), key=key)
        DEAD_LETTERS.inc()

    async def publish_status(self, status: tiundo_pb2.JobStatus) -> None:
        """Write the job's status to ``<job>.status`` (key = job id; compacted: latest wins).

        Stamped with this worker's job start: a reader that knows the job's start ignores a
        status of another (:func:`app.cli.jobstate.takes_status`).
        """
        assert self._producer is not None
        status.instance_id, status.attempt = self.owner.instance, self.owner.attempt
        await self._producer.send_and_wait(
            self.cfg.status_topic, status.SerializeToString(), key=status.job_id.encode()
        )
        state = tiundo_pb2.JobStatus.State.Name(status.state)
        set_state(JOB_STATE, JOB_STATES, state)

    def reports(self) -> dict[int, PartitionReport]:
        """Partition reports seen so far."""
        out: dict[int, PartitionReport] = {}
        for key, value in self.notes.items():
            if key.startswith("part/"):
                rep = PartitionReport.from_json(value)
                out[rep.partition] = rep
        return out

    def barrier_open(self, table_id: int, siblings: Sequence[int] = ()) -> bool:
        """Whether phase 1 of ``table_id`` may start (:func:`app.undo.barrier.barrier_open`)."""
        return barrier_open(self.notes, self.cfg.partitions, table_id, siblings)

    def failed_partitions(self) -> list[int]:
        """Partitions that reported an error."""
        return [p for p, r in self.reports().items() if r.error]

    async def wait_until(
        self,
        ready: Callable[[], bool],
        what: str,
        *,
        poll_s: float = 0.25,
        on_poll: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """Poll the board until ``ready()``; raise if a partition failed meanwhile.

        ``on_poll`` runs at each poll (the waiter notes that it is alive and waiting).
        """
        waited = 0.0
        while True:
            if on_poll is not None:
                await on_poll()
            await self.refresh()
            if ready():
                return
            failed = self.failed_partitions()
            if failed:
                raise PartitionFailedError(f"partition(s) {failed} failed while waiting for {what}")
            if waited >= 30 and int(waited / poll_s) % 120 == 0:
                log.info("still waiting for %s (%.0f s)", what, waited)
            await asyncio.sleep(poll_s)
            waited += poll_s


_boards: dict[str, Any] = {}
_board_lock = asyncio.Lock()


async def get_board() -> Board:
    """The started board of this worker process (one per process)."""
    async with _board_lock:
        board = _boards.get("board")
        if board is None:
            board = Board(config)
            await board.start()
            _boards["board"] = board
        assert isinstance(board, Board)
        return board


def prepare_topics(cfg: UndoConfig, changelogs: Sequence[str]) -> None:
    """Blocking :func:`check_topics`, on a helper thread with its own event loop.

    Runs before the worker starts its services (``on_worker_init``), so a bad ``<job>.kv``
    stops the worker before it joins the group.
    """
    failure: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(check_topics(cfg, changelogs))
        except BaseException as exc:  # re-raised on the caller's thread
            failure.append(exc)

    thread = threading.Thread(target=run, name="tiundo-prepare-topics")
    thread.start()
    thread.join()
    if failure:
        raise failure[0]


@app.on_worker_init.connect  # type: ignore[untyped-decorator]
def _prepare_topics(sender: Any, **kwargs: Any) -> None:
    names = [t.changelog_topic.get_topic_name() for t in (compact_table, progress_table)]
    prepare_topics(config, names)


@app.task  # type: ignore[untyped-decorator]
async def start_board() -> None:
    """At worker start: check the topics (crash the worker with a clear message if wrong)."""
    try:
        await get_board()
    except ConfigError as exc:
        log.error("tiundo: %s", exc)
        await app.crash(exc)


@app.on_before_shutdown.connect  # type: ignore[untyped-decorator]
async def _stop_board(app: Any, **kwargs: Any) -> None:
    board = _boards.pop("board", None)
    if board is not None:
        await board.stop()
