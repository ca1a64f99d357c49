"""The fake cluster with a torn workload as a child process, and ``tiundo`` as a process.

Shared by the CLI end-to-end tests: ``demo_cluster`` yields (env for tiundo, expect file, db) of
a running fake cluster (``scripts/demo.py cluster``, the demo's own) whose MariaDB downstream is
torn; ``tiundo`` runs a command as the console script would.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pymysql
import pytest

from ingest.config import IngestConfig
from ingest.pd import PDClient

ROOT = Path(__file__).resolve().parents[2]


def read_env(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


def sql(cfg: Any, statements: list[str], db: str | None = None) -> None:
    conn = pymysql.connect(
        host=cfg.host, port=cfg.port, user=cfg.user, password=cfg.password, database=db,
        autocommit=True,
    )  # fmt: skip
    try:
        with conn.cursor() as cur:
            for st in statements:
                cur.execute(st)
    finally:
        conn.close()


@contextlib.contextmanager
def running_demo_cluster(
    mysql_config: Any, kafka_bootstrap: str, tmp_path: Path, *extra: str
) -> Iterator[tuple[dict[str, str], Path, str]]:
    """(env for tiundo, expect file, db) of a running fake cluster with a torn workload.

    ``extra`` goes to ``scripts/demo.py cluster`` (e.g. ``--ddl-after-t TABLE``).
    """
    db = f"cli_{uuid.uuid4().hex[:10]}"
    env_file, expect = tmp_path / "cluster.env", tmp_path / "expect.json"
    proc = subprocess.Popen(
        [sys.executable, "scripts/demo.py", "cluster", "--db", db, "--rows", "30",
         "--txns", "40", "--tears", "3", "--seed", "11", "--mysql", mysql_config.url,
         "--env-file", str(env_file), "--expect", str(expect), *extra],
        cwd=ROOT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not env_file.exists():
            assert proc.poll() is None, "the cluster process died"
            assert time.monotonic() < deadline, "the cluster did not come up"
            time.sleep(0.1)
        cenv = read_env(env_file)
        env = {k: v for k, v in os.environ.items() if not k.startswith("TIUNDO_")}
        env.update({k: v for k, v in cenv.items() if k.startswith("TIUNDO_")})
        env.update(
            TIUNDO_KAFKA=kafka_bootstrap,
            TIUNDO_PARTITIONS="3",
            TIUNDO_SESSION_TIMEOUT_S="6",
            TIUNDO_WRITER_CHECK_S="0",
            PYTHONPATH=str(ROOT),
        )
        yield env, expect, db
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
        sql(
            mysql_config, [f"DROP DATABASE IF EXISTS `{db}`", f"DROP DATABASE IF EXISTS `{db}_cdc`"]
        )


@pytest.fixture
def demo_cluster(
    mysql_config: Any, kafka_bootstrap: str, tmp_path: Path
) -> Iterator[tuple[dict[str, str], Path, str]]:
    """(env for tiundo, expect file, db) of a running fake cluster with a torn workload."""
    with running_demo_cluster(mysql_config, kafka_bootstrap, tmp_path) as cluster:
        yield cluster


def tiundo(
    args: list[str], env: dict[str, str], timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def assert_one_line_error(r: subprocess.CompletedProcess[str], code: int, *needles: str) -> None:
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    assert len(lines) == 1 and lines[0].startswith("tiundo: error: "), r.stderr
    assert "Traceback" not in r.stderr + r.stdout
    for n in needles:
        assert n in lines[0], (n, lines[0])


#: the probe's safe point: above any T, so PD's answer is the lowest *other* live safe point
_PROBE_TS = (1 << 63) - 1


async def _lowest_service_safe_point(pd: str) -> int:
    """PD's lowest live service safe point, read without keeping one.

    ``UpdateServiceGCSafePoint`` with TTL 0 removes the caller's (absent) entry and answers the
    minimum over the live ones (tikv/pd ``server/gc_service.go`` ``UpdateServiceGCSafePoint``),
    the cluster GC safe point when none is live: a read-only probe.
    """
    async with PDClient(IngestConfig(pd=pd).pd_endpoints, timeout=5) as client:
        return await client.update_service_gc_safe_point(f"probe-{uuid.uuid4().hex}", 0, _PROBE_TS)


def holds_gc_safe_point(pd: str, ts: int) -> bool:
    """Whether some service keeps PD's GC from passing ``ts`` (the lowest live one is ``ts``)."""
    return asyncio.run(_lowest_service_safe_point(pd)) == ts
