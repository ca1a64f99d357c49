"""Fixtures shared by every test package.

Every async test ends with a leak check: a task it started and left running fails the test.

Real services (integration tests name them through these fixtures):
- ``kafka_bootstrap``: "host:port" of the Kafka broker, from TIUNDO_KAFKA.
- ``mysql_config`` / ``mysql_url``: the MariaDB/MySQL downstream, from TIUNDO_MYSQL.
- ``fresh_topic``: factory for uniquely named topics, deleted after the test.
- ``mysql_db``: a fresh, uniquely named database per test, dropped after it.

`make services` (scripts/kafka.sh, scripts/mariadb.sh) starts both services on the defaults
below. A service that does not answer skips its tests on a laptop, but fails them when
TIUNDO_REQUIRE_SERVICES=1 or CI=true, so a CI run can never go green by skipping.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import re
import subprocess
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import unquote, urlsplit

import pytest

DEFAULT_KAFKA = "127.0.0.1:9092"
DEFAULT_MYSQL = "mysql://tiundo:tiundo@127.0.0.1:3306/tiundo_test"
PROBE_TIMEOUT_S = 3.0


def services_required() -> bool:
    """Tell whether a missing service must fail the run instead of skipping (CI)."""
    return os.environ.get("TIUNDO_REQUIRE_SERVICES") == "1" or (
        os.environ.get("CI", "").lower() == "true"
    )


def service_unavailable(what: str, env_var: str, address: str, reason: object) -> NoReturn:
    """Skip (laptop) or fail (CI) a test whose real service does not answer."""
    msg = (
        f"{what} not reachable at {address} ({env_var}): {reason}. "
        f"Start it with `make services`, or point {env_var} at a running one."
    )
    if services_required():
        pytest.fail(msg + " [TIUNDO_REQUIRE_SERVICES=1 or CI=true: failing, not skipping]")
    pytest.skip(msg)


def unique_name(prefix: str, hint: str = "") -> str:
    """A Kafka/MySQL-safe name unique per call: prefix, a readable hint, random suffix."""
    slug = re.sub(r"[^A-Za-z0-9]+", "_", hint).strip("_")[:32]
    return "_".join(p for p in (prefix, slug, uuid.uuid4().hex[:10]) if p)


# ---------------------------------------------------------------- hygiene

LEAK_GRACE_S = 1.0


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Give every async test the leak check (run after its other fixtures are torn down)."""
    for item in items:
        names = getattr(item, "fixturenames", None)
        wanted = item.get_closest_marker("asyncio") is not None and names is not None
        if wanted and "no_leaked_tasks" not in names:
            names.insert(0, "no_leaked_tasks")


@pytest.fixture
async def no_leaked_tasks() -> AsyncIterator[None]:
    """Fail a test that leaves tasks running on its loop (clients not closed, servers not stopped).

    Tasks get a short grace period to finish on their own; the rest are cancelled and named.
    """
    before = asyncio.all_tasks()
    yield
    loop = asyncio.get_running_loop()
    me = asyncio.current_task()
    deadline = loop.time() + LEAK_GRACE_S
    while True:
        leaked = [t for t in asyncio.all_tasks() - before if t is not me and not t.done()]
        if not leaked or loop.time() >= deadline:
            break
        await asyncio.sleep(0.02)
    if leaked:
        for task in leaked:
            task.cancel()
        await asyncio.gather(*leaked, return_exceptions=True)
        pytest.fail(
            f"{len(leaked)} task(s) still running after the test: "
            + ", ".join(repr(t.get_coro()) for t in leaked)
        )


# ---------------------------------------------------------------- Kafka


def kafka_bootstrap_from_env() -> str:
    """TIUNDO_KAFKA as aiokafka's bootstrap string ("host:port"; a kafka:// prefix is dropped)."""
    raw = os.environ.get("TIUNDO_KAFKA", "") or DEFAULT_KAFKA
    return raw.removeprefix("kafka://").rstrip("/")


async def _kafka_probe(bootstrap: str) -> None:
    """Ask the broker for cluster metadata; raise if it does not answer."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, request_timeout_ms=int(PROBE_TIMEOUT_S * 1000)
    )
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_S * 2):
            await admin.start()
            cluster = await admin.describe_cluster()
        if not cluster.get("brokers"):
            raise RuntimeError("metadata lists no broker")
    finally:
        await admin.close()


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    """Bootstrap address of the real broker, checked once per session."""
    from aiokafka.errors import KafkaError

    bootstrap = kafka_bootstrap_from_env()
    try:
        asyncio.run(_kafka_probe(bootstrap))
    except (KafkaError, OSError, TimeoutError, RuntimeError) as exc:
        service_unavailable("Kafka", "TIUNDO_KAFKA", bootstrap, repr(exc))
    return bootstrap


FreshTopic = Callable[..., Awaitable[str]]


@pytest.fixture
async def fresh_topic(
    kafka_bootstrap: str, request: pytest.FixtureRequest
) -> AsyncIterator[FreshTopic]:
    """Factory: ``await fresh_topic(partitions=4)`` creates a unique topic; all go at teardown.

    The broker runs with auto.create.topics.enable=false, so a test uses only topics it made.
    The factory returns once every partition has a leader, so producing right away works.
    """
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap, request_timeout_ms=10_000)
    await admin.start()
    created: list[str] = []

    async def create(partitions: int = 1, *, name: str | None = None, **config: str) -> str:
        topic = name or unique_name("tiundo-test", request.node.name).replace("_", "-")
        resp = await admin.create_topics([NewTopic(topic, partitions, 1, topic_configs=config)])
        for err in resp.to_object()["topic_errors"]:
            if err["error_code"] != 0:
                raise RuntimeError(f"create topic {topic}: {err}")
        created.append(topic)
        await _wait_for_leaders(admin, topic, partitions)
        return topic

    try:
        yield create
    finally:
        try:
            if created:
                await admin.delete_topics(created)
        finally:
            await admin.close()


async def _wait_for_leaders(admin: Any, topic: str, partitions: int) -> None:
    """Poll metadata until the new topic shows all partitions with a leader (10 s at most)."""
    async with asyncio.timeout(10):
        while True:
            [meta] = await admin.describe_topics([topic])
            parts = meta["partitions"]
            ready = meta["error_code"] == 0 and len(parts) == partitions
            if ready and all(p["leader"] >= 0 for p in parts):
                return
            await asyncio.sleep(0.05)


# ---------------------------------------------------------------- MySQL / MariaDB


@dataclasses.dataclass(frozen=True, slots=True)
class MySQLConfig:
    """Where the SQL downstream is, parsed from a mysql://user:password@host:port/db URL."""

    host: str
    port: int
    user: str
    password: str
    db: str

    @classmethod
    def from_url(cls, url: str) -> MySQLConfig:
        """Parse the URL; the path is the database name and is required."""
        parts = urlsplit(url)
        if parts.scheme != "mysql" or not parts.hostname or not parts.path.strip("/"):
            raise ValueError(f"not a mysql://user:password@host:port/db URL: {url!r}")
        return cls(
            host=parts.hostname,
            port=parts.port or 3306,
            user=unquote(parts.username or "root"),
            password=unquote(parts.password or ""),
            db=parts.path.strip("/"),
        )

    @property
    def url(self) -> str:
        """The same place as a URL (password included: test credentials only)."""
        return f"mysql://{self.user}:{self.password}@{self.host}:{self.port}/{self.db}"

    def connect_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for aiomysql.connect/create_pool (PyMySQL wants database=)."""
        return {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "password": self.password,
            "db": self.db,
            "charset": "utf8mb4",
        }


def mysql_url_from_env() -> str:
    """TIUNDO_MYSQL, or the Makefile's default."""
    return os.environ.get("TIUNDO_MYSQL", "") or DEFAULT_MYSQL


@pytest.fixture(scope="session")
def mysql_config() -> MySQLConfig:
    """The SQL downstream, checked once per session with a short-timeout ``SELECT 1``."""
    import pymysql

    url = mysql_url_from_env()
    cfg = MySQLConfig.from_url(url)
    address = f"{cfg.host}:{cfg.port}/{cfg.db} as {cfg.user}"
    try:
        kwargs = cfg.connect_kwargs()
        kwargs["database"] = kwargs.pop("db")
        conn = pymysql.connect(**kwargs, connect_timeout=int(PROBE_TIMEOUT_S))
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT 1")
        finally:
            conn.close()
    except (pymysql.err.MySQLError, OSError) as exc:
        service_unavailable("MySQL/MariaDB", "TIUNDO_MYSQL", address, repr(exc))
    return cfg


@pytest.fixture(scope="session")
def mysql_url(mysql_config: MySQLConfig) -> str:
    """The checked downstream as a mysql:// URL."""
    return mysql_config.url


@pytest.fixture
async def mysql_db(
    mysql_config: MySQLConfig, request: pytest.FixtureRequest
) -> AsyncIterator[MySQLConfig]:
    """A fresh database for one test (same server and user), dropped afterwards."""
    import aiomysql

    name = unique_name("t", request.node.name)[:64]
    admin_kwargs = mysql_config.connect_kwargs()
    conn = await aiomysql.connect(**admin_kwargs, autocommit=True)
    try:
        async with conn.cursor() as cur:
            await cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        yield dataclasses.replace(mysql_config, db=name)
    finally:
        try:
            async with conn.cursor() as cur:
                await cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        finally:
            await conn.ensure_closed()


# ---------------------------------------------------------------- a broker the test may restart


@dataclasses.dataclass(frozen=True)
class ManagedKafka:
    """The suite's broker as ``scripts/kafka.sh`` runs it: a test may stop and start it."""

    bootstrap: str
    script: Path

    def _do(self, action: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.script), action],
            cwd=self.script.parents[1], capture_output=True, text=True, timeout=180,
        )  # fmt: skip

    def stop(self) -> subprocess.CompletedProcess[str]:
        return self._do("stop")

    def start(self) -> subprocess.CompletedProcess[str]:
        return self._do("start")


@pytest.fixture
def managed_kafka(kafka_bootstrap: str) -> Iterator[ManagedKafka]:
    """The broker, when scripts/kafka.sh manages it; running again after the test, whatever."""
    script = Path(__file__).resolve().parents[1] / "scripts" / "kafka.sh"
    kafka = ManagedKafka(kafka_bootstrap, script)
    status = kafka._do("status")
    if status.returncode != 0:
        service_unavailable(
            "a broker managed by scripts/kafka.sh", "TIUNDO_KAFKA", kafka_bootstrap, status.stdout
        )
    yield kafka
    started = kafka.start()
    assert started.returncode == 0, started.stdout + started.stderr
