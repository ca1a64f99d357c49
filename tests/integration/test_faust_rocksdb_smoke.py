"""Smoke test of faust on the real broker with RocksDB tables, across a worker restart.

A real `faust worker` subprocess (faust_counter_app.py) counts events per key in a
``rocksdb://`` table and publishes each new count. We feed it with aiokafka, stop it with
SIGTERM, read its RocksDB partition files directly, feed more, start it again on the same
datadir, and require every key's count to continue exactly where it stopped — the property the
compact stage relies on when a worker restarts.
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

pytestmark = pytest.mark.integration

HERE = Path(__file__).parent
PARTITIONS = 4
KEYS = [f"key-{i}" for i in range(8)]
FIRST = {k: 1 + i % 3 for i, k in enumerate(KEYS)}  # events per key before the restart
SECOND = {k: 2 + i % 2 for i, k in enumerate(KEYS)}  # and after it


class Worker:
    """One `faust worker` process with its own log file."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        self._log_file = log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "faust", "-A", "faust_counter_app", "worker",
             "--without-web", "-l", "info"],
            cwd=HERE,
            env=env,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM (faust's clean shutdown), SIGKILL if it hangs; return the exit code."""
        try:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    return self.proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(10)
                    pytest.fail(f"faust worker ignored SIGTERM for {timeout}s\n{self.tail()}")
            return self.proc.returncode
        finally:
            self._log_file.close()

    def tail(self, lines: int = 40) -> str:
        """The end of the worker's log, for failure messages."""
        text = self.log.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])


async def _produce(bootstrap: str, topic: str, per_key: dict[str, int]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        futures = []
        for round_ in range(max(per_key.values())):
            for key, n in per_key.items():
                if round_ < n:
                    futures.append(await producer.send(topic, b"x", key=key.encode()))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def _read_counts(
    consumer: AIOKafkaConsumer, expected: int, worker: Worker, seconds: float
) -> dict[str, list[int]]:
    """Read `expected` count records from the output topic, per key in arrival order."""
    seen: dict[str, list[int]] = collections.defaultdict(list)
    total = 0
    try:
        async with asyncio.timeout(seconds):
            while total < expected:
                if worker.proc.poll() is not None:
                    pytest.fail(f"faust worker exited early\n{worker.tail()}")
                batch = await consumer.getmany(timeout_ms=500)
                for records in batch.values():
                    for r in records:
                        seen[r.key.decode()].append(int(r.value))
                        total += 1
    except TimeoutError:
        pytest.fail(f"got {total} of {expected} counts in {seconds}s\n{worker.tail()}")
    # nothing beyond what we fed: a duplicate would show up here
    extra = await consumer.getmany(timeout_ms=1000)
    assert not any(extra.values()), extra
    return dict(seen)


def _rocksdb_counts(datadir: Path) -> dict[str, int]:
    """Read the table straight from faust's per-partition RocksDB files (worker stopped)."""
    from rocksdict import AccessType, Options, Rdict

    offset_key = b"__faust\0offset__"
    paths = sorted(datadir.glob("v*/tables/counts-*.db"))
    assert paths, f"no RocksDB table files under {datadir}"
    found: dict[str, int] = {}
    for path in paths:
        db = Rdict(str(path), options=Options(raw_mode=True), access_type=AccessType.read_only())
        try:
            for k, v in db.items():
                if k != offset_key:
                    found[json.loads(k)] = json.loads(v)
        finally:
            db.close()
    return found


async def _delete_app_topics(bootstrap: str, app_id: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        mine = [t for t in await admin.list_topics() if t.startswith(app_id)]
        if mine:
            await admin.delete_topics(mine)
    finally:
        await admin.close()


async def test_table_state_survives_worker_restart(
    kafka_bootstrap: str, fresh_topic, tmp_path: Path
) -> None:
    source = await fresh_topic(partitions=PARTITIONS)
    out = await fresh_topic(partitions=1)
    app_id = f"tiundo-faust-counter-{uuid.uuid4().hex[:10]}"
    datadir = tmp_path / "faust-data"
    env = {
        **os.environ,
        "TIUNDO_KAFKA": kafka_bootstrap,
        "TIUNDO_FAUST_APP_ID": app_id,
        "TIUNDO_FAUST_DATADIR": str(datadir),
        "TIUNDO_FAUST_IN": source,
        "TIUNDO_FAUST_OUT": out,
        "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
    }
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign([TopicPartition(out, 0)])
        await consumer.seek_to_beginning(TopicPartition(out, 0))

        await _produce(kafka_bootstrap, source, FIRST)
        worker = Worker(env, tmp_path / "worker-1.log")
        try:
            first = await _read_counts(consumer, sum(FIRST.values()), worker, 60)
        finally:
            assert worker.stop() == 0, worker.tail()
        assert first == {k: list(range(1, n + 1)) for k, n in FIRST.items()}

        # the state is in RocksDB on disk, not only in the changelog
        assert _rocksdb_counts(datadir) == FIRST

        await _produce(kafka_bootstrap, source, SECOND)
        worker = Worker(env, tmp_path / "worker-2.log")
        try:
            second = await _read_counts(consumer, sum(SECOND.values()), worker, 60)
        finally:
            assert worker.stop() == 0, worker.tail()
        # counts continue from the stored state (a lost state would restart at 1)
        assert second == {k: list(range(FIRST[k] + 1, FIRST[k] + n + 1)) for k, n in SECOND.items()}
        assert _rocksdb_counts(datadir) == {k: FIRST[k] + SECOND[k] for k in KEYS}
    finally:
        await consumer.stop()
        await _delete_app_topics(kafka_bootstrap, app_id)
