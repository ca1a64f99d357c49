"""tiundo end to end as a contender: ``tiundo run`` against the fake cluster holding the history.

Per run, as a DBA would: a fresh job id, ``python -m app.cli run --workers W`` with
``TIUNDO_PARTITIONS=P`` against the workload's seeded fake cluster (:mod:`bench.rto.
tiundo_cluster`, started once per workload and reused by every repeat): T from the syncpoint
table, E a PD TSO taken by the job after the whole history, the undo written into ``env.db``.
Timed from starting the command to its exit after the final report (``seconds``); the command's
own figure (``RTO … start to report``) is kept as ``reported_s``. The harness then checks the
tables against T; the exit status must be 0 (SUCCEEDED, no foreign writes).

Measured besides: peak RSS (``VmHWM``) of the ``tiundo run`` process (``ingest``: it runs the
ingest worker) and of each worker subprocess (``worker0``…), found as its children in
``/proc``; and where the time went (``phases``): the ingest's own duration, when the plain
progress lines first showed every region initialized, END sent, every record compacted, and
per partition when its undo (mount, plan, apply, after its End) started and finished, from the
partition reports on ``<job>.progress``. The job's Kafka topics and folder are removed after
each run. ``writer_check_s`` (default 0, i.e. ``--writer-check 0``: the changefeed is known to
be stopped) is a param; tiundo's own default watch of 2 s would add 2 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pickle
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final

from app.cli.jobstate import JobWatcher, delete_job_topics
from app.report import PartitionReport
from bench.rto.contenders import BenchEnv, Contender, Timing
from bench.rto.procs import RssWatcher
from bench.rto.tiundo_cluster import ClusterInfo, read_info

__all__ = [
    "CONTENDERS",
    "MAX_CHANGES",
    "children_of",
    "e2e",
    "ensure_cluster",
    "parse_children",
    "partition_phases",
    "progress_marks",
    "report_figures",
    "rpo_figures",
]

ROOT: Final = Path(__file__).resolve().parents[2]
MAX_CHANGES: Final = 10_000_000
"""Seeding is linear in changes (packed: ~19 s and ~270 MiB per million): 10 M changes (``huge``,
or ``full``'s ``hot``) are seeded in minutes; more are skipped."""
CLUSTER_START_TIMEOUT_S: Final = 1800.0
DEFAULT_KAFKA: Final = "127.0.0.1:9092"

_CLUSTER: list[subprocess.Popen[bytes]] = []  # keeps the Popen referenced (no ResourceWarning)


# ---- the cluster ------------------------------------------------------------------------------


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _is_cluster(pid: int) -> bool:
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"bench.rto.tiundo_cluster" in cmd


def _start_cluster(env: BenchEnv, info_path: Path) -> subprocess.Popen[bytes]:
    """Stop another workload's cluster (ours, by its pid) and start this one's."""
    info = read_info(info_path)
    if info is not None and _alive(info.pid) and _is_cluster(info.pid):
        os.kill(info.pid, signal.SIGTERM)
        for _ in range(600):
            if not _alive(info.pid):
                break
            time.sleep(0.1)
    info_path.unlink(missing_ok=True)
    scratch = info_path.parent
    env_file = scratch / f"tiundo-env-{env.workload}.pickle"
    env_file.write_bytes(pickle.dumps(env))
    with (scratch / f"tiundo-cluster-{env.workload}.log").open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bench.rto.tiundo_cluster", "--env", str(env_file),
             "--info", str(info_path), "--owner", str(os.getppid())],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,  # outlives this run: the next repeats reuse it
        )  # fmt: skip
    _CLUSTER.append(proc)
    return proc


def _running_cluster(env: BenchEnv, info_path: Path) -> ClusterInfo | None:
    info = read_info(info_path)
    if info is not None and info.workdir == env.workdir and _alive(info.pid):
        return info if _is_cluster(info.pid) else None
    return None


async def ensure_cluster(env: BenchEnv) -> ClusterInfo:
    """The workload's seeded cluster: reuse the running one, else replace it (untimed)."""
    info_path = Path(env.scratch) / "tiundo-cluster.json"
    await asyncio.to_thread(info_path.parent.mkdir, parents=True, exist_ok=True)
    info = await asyncio.to_thread(_running_cluster, env, info_path)
    if info is not None:
        return info
    proc = await asyncio.to_thread(_start_cluster, env, info_path)
    deadline = time.monotonic() + CLUSTER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        info = await asyncio.to_thread(read_info, info_path)
        if info is not None and info.pid == proc.pid:
            return info
        if proc.poll() is not None:
            log = info_path.parent / f"tiundo-cluster-{env.workload}.log"
            text = await asyncio.to_thread(log.read_text, errors="replace")
            raise RuntimeError(f"fake cluster exited {proc.returncode}: {text[-1500:]}")
        await asyncio.sleep(0.2)
    raise RuntimeError(f"fake cluster not ready in {CLUSTER_START_TIMEOUT_S:.0f}s")


# ---- processes --------------------------------------------------------------------------------


def parse_children(texts: Iterable[str]) -> list[int]:
    """Pids listed in ``/proc/<pid>/task/<tid>/children`` files (space separated)."""
    return sorted({int(p) for t in texts for p in t.split()})


def children_of(pid: int) -> list[int]:
    """Direct children of ``pid`` (every thread's ``children`` file)."""
    texts = []
    for f in Path(f"/proc/{pid}/task").glob("*/children"):
        with contextlib.suppress(OSError):
            texts.append(f.read_text())
    return parse_children(texts)


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


class _Tree:
    """Names the ``tiundo run`` process and its worker children for :class:`RssWatcher`.

    Only direct children running ``app.cli worker`` are workers; other children (a helper a
    library runs, a fork not yet exec'd: it still shows the run's own command) are not named.
    """

    def __init__(self, root: int, watcher: RssWatcher) -> None:
        self.watcher = watcher
        self.root = root
        self.root_cmd = _cmdline(root)
        self.seen: set[int] = set()
        self.workers = 0
        watcher.add("ingest", root)

    def scan(self) -> None:
        for child in children_of(self.root):
            if child in self.seen:
                continue
            cmd = _cmdline(child)
            if not cmd or cmd == self.root_cmd:
                continue  # not exec'd yet: look again next time
            self.seen.add(child)
            if "app.cli worker" in cmd:
                self.watcher.add(f"worker{self.workers}", child)
                self.workers += 1


def _pump(stream: IO[bytes], t0: float, sink: list[tuple[float, str]]) -> None:
    for raw in stream:
        sink.append((time.perf_counter() - t0, raw.decode(errors="replace").rstrip()))


# ---- what the run printed ---------------------------------------------------------------------

_RTO_RE = re.compile(
    r"RTO \(tiundo run, start to report\) = ([\d.]+) s\s+rows restored or deleted = (\d+)"
    r"\s+changes read = (\d+) in ([\d.]+) s"
)
_FIELD_RE = re.compile(r"\b(regions|records|partitions) (\d+)/(\d+)")
_RPO_RE = re.compile(
    r"RPO: upstream point age at job start = (-?[\d.]+ s|unknown)[^=]*= ([\d.]+) s\s+"
    r"changes undone = (\d+|unknown)\s+transactions undone = (\d+|unknown)"
)


def report_figures(text: str) -> dict[str, float]:
    """``reported_s``, ``rows``, ``changes_read``, ``ingest_s`` from the final report."""
    m = _RTO_RE.search(text)
    if m is None:
        return {}
    return {
        "reported_s": float(m.group(1)),
        "rows": int(m.group(2)),
        "changes_read": int(m.group(3)),
        "ingest_s": float(m.group(4)),
    }


def rpo_figures(text: str) -> dict[str, int | None]:
    """The report's RPO line (:mod:`app.rpo`) as its ``--json`` fields; ``{}`` without one.

    The bench's syncpoint row names T as its ``primary_ts`` (it has no upstream), so the
    point's age is the time from the history's syncpoint to the job's start.
    """
    m = _RPO_RE.search(text)
    if m is None:
        return {}

    def ms(v: str) -> int | None:
        return None if v == "unknown" else round(float(v.removesuffix(" s")) * 1000)

    def count(v: str) -> int | None:
        return None if v == "unknown" else int(v)

    return {
        "point_age_ms": ms(m.group(1)),
        "window_ms": ms(m.group(2)),
        "changes_undone": count(m.group(3)),
        "transactions_undone": count(m.group(4)),
    }


def progress_marks(lines: Sequence[tuple[float, str]]) -> dict[str, float]:
    """When (s since the command started) the plain progress lines first showed each mark.

    Lines come at most every 2 s (``LineDisplay``), so a mark is late by up to that.
    """
    marks: dict[str, float] = {}

    def mark(name: str, t: float) -> None:
        marks.setdefault(name, round(t, 2))

    for t, line in lines:
        if "] regions " not in line:
            continue
        mark("first_progress_s", t)
        fields = {m[1]: (int(m[2]), int(m[3])) for m in _FIELD_RE.finditer(line)}
        reg, regs = fields.get("regions", (0, 0))
        rec, recs = fields.get("records", (0, 0))
        parts, nparts = fields.get("partitions", (0, 0))
        if regs and reg == regs:
            mark("regions_initialized_s", t)
        if "END sent" in line:
            mark("end_sent_s", t)
        if recs and rec >= recs:
            mark("records_compacted_s", t)
        if parts:
            mark("first_partition_undone_s", t)
        if nparts and parts == nparts:
            mark("partitions_undone_s", t)
    return marks


def partition_phases(reports: Mapping[int, PartitionReport], t0_unix_ms: int) -> dict[str, Any]:
    """Undo start/finish per partition, in s since the command started, and their spread."""
    if not reports:
        return {}
    starts = [(r.started_unix_ms - t0_unix_ms) / 1000 for r in reports.values()]
    ends = [(r.finished_unix_ms - t0_unix_ms) / 1000 for r in reports.values()]
    spans = [e - s for s, e in zip(starts, ends, strict=True)]
    return {
        "undo_first_start_s": round(min(starts), 2),
        "undo_last_start_s": round(max(starts), 2),
        "undo_end_s": round(max(ends), 2),
        "undo_partition_max_s": round(max(spans), 2),
        "undo_partitions": {
            p: [round(s, 2), round(e, 2)]
            for p, s, e in sorted(
                (
                    p,
                    (r.started_unix_ms - t0_unix_ms) / 1000,
                    (r.finished_unix_ms - t0_unix_ms) / 1000,
                )
                for p, r in reports.items()
            )
        },
    }


# ---- Kafka ------------------------------------------------------------------------------------


async def _reports(bootstrap: str, job: str, partitions: int) -> dict[int, PartitionReport]:
    async with JobWatcher(bootstrap, job, partitions) as watcher:
        snap = await watcher.snapshot()
    return dict(snap.reports)


# ---- the contender ----------------------------------------------------------------------------


#: tiundo settings the bench's own environment may set for its runs (to measure a lever, e.g.
#: ``TIUNDO_COMPACT_MAX_DELAY_S=4 python -m bench.rto …``); every other ``TIUNDO_`` is the bench's
TUNING_PREFIXES = ("TIUNDO_COMPACT_", "TIUNDO_STATE_")


def tuning(environ: Mapping[str, str]) -> dict[str, str]:
    """The tuning settings of ``environ`` that reach every tiundo run (see ``TUNING_PREFIXES``)."""
    return {k: v for k, v in environ.items() if k.startswith(TUNING_PREFIXES)}


def _command_env(env: BenchEnv, info: ClusterInfo, kafka: str, partitions: int) -> dict[str, str]:
    m = env.mysql
    base = {k: v for k, v in os.environ.items() if not k.startswith("TIUNDO_")}
    base.update(tuning(os.environ))
    return {
        **base,
        "PYTHONPATH": str(ROOT),
        "TIUNDO_PD": info.pd,
        "TIUNDO_STATUS_API": info.status_api,
        # the path names the schema of the syncpoint table
        "TIUNDO_DOWNSTREAM": f"mysql://{m.user}:{m.password}@{m.host}:{m.port}/{info.sp_db}",
        "TIUNDO_SYNCPOINT_DB": info.sp_db,
        "TIUNDO_PROGRESS_DB": info.sp_db,  # dropped with the cluster
        "TIUNDO_TABLES": f"{env.db}.*",
        "TIUNDO_DIALECT": "mysql",
        "TIUNDO_KAFKA": kafka,
        "TIUNDO_PARTITIONS": str(partitions),
        "TIUNDO_SESSION_TIMEOUT_S": "6",  # as the demo; only matters when a worker dies
    }


def _note(phases: Mapping[str, Any]) -> str:
    """One line for the harness's output: when ingest, compaction and undo ended."""
    parts = [
        f"{label} {phases[key]:.1f}s"
        for label, key in (
            ("END sent", "end_sent_s"),
            ("compacted", "undo_last_start_s"),
            ("undone", "undo_end_s"),
        )
        if phases.get(key) is not None
    ]
    return ", ".join(parts)


def _rss_note(rss: Mapping[str, int]) -> str:
    """Peak RSS of tiundo's processes for the harness's output line."""
    if not rss:
        return ""
    return "peak RSS " + ", ".join(f"{k} {v / 1024:.0f} MiB" for k, v in sorted(rss.items()))


def _rpo_note(rpo: Mapping[str, int | None]) -> str:
    """The RPO for the harness's output line: the point's age, what was undone."""
    if not rpo:
        return ""
    age = rpo.get("point_age_ms")
    return (
        f"RPO: point {'?' if age is None else f'{age / 1000:.1f}s'} old, "
        f"{rpo.get('changes_undone')} changes in {rpo.get('transactions_undone')} txns undone"
    )


@dataclass(frozen=True, slots=True)
class _Ran:
    """One finished ``tiundo run``: wall time, exit status, its lines, peak RSS per process."""

    seconds: float
    t0_unix_ms: int
    returncode: int
    out: list[tuple[float, str]]
    err: list[tuple[float, str]]
    rss_kib: dict[str, int]


def _run_tiundo(cmd: list[str], cmd_env: dict[str, str]) -> _Ran:
    """Start the command, follow its process tree's RSS until it exits (blocking)."""
    out: list[tuple[float, str]] = []
    err: list[tuple[float, str]] = []
    watcher = RssWatcher(interval_s=0.1)
    try:
        t0_unix_ms = time.time_ns() // 1_000_000
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            cmd, cwd=ROOT, env=cmd_env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        assert proc.stdout is not None and proc.stderr is not None
        pumps = [
            threading.Thread(target=_pump, args=(stream, t0, sink), daemon=True)
            for stream, sink in ((proc.stdout, out), (proc.stderr, err))
        ]
        for p in pumps:
            p.start()
        tree = _Tree(proc.pid, watcher)
        while proc.poll() is None:
            tree.scan()
            time.sleep(0.1)
        seconds = time.perf_counter() - t0
        for p in pumps:
            p.join(10)
    finally:
        rss = watcher.stop()
    return _Ran(seconds, t0_unix_ms, proc.returncode, out, err, rss)


def _failure(ran: _Ran, job_dir: Path) -> str:
    logs = " || ".join(
        f"{w.name}: " + " | ".join(w.read_text(errors="replace").splitlines()[-4:])
        for w in sorted(job_dir.glob("worker*.log"))
    )
    tail = " | ".join(line for _, line in (ran.err + ran.out)[-8:])
    return f"tiundo run exited {ran.returncode}: {tail} || {logs} (job folder {job_dir})"


async def e2e(env: BenchEnv, params: Mapping[str, int]) -> Timing:
    """One ``tiundo run`` of the window (module docstring); raises unless it succeeded."""
    workers, partitions = params["workers"], params["partitions"]
    info = await ensure_cluster(env)
    kafka = os.environ.get("TIUNDO_KAFKA") or DEFAULT_KAFKA
    bootstrap = kafka.removeprefix("kafka://")
    job = f"rto-w{workers}p{partitions}-{uuid.uuid4().hex[:8]}"
    job_dir = Path(env.scratch) / job
    cmd = [sys.executable, "-m", "app.cli", "run", "--job", job, "--workers", str(workers),
           "--writer-check", str(params.get("writer_check_s", 0)), "--job-dir", str(job_dir),
           "--progress", "plain"]  # fmt: skip
    try:
        ran = await asyncio.to_thread(_run_tiundo, cmd, _command_env(env, info, kafka, partitions))
        if ran.returncode != 0:
            raise RuntimeError(await asyncio.to_thread(_failure, ran, job_dir))
        reports = await _reports(bootstrap, job, partitions)
    finally:
        with contextlib.suppress(Exception):
            await delete_job_topics(bootstrap, job)
    await asyncio.to_thread(shutil.rmtree, job_dir, ignore_errors=True)
    text = "\n".join(line for _, line in ran.out)
    figures = report_figures(text)
    rpo = rpo_figures(text)
    phases: dict[str, Any] = {"ingest_s": figures.get("ingest_s")}
    phases.update(progress_marks(ran.err))
    phases.update(partition_phases(reports, ran.t0_unix_ms))
    return {
        "seconds": ran.seconds,
        "note": ", ".join(n for n in (_note(phases), _rss_note(ran.rss_kib), _rpo_note(rpo)) if n),
        "rpo": rpo,
        "reported_s": figures.get("reported_s"),
        "rows": figures.get("rows"),
        "changes_read": figures.get("changes_read"),
        "phases": phases,
        "rss_kib": ran.rss_kib,
        "cluster": {"seed_s": info.seed_s, "rss_kib": info.rss_kib, "t_ts": info.t_ts},
        "tuning": tuning(os.environ),
    }


CONTENDERS: tuple[Contender, ...] = tuple(
    Contender(
        f"tiundo_w{w}_p{p}", "tiundo", e2e, {"workers": w, "partitions": p}, max_changes=MAX_CHANGES
    )
    for w in (1, 2, 4)
    for p in (1, 4, 8, 16)
)
"""The scale-out grid (issue 15 goal 5): ``--only tiundo_w2_p8`` picks one point."""
