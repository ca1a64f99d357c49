"""One chaos run, end to end, as a user runs tiundo: cluster, ``tiundo run``, faults, oracle.

0. a plan that draws ``kafka-restart`` or ``mariadb-restart`` gets its own broker or MariaDB
   (:mod:`bench.chaos.services`), used for everything in that run; one that draws
   ``commit-ack-lost`` sends tiundo's downstream through the cluster host's
   :class:`~bench.chaos.ackproxy.AckProxy`;
1. :mod:`bench.chaos.cluster_host` starts the fake cluster with the run's seeded workload and
   keeps the truth (``<db>_t`` at T, ``<db>_pre`` before the job);
2. faults of phase ``start`` strike (locks, a split armed for the scan, slow or duplicated
   delivery), then ``tiundo run`` starts as a process (its own workers, ``--progress plain``);
3. every 0.2 s the runner reads which phase the job reached (:mod:`bench.chaos.phases`) and
   strikes each planned fault ``delay_s`` after its phase; after a kill -9 or SIGTERM of
   ``tiundo run`` it waits for the job's workers to leave and runs ``tiundo run --resume``;
   a stopped broker or MariaDB starts again when its drawn outage is over (at the latest when
   the job ends, before the oracle reads);
4. at the deadline the run's processes are killed and the run counts as hung;
5. the oracle compares every table row by row with the truth (:mod:`bench.chaos.oracle`).

Everything is named per run (database ``chaos_<seed>_<hex>``, job ``chaos-<seed>-<hex>``) and
removed afterwards, except the folder of a failing run (logs), so runs may go on while other
tests use the same Kafka and MariaDB.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pymysql

from app.cli.jobstate import delete_job_topics, read_compacted
from bench.chaos import inject
from bench.chaos.cluster_host import mysql_params
from bench.chaos.oracle import (
    Observed,
    Outcome,
    TableDiff,
    classify,
    foreign_in_time,
    row_diff,
)
from bench.chaos.phases import View, latest, view, worker_pid
from bench.chaos.plan import FENCE_TABLES, Fault, Kind, RunPlan
from bench.chaos.report import Injected, RunResult
from bench.chaos.services import KafkaService, MariaDBService
from core.kafka_admin import group_members
from core.sqlident import quote_ident
from proto import tiundo_pb2

__all__ = ["ChaosConfig", "run_one"]

ROOT = Path(__file__).resolve().parents[2]
POLL_S = 0.2
#: kinds that stop `tiundo run` itself (a `--resume` follows)
_RUN_STOPS = (Kind.RUN_KILL, Kind.RUN_TERM)
#: how long a planned fault may wait for a target (a worker that logs its pid) once due
_TARGET_WAIT_S = 20.0


@dataclass(frozen=True, slots=True)
class ChaosConfig:
    """Where the soak runs: services, scratch folder, and the kinds drawn from."""

    mysql_url: str
    kafka: str
    workdir: Path
    kinds: tuple[Kind, ...]
    keep: bool = False  # keep every run's folder and databases (not only failing ones)


@dataclass
class _Attempt:
    proc: subprocess.Popen[bytes]
    err_path: Path
    offsets: dict[Path, int]
    applied0: int
    files: list[IO[bytes]] = field(default_factory=list)


class _Run:
    """The state of one run while it goes (see the module docstring)."""

    def __init__(self, plan: RunPlan, cfg: ChaosConfig) -> None:
        self.plan = plan
        self.cfg = cfg
        tag = f"{plan.seed}_{uuid.uuid4().hex[:6]}"
        self.db = f"chaos_{tag}"
        self.job = f"chaos-{tag.replace('_', '-')}"
        self.dir = cfg.workdir / tag
        self.job_dir = self.dir / "job"
        self.mysql_url = cfg.mysql_url
        self.kafka = cfg.kafka
        self.kafka_svc: KafkaService | None = None
        self.maria_svc: MariaDBService | None = None
        self.mysql = mysql_params(cfg.mysql_url)
        self.later: list[tuple[float, Callable[[], None]]] = []  # (when, what): restarts due
        self._applied = 0
        self.env: dict[str, str] = {}
        self.control_port = 0
        self.rowid_tids: list[int] = []
        self.host: subprocess.Popen[bytes] | None = None
        self.injected: list[Injected] = []
        self.notes: list[str] = []
        self.t0 = 0.0
        self.attempts = 0
        self.foreign_ts: list[int] = []
        self._db: Any = None

    # ---- set-up ------------------------------------------------------------------------------
    def start_services(self) -> None:
        """The run's own broker / MariaDB when its plan restarts them (see the module doc)."""
        p = self.plan
        if p.draws(Kind.KAFKA_RESTART):
            self.kafka_svc = KafkaService(self.dir / "kafka")
            self.kafka_svc.start()
        if p.draws(Kind.MARIADB_RESTART):
            self.maria_svc = MariaDBService(self.dir / "mariadb")
            self.maria_svc.start()
            self.maria_svc.wait_ready()
            self.mysql_url = self.maria_svc.url
            self.mysql = mysql_params(self.mysql_url)
        if self.kafka_svc is not None:
            self.kafka_svc.wait_ready()
            self.kafka = self.kafka_svc.bootstrap

    def start_cluster(self) -> None:
        """The cluster host with the workload; its env file read."""
        self.dir.mkdir(parents=True, exist_ok=True)
        env_file = self.dir / "cluster.env"
        p = self.plan
        log = (self.dir / "cluster.log").open("wb")
        self.host = subprocess.Popen(
            [sys.executable, "-m", "bench.chaos.cluster_host", "--mysql", self.mysql_url,
             "--db", self.db, "--seed", str(p.seed), "--rows", str(p.rows),
             "--txns", str(p.txns), "--tears", str(p.tears), "--hot-keys", str(p.hot_keys),
             "--hot-ratio", str(p.hot_ratio), "--selected", ",".join(p.selected),
             "--env-file", str(env_file),
             *(["--proxy"] if p.draws(Kind.COMMIT_ACK_LOST) else [])],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=self._base_env(),
        )  # fmt: skip
        log.close()
        deadline = time.monotonic() + 180
        while not env_file.exists():
            if self.host.poll() is not None:
                raise RuntimeError(f"the cluster host failed (log {self.dir / 'cluster.log'})")
            if time.monotonic() > deadline:
                raise RuntimeError("the cluster host did not come up in 180 s")
            time.sleep(0.1)
        cenv = dict(line.split("=", 1) for line in env_file.read_text().splitlines() if "=" in line)
        self.control_port = int(cenv["CHAOS_CONTROL"])
        self.rowid_tids = [int(t) for t in cenv["CHAOS_ROWID_TIDS"].split(",")]
        env = self._base_env()
        env.update({k: v for k, v in cenv.items() if k.startswith("TIUNDO_")})
        env.update(
            TIUNDO_KAFKA=self.kafka,
            TIUNDO_PARTITIONS=str(p.partitions),
            TIUNDO_SESSION_TIMEOUT_S="6",
            TIUNDO_WRITER_CHECK_S="0",
            TIUNDO_BATCH_ROWS=str(p.batch_rows),
            TIUNDO_TXN_STATEMENTS=str(p.txn_statements),
            TIUNDO_LOCK_STALL_S="3",
        )
        self.env = env

    @staticmethod
    def _base_env() -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TIUNDO_")}
        env["PYTHONPATH"] = str(ROOT)
        return env

    def _sql(self) -> Any:
        if self._db is None:
            self._db = pymysql.connect(**self.mysql, autocommit=True)
        return self._db

    def _close_sql(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def applied(self) -> int:
        """Undo transactions of this job committed downstream (its counter rows); the last
        count read while the run's MariaDB is down."""
        try:
            self._applied = self._read_applied()
        except pymysql.err.MySQLError:
            self._db = None  # a dead connection: a new one next time
        return self._applied

    def _read_applied(self) -> int:
        with self._sql().cursor() as cur:
            cur.execute(
                "SELECT COUNT(*) FROM information_schema.TABLES "
                "WHERE TABLE_SCHEMA = 'tiundo_meta' AND TABLE_NAME = 'undo_progress'"
            )
            if not cur.fetchone()[0]:
                return 0
            cur.execute("SELECT COALESCE(SUM(txn), 0) FROM tiundo_meta.undo_progress "
                        "WHERE job = %s", (self.job,))  # fmt: skip
            return int(cur.fetchone()[0])

    # ---- tiundo run ----------------------------------------------------------------------------
    def _worker_logs(self) -> list[Path]:
        return sorted(self.job_dir.glob("worker*.log"))

    def launch(self, resume: bool) -> _Attempt:
        """``tiundo run`` (or ``--resume``) as a process, its output in the run folder."""
        self.attempts += 1
        k = self.attempts
        out = (self.dir / f"run{k}.out").open("wb")
        err = (self.dir / f"run{k}.err").open("wb")
        head = ["run", "--resume", self.job] if resume else ["run", "--job", self.job]
        cmd = [sys.executable, "-m", "app.cli", *head, "--workers", str(self.plan.workers),
               "--job-dir", str(self.job_dir), "--progress", "plain"]  # fmt: skip
        offsets = {p: p.stat().st_size for p in self._worker_logs()}
        applied0 = self.applied()
        proc = subprocess.Popen(cmd, cwd=ROOT, env=self.env, stdout=out, stderr=err)
        return _Attempt(proc, self.dir / f"run{k}.err", offsets, applied0, [out, err])

    def look(self, a: _Attempt) -> tuple[View, list[str]]:
        """The phases this attempt reached, and the worker log texts since it started."""
        run_err = a.err_path.read_text(errors="replace") if a.err_path.exists() else ""
        logs = []
        for p in self._worker_logs():
            with p.open("rb") as f:
                f.seek(a.offsets.get(p, 0))
                logs.append(f.read().decode(errors="replace"))
        return view(run_err, logs, self.applied() - a.applied0, self.rowid_tids), logs

    # ---- faults ----------------------------------------------------------------------------
    def strike(self, f: Fault, a: _Attempt | None, v: View | None, logs: list[str]) -> str | None:
        """Inject ``f`` now; a note on what was hit, or None when it has no target yet."""
        if f.kind is Kind.WORKER_KILL:
            assert a is not None and v is not None
            if not logs:
                return None
            if f.phase == "barrier" and v.barrier_workers:
                idx = v.barrier_workers[f.pick % len(v.barrier_workers)]
            else:
                idx = f.pick % len(logs)
            pid = worker_pid(logs[idx])
            if pid is None or not inject.signal_child(a.proc.pid, pid, signal.SIGKILL):
                return None
            return f"worker{idx} pid {pid}"
        if f.kind is Kind.RUN_KILL:
            assert a is not None
            inject.kill_tree(a.proc.pid)
            return "run and its workers"
        if f.kind is Kind.RUN_TERM:
            assert a is not None
            a.proc.send_signal(signal.SIGTERM)
            return "run"
        if f.kind is Kind.CONN_KILL:
            n = inject.kill_downstream_sessions(self.mysql, f"{self.db}_cdc")
            return f"{n} session(s)" if n else None  # none open now: try again
        if f.kind is Kind.KAFKA_RESTART:
            svc = self.kafka_svc
            assert svc is not None
            svc.stop(signal.SIGTERM)
            self.later.append((time.monotonic() + float(f.arg), svc.start))
            return f"broker down {f.arg} s"
        if f.kind is Kind.MARIADB_RESTART:
            db = self.maria_svc
            assert db is not None
            how, seconds = f.arg.split("/")
            db.stop(signal.SIGKILL if how == "kill" else signal.SIGTERM)
            self.later.append((time.monotonic() + float(seconds), db.start))
            return f"mariadbd {how}, down {seconds} s"
        if f.kind is Kind.COMMIT_ACK_LOST:  # armed now; confirm_ack_cuts checks it struck
            answer = inject.control(self.control_port, "commit-ack-lost")
            if not answer.startswith("ok"):
                raise RuntimeError(f"{f.label()}: the cluster host answered {answer!r}")
            return "the next undo COMMIT's ack"
        if f.kind is Kind.PD_LEADER:
            answer = inject.control(self.control_port, f"pd-leader {f.arg}")
            if answer.startswith("none"):
                return None
            if not answer.startswith("ok"):
                raise RuntimeError(f"{f.label()}: the cluster host answered {answer!r}")
            return answer[3:]
        if f.kind is Kind.FOREIGN:
            for _ in range(10):  # a drawn transaction may write nothing (insert-then-delete)
                answer = inject.control(self.control_port, "foreign")
                if answer.startswith("ok") and not answer.endswith("commit_ts=0"):
                    self.foreign_ts.append(int(answer.rsplit("=", 1)[1]))
                    return answer
            raise RuntimeError(f"{f.label()}: no foreign write landed ({answer!r})")
        words = [f.kind.value, *([f.arg] if f.arg else []), str(f.pick)]
        answer = inject.control(self.control_port, " ".join(words))
        if not answer.startswith("ok"):
            raise RuntimeError(f"{f.label()}: the cluster host answered {answer!r}")
        return answer

    def struck(self, f: Fault, seen: str, note: str) -> None:
        self.injected.append(Injected(f, round(time.monotonic() - self.t0, 1), seen, note))

    def missed(self, f: Fault, why: str) -> None:
        self.injected.append(Injected(f, None, "", why))

    def confirm_ack_cuts(self) -> None:
        """An armed ``commit-ack-lost`` struck only if the proxy cut a COMMIT after it: the
        armed ones beyond the proxy's count are missed (no undo transaction came after)."""
        armed = [i for i in self.injected if i.fault.kind is Kind.COMMIT_ACK_LOST and i.at_s]
        if not armed:
            return
        cut = int(inject.control(self.control_port, "ack-cuts").split()[1])
        for i in armed[cut:]:
            self.injected[self.injected.index(i)] = Injected(
                i.fault, None, "", "no undo COMMIT came after it"
            )

    def run_due(self, everything: bool = False) -> None:
        """Restart the services whose outage is over (``everything``: all, now)."""
        now = time.monotonic()
        for item in list(self.later):
            if everything or item[0] <= now:
                self.later.remove(item)
                item[1]()

    def services_back(self) -> None:
        """Every stopped service started again and answering (before the oracle reads)."""
        self.run_due(everything=True)
        for svc in (self.kafka_svc, self.maria_svc):
            if svc is not None:
                svc.start()
                svc.wait_ready()

    # ---- the job ---------------------------------------------------------------------------
    def drive(self) -> int | None:
        """Run the job through its faults; the last attempt's exit status (None: hung)."""
        pending = list(self.plan.faults)
        self.t0 = time.monotonic()
        for f in [f for f in pending if f.phase == "start"]:
            self.struck(f, "start", self.strike(f, None, None, []) or "")
            pending.remove(f)
        deadline = self.t0 + self.plan.deadline_s
        a = self.launch(resume=False)
        due: dict[int, float] = {}
        stopped_by_us = False
        while True:
            self.run_due()
            code = a.proc.poll()
            if code is not None:
                for fh in a.files:
                    fh.close()
                if not stopped_by_us:
                    for f in pending:
                        self.missed(f, "the job ended first")
                    return code
                if code != 130 and self.injected[-1].fault.kind is Kind.RUN_TERM:
                    self.notes.append(f"SIGTERM gave exit {code}, not 130")
                stopped_by_us = False
                if not self._wait_group_empty(deadline):
                    return None
                a = self.launch(resume=True)
                due.clear()
                continue
            if time.monotonic() > deadline:
                inject.kill_tree(a.proc.pid)
                a.proc.wait(30)
                for f in pending:
                    self.missed(f, "hung before it")
                return None
            v, logs = self.look(a)
            now = time.monotonic()
            for f in list(pending):
                if f.phase not in v.reached:
                    break  # faults strike in plan order
                key = id(f)
                due.setdefault(key, now + f.delay_s)
                if now < due[key]:
                    break
                seen = latest(v)
                note = self.strike(f, a, v, logs)
                if note is None:
                    if now > due[key] + _TARGET_WAIT_S:
                        self.missed(f, "no target")
                        pending.remove(f)
                    break
                self.struck(f, seen, note)
                pending.remove(f)
                if f.kind in _RUN_STOPS:
                    stopped_by_us = True
                    try:
                        a.proc.wait(90)
                    except subprocess.TimeoutExpired:
                        inject.kill_tree(a.proc.pid)
                    break
            time.sleep(POLL_S)

    def _wait_group_empty(self, deadline: float) -> bool:
        """Until the stopped run's workers left the job's consumer group (``--resume`` needs
        it); False at the deadline."""
        group = f"tiundo-{self.job}"
        while True:
            self.run_due()
            try:
                if not asyncio.run(group_members(self.kafka, group)):
                    return True
            except Exception:  # the run's broker is down: ask again once it is back
                pass
            if time.monotonic() > deadline:
                return False
            time.sleep(1)

    # ---- the oracle ------------------------------------------------------------------------
    def finished_unix_ms(self) -> int:
        """When the job's final status was published (0: none)."""
        notes = asyncio.run(read_compacted(self.kafka, f"{self.job}.status"))
        raw = notes.get(self.job.encode())
        return tiundo_pb2.JobStatus.FromString(raw).finished_unix_ms if raw else 0

    def _rows(self, db: str, table: str) -> list[tuple[Any, ...]]:
        with self._sql().cursor() as cur:
            cur.execute(f"SELECT * FROM {quote_ident(db)}.{quote_ident(table)}")
            return list(cur.fetchall())

    def compare(self, foreign: bool) -> tuple[list[TableDiff], list[TableDiff]]:
        """(selected tables not at T, non-selected tables changed), row by row."""
        not_at_t, touched = [], []
        for t in self.plan.selected:
            if foreign and t in FENCE_TABLES:
                continue  # the other writer's rows: not tiundo's to restore
            d = row_diff(t, self._rows(self.db, t), self._rows(f"{self.db}_t", t))
            if d.missing or d.extra:
                not_at_t.append(d)
        for t in self.plan.unselected:
            d = row_diff(t, self._rows(self.db, t), self._rows(f"{self.db}_pre", t))
            if d.missing or d.extra:
                touched.append(d)
        return not_at_t, touched

    # ---- tear-down -------------------------------------------------------------------------
    def cleanup(self, keep_files: bool) -> None:
        """Stop the cluster host; drop the run's databases, topics and counter rows (or stop
        the run's own MariaDB / broker, whose data goes with the folder)."""
        if self.host is not None and self.host.poll() is None:
            self.host.send_signal(signal.SIGTERM)
            try:
                self.host.wait(30)
            except subprocess.TimeoutExpired:
                self.host.kill()
                self.host.wait(10)
        if self.maria_svc is not None:
            self._close_sql()
            self.maria_svc.stop()
        else:
            try:
                with self._sql().cursor() as cur:
                    for suffix in ("", "_cdc", "_t", "_pre"):
                        cur.execute(f"DROP DATABASE IF EXISTS {quote_ident(self.db + suffix)}")
                    cur.execute(
                        "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = "
                        "'tiundo_meta' AND TABLE_NAME = 'undo_progress'"
                    )
                    if cur.fetchone()[0]:
                        cur.execute(
                            "DELETE FROM tiundo_meta.undo_progress WHERE job = %s", (self.job,)
                        )
            finally:
                self._close_sql()
        if self.kafka_svc is not None:
            self.kafka_svc.stop()
        else:
            asyncio.run(delete_job_topics(self.kafka, self.job))
        if not keep_files:
            shutil.rmtree(self.dir, ignore_errors=True)


def _last_error(path: Path) -> str:
    """The last non-progress line of a run's stderr (why it ended)."""
    if not path.exists():
        return ""
    lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    lines = [ln for ln in lines if not ln.startswith("[")]
    return lines[-1][:200] if lines else ""


def run_one(plan: RunPlan, cfg: ChaosConfig) -> RunResult:
    """Execute ``plan``; the verdict (the run's databases and topics are removed)."""
    r = _Run(plan, cfg)
    started = time.monotonic()
    outcome, code, detail = Outcome.WRONG, None, ""
    try:
        r.start_services()
        r.start_cluster()
        torn, _ = r.compare(False)
        if not torn:
            r.notes.append("nothing was torn: the run proves little")
        code = r.drive()
        rto = time.monotonic() - r.t0
        r.services_back()
        r.confirm_ack_cuts()
        # the fence tables hold another writer's rows whenever it wrote; exit 5 is owed only
        # for a write the fence was surely open for
        not_at_t, touched = r.compare(bool(r.foreign_ts))
        foreign = foreign_in_time(r.foreign_ts, r.finished_unix_ms())
        late = bool(r.foreign_ts) and not foreign
        outcome = classify(
            Observed(code, not_at_t, touched, foreign, hung=code is None, foreign_late=late)
        )
        parts = list(r.notes)
        if late:
            parts.append("the foreign write came at or after the last partition report")
        if not_at_t:
            parts.append("not at T: " + ", ".join(map(str, not_at_t)))
        if touched:
            parts.append("non-selected changed: " + ", ".join(map(str, touched)))
        if outcome is not Outcome.OK:
            last = _last_error(r.dir / f"run{r.attempts}.out") or _last_error(
                r.dir / f"run{r.attempts}.err"
            )
            if last:
                parts.append(last)
            parts.append(f"logs {r.dir}")
        detail = "; ".join(parts)
    except Exception as exc:  # a run the soak could not drive is reported
        rto = time.monotonic() - started
        detail = f"the soak could not drive this run: {type(exc).__name__}: {exc}; logs {r.dir}"
    finally:
        r.cleanup(keep_files=cfg.keep or outcome is not Outcome.OK)
    return RunResult(plan, tuple(r.injected), outcome, code, rto, detail, cfg.kinds)
