"""``tiundo`` CLI: flags, env vars, defaults, and the one-line error contract (no services).

The DBA errors that need a cluster run against the fake cluster (real PD gRPC + status API)
in a background thread; the ones that need MariaDB/Kafka are in
tests/integration/test_cli_e2e.py. Every error must be: one line on stderr, a non-zero exit
status, no traceback.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner, Result

from app.cli import main
from app.cli.common import (
    CLI_ENV,
    EXIT_UNREACHABLE,
    EXIT_UNSAFE,
    EXIT_USAGE,
    Settings,
    kafka_url,
    time_to_tso,
)
from app.config import UndoConfig
from core.errors import ConfigError
from core.secrets import DownstreamPassword
from core.settings import env_vars
from ingest.config import IngestConfig
from simulator.cluster import FakeCluster
from simulator.tabledef import demo_tables

# -- helpers ------------------------------------------------------------------------------------

_ENV_PREFIX = "TIUNDO_"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Makefile exports TIUNDO_KAFKA/TIUNDO_MYSQL; tests start from an empty environment."""
    import os

    for key in list(os.environ):
        if key.startswith(_ENV_PREFIX):
            monkeypatch.delenv(key)


def invoke(args: list[str], env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, args, env=env, catch_exceptions=False)


def assert_one_line_error(result: Result, code: int, *needles: str) -> str:
    """The DBA contract: exit ``code``, one stderr line starting 'tiundo: error:', no traceback."""
    err = result.stderr
    assert result.exit_code == code, (result.exit_code, result.output, err)
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("tiundo: error: "), err
    assert "Traceback" not in err and "Traceback" not in result.stdout
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def free_port() -> int:
    """A loopback port nothing listens on (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


class ThreadCluster:
    """A FakeCluster on its own event loop in a thread (the CLI runs asyncio.run itself)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.cluster = FakeCluster(stores=1, resolved_ts_interval=0.05)
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    def __enter__(self) -> ThreadCluster:
        self.thread.start()
        self.call(self.cluster.start())
        for tdef in demo_tables("shop")[:2]:
            self.cluster.catalog.add_table(tdef)
        return self

    def __exit__(self, *exc: object) -> None:
        self.call(self.cluster.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()

    def env(self) -> dict[str, str]:
        return {
            "TIUNDO_PD": f"pd://{self.cluster.pd_address}",
            "TIUNDO_STATUS_API": f"http://{self.cluster.status_address}",
        }

    def now(self) -> int:
        return int(self.cluster.tso.next())


@pytest.fixture
def sim() -> Iterator[ThreadCluster]:
    with ThreadCluster() as c:
        yield c


# -- parsing, env vars, defaults ---------------------------------------------------------------


def test_help_lists_every_command() -> None:
    out = invoke(["--help"]).output
    for cmd in ("plan", "run", "status", "report", "verify", "replay", "ingest", "worker"):
        assert f"  {cmd} " in out


def test_run_help_names_every_flag_and_env_var() -> None:
    out = invoke(["run", "--help"]).output
    for flag, env in (
        ("--pd", "TIUNDO_PD"),
        ("--kafka", "TIUNDO_KAFKA"),
        ("--downstream", "TIUNDO_DOWNSTREAM"),
        ("--status-api", "TIUNDO_STATUS_API"),
        ("--tables", "TIUNDO_TABLES"),
        ("--to-ts", "TIUNDO_TO_TS"),
        ("--to-time", "TIUNDO_TO_TIME"),
        ("--changefeed", "TIUNDO_CHANGEFEED"),
        ("--ticdc-cluster", "TIUNDO_TICDC_CLUSTER"),
        ("--end-ts", "TIUNDO_END_TS"),
        ("--partitions", "TIUNDO_PARTITIONS"),
        ("--batch-rows", "TIUNDO_BATCH_ROWS"),
        ("--workers", "TIUNDO_WORKERS"),
        ("--dry-run", "TIUNDO_DRY_RUN_FILE"),
        ("--force", "TIUNDO_FORCE"),
    ):
        assert flag in out and env in out, flag


def test_every_flag_env_var_is_a_declaration() -> None:
    """A flag's env var is a stage config's (core.settings) or the CLI's own, never a copy."""
    from core.logs import LogConfig

    stage = {
        *env_vars(IngestConfig).values(),
        *env_vars(UndoConfig).values(),
        *env_vars(LogConfig).values(),
        *env_vars(DownstreamPassword).values(),
    }
    cli = set(CLI_ENV.values())
    assert not stage & cli
    for name, command in main.commands.items():
        for param in command.params:
            env = getattr(param, "envvar", None)
            assert env is None or env in stage | cli, (name, param.name, env)


def test_settings_from_params_splits_patterns_and_normalises_kafka() -> None:
    s = Settings.from_params(
        {"tables": ("a.* b.t", "c.x,d.y"), "kafka": "10.0.0.1:9092,10.0.0.2:9093", "job": "j"}
    )
    assert s.tables == ("a.*", "b.t", "c.x", "d.y")
    assert s.kafka == "kafka://10.0.0.1:9092,10.0.0.2:9093"
    assert s.partitions == 8 and s.pd == "pd://127.0.0.1:2379"


def test_settings_from_params_keeps_backquoted_names_whole() -> None:
    s = Settings.from_params({"tables": ("`we.ird db`.`t,1 2` a.b", "c.*,`x y`.z"), "job": "j"})
    assert s.tables == ("`we.ird db`.`t,1 2`", "a.b", "c.*", "`x y`.z")


def test_kafka_url_rejects_garbage() -> None:
    with pytest.raises(ConfigError, match="kafka://host:port"):
        kafka_url("kafka://nohostport")


def test_ingest_and_undo_configs_share_every_setting() -> None:
    s = Settings.from_params(
        {
            "job": "j1",
            "kafka": "127.0.0.1:9",
            "downstream": "mysql://u:p@h:4000/tidb_cdc",
            "status_api": "http://h:10080",
            "partitions": 3,
            "tables": ("db.*",),
            "batch_rows": 7,
            "txn_source": 5,
            "to_ts": 100,
        }
    )
    ing, undo = s.ingest_config(), s.undo_config()
    assert (ing.job, undo.job) == ("j1", "j1")
    assert ing.kafka == undo.kafka == "kafka://127.0.0.1:9"
    assert ing.partitions == undo.partitions == 3
    assert ing.downstream == undo.downstream
    assert ing.own_source == undo.txn_source == 5
    assert undo.batch_rows == 7 and ing.to_ts == 100


def test_changefeed_and_ticdc_cluster_reach_the_ingest_config() -> None:
    s = Settings.from_params(
        {"job": "j", "downstream": "mysql://u@h:1", "tables": ("db.*",), "changefeed": "shop",
         "ticdc_cluster": "cdc-b"}
    )  # fmt: skip
    ing = s.ingest_config()
    assert (ing.changefeed, ing.ticdc_cluster_id) == ("shop", "cdc-b")


def test_undo_config_keeps_env_only_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIUNDO_SESSION_TIMEOUT_S", "7")
    s = Settings.from_params({"job": "j", "downstream": "mysql://u@h:1"})
    assert s.undo_config().session_timeout_s == 7.0


def test_to_time_is_a_tso_of_that_instant() -> None:
    # 2024-01-01T00:00:00Z = 1704067200000 ms; TSO = ms << 18
    assert time_to_tso("2024-01-01T08:00:00+08:00") == 1704067200000 << 18


@pytest.mark.parametrize(
    ("text", "needle"), [("2024-01-01T00:00:00", "no time zone"), ("yesterday", "ISO 8601")]
)
def test_to_time_errors(text: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        time_to_tso(text)


def test_to_ts_and_to_time_together_are_refused() -> None:
    s = Settings.from_params({"to_ts": 5, "to_time": "2024-01-01T00:00:00+00:00"})
    with pytest.raises(ConfigError, match="not both"):
        s.target_ts()


# -- config errors: one line, exit 2 ---------------------------------------------------------


def test_plan_without_tables() -> None:
    assert_one_line_error(invoke(["plan"]), EXIT_USAGE, "no tables selected")


def test_plan_bad_pd_url() -> None:
    r = invoke(["plan", "-t", "db.t", "--to-ts", "5", "--pd", "pd://nowhere"])
    assert_one_line_error(r, EXIT_USAGE, "pd://host:port")


def test_plan_bad_table_pattern_from_env() -> None:
    r = invoke(["plan", "--to-ts", "5"], env={"TIUNDO_TABLES": "justonename"})
    assert_one_line_error(r, EXIT_USAGE, "justonename")


def test_run_without_downstream() -> None:
    r = invoke(["run", "-t", "db.t", "--to-ts", "5"])
    assert_one_line_error(r, EXIT_USAGE, "TIUNDO_DOWNSTREAM")


def test_run_bad_downstream_url_from_env() -> None:
    r = invoke(["run", "-t", "db.t", "--to-ts", "5"], env={"TIUNDO_DOWNSTREAM": "postgres://x"})
    assert_one_line_error(r, EXIT_USAGE, "mysql://")


def test_status_needs_a_job() -> None:
    assert_one_line_error(invoke(["status"]), EXIT_USAGE, "--job")


def test_verify_expect_file_missing(tmp_path: Any) -> None:
    r = invoke(
        ["verify", "--downstream", "mysql://u@127.0.0.1:1", "--expect", str(tmp_path / "no")]
    )
    assert_one_line_error(r, EXIT_USAGE, "--expect")


def test_click_usage_error_is_exit_2() -> None:
    r = invoke(["run", "--workers", "0"])
    assert r.exit_code == EXIT_USAGE and "Traceback" not in r.output


# -- unreachable services: one line, exit 4 ----------------------------------------------------


def test_unreachable_pd() -> None:
    r = invoke(
        ["plan", "-t", "db.t", "--to-ts", "5", "--pd", f"pd://127.0.0.1:{free_port()}",
         "--timeout", "1"]
    )  # fmt: skip
    assert_one_line_error(r, EXIT_UNREACHABLE, "PD")


def test_unreachable_kafka() -> None:
    r = invoke(["status", "--job", "j", "--kafka", f"127.0.0.1:{free_port()}"])
    assert_one_line_error(r, EXIT_UNREACHABLE, "Kafka")


def test_unreachable_downstream(tmp_path: Any, sim: ThreadCluster) -> None:
    expect = tmp_path / "e.json"
    expect.write_text('{"db": "shop", "tables": {"all_types": {"digest": "0:0"}}}')
    r = invoke(
        ["verify", "--expect", str(expect), "--downstream", f"mysql://u@127.0.0.1:{free_port()}"],
        env=sim.env(),
    )
    assert_one_line_error(r, EXIT_UNREACHABLE, "downstream")


def test_unreachable_status_api(sim: ThreadCluster) -> None:
    env = {**sim.env(), "TIUNDO_STATUS_API": f"http://127.0.0.1:{free_port()}"}
    r = invoke(["plan", "-t", "shop.all_types", "--to-ts", "5", "--timeout", "2"], env=env)
    assert_one_line_error(r, EXIT_UNREACHABLE, "status API")


# -- unsafe to undo: one line, exit 3 (fake PD + status API) ------------------------------------


def test_unknown_table_is_a_config_error(sim: ThreadCluster) -> None:
    r = invoke(["plan", "-t", "shop.nosuch", "--to-ts", "5"], env=sim.env())
    assert_one_line_error(r, EXIT_USAGE, "shop.nosuch")


def test_target_below_gc_safepoint(sim: ThreadCluster) -> None:
    t = sim.now()
    sim.cluster.pd.servicer.gc_safe_point = sim.now()
    r = invoke(["plan", "-t", "shop.*", "--to-ts", str(t), "--no-count"], env=sim.env())
    assert_one_line_error(r, EXIT_UNSAFE, "GC safepoint", str(t))


def _ddl_job(job_id: int, table_id: int, name: str, finished: int) -> dict[str, Any]:
    # shape of TiDB's model.Job JSON (pkg/meta/model/job.go; HistoryInfo has no json tags)
    return {
        "id": job_id,
        "type": 5,  # ActionAddColumn
        "schema_id": 2,
        "table_id": table_id,
        "schema_name": "shop",
        "table_name": name,
        "state": 6,  # synced
        "err": None,
        "start_ts": finished - 10,
        "query": f"ALTER TABLE shop.{name} ADD COLUMN x INT",
        "binlog": {"SchemaVersion": 9, "DBInfo": None, "TableInfo": None, "FinishedTS": finished},
        "version": 1,
    }


def test_ddl_after_t_is_refused_and_named(sim: ThreadCluster) -> None:
    t = sim.now()
    info = sim.cluster.catalog.table("shop", "ukeys")
    sim.cluster.status_api.ddl_history.append(_ddl_job(77, info.id, "ukeys", sim.now()))
    r = invoke(["plan", "-t", "shop.*", "--to-ts", str(t), "--no-count"], env=sim.env())
    assert_one_line_error(r, EXIT_UNSAFE, "DDL job 77", "shop.ukeys", "ADD COLUMN")


def test_ddl_before_t_or_on_other_tables_is_fine(sim: ThreadCluster) -> None:
    before = sim.now()
    t = sim.now()
    info = sim.cluster.catalog.table("shop", "ukeys")
    hist = sim.cluster.status_api.ddl_history
    hist.append(_ddl_job(5, info.id, "ukeys", before))
    hist.append(_ddl_job(6, 99999, "other", sim.now()))
    r = invoke(
        ["plan", "-t", "shop.ukeys", "--to-ts", str(t), "--no-count", "--json"], env=sim.env()
    )
    assert r.exit_code == 0, r.stderr
    assert '"table": "shop.ukeys"' in r.stdout and f'"target_ts": {t}' in r.stdout


# -- progress ------------------------------------------------------------------------------------


def test_phase_model_and_plain_lines() -> None:
    import io

    from app.cli.jobstate import JobSnapshot
    from app.cli.progress import LineDisplay, PhaseModel
    from ingest.worker import Progress

    t = 1000 << 18
    model = PhaseModel(partitions=4)
    assert model.phases()[0] == (0, 0, "starting")
    model.ingest = Progress(
        state="ingesting", target_ts=t, end_ts=t + (500 << 18), frontier_ts=t + (100 << 18),
        lag_ms=400, regions=10, regions_initialized=7, changes=55,
    )  # fmt: skip
    model.job = JobSnapshot(None, {}, rows_applied=12, kv_end=40, kv_consumed=30)
    assert model.phases() == [(7, 10, "55 changes"), (100, 500, ""), (30, 40, ""),
                              (0, 4, "12 rows applied")]  # fmt: skip
    out = io.StringIO()
    with LineDisplay(out, interval_s=3600) as d:
        d.update(model)  # printed: first change
        model.job = JobSnapshot(None, {}, rows_applied=20, kv_end=40, kv_consumed=40)
        d.update(model)  # held back by the interval, printed on exit
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert "regions 7/10 (55 changes)" in lines[0] and "records 30/40" in lines[0]
    assert "records 40/40" in lines[1] and "(20 rows applied)" in lines[1]


def _outcome(state: int, foreign_writes: int) -> Any:
    from app.cli.run import RunOutcome
    from ingest.worker import IngestResult
    from proto import tiundo_pb2

    ingest = IngestResult(
        job="j", topic="j.kv", state="done", target_ts=1, end_ts=2, primary_ts=0, tables=(),
        changes=0, records=0, changes_per_partition=(), batches_per_partition=(),
        foreign_writes=foreign_writes, dropped={}, region_errors={}, stream_reconnects=0,
        duration_s=0.0,
    )  # fmt: skip
    # the job status carries the foreign writes (stored there by run, read by exit_status)
    status = tiundo_pb2.JobStatus(job_id="j", state=state, foreign_writes=foreign_writes)
    return RunOutcome(status, ingest, 1.0)


def test_run_says_what_the_undo_gave_up() -> None:
    from app.cli.run import RunOutcome, outcome_rpo, render_outcome
    from ingest.worker import IngestResult
    from proto import tiundo_pb2

    # upstream point at 1,000 ms, T at 2,000 ms, E at 9,500 ms, the job pinned at 12,345 ms
    ingest = IngestResult(
        job="j", topic="j.kv", state="done", target_ts=2_000 << 18, end_ts=9_500 << 18 | 3,
        primary_ts=0, tables=(), changes=40, records=4,
        changes_per_partition=(40,), batches_per_partition=(4,), foreign_writes=0, dropped={},
        region_errors={}, stream_reconnects=0, duration_s=1.0, transactions=8,
    )  # fmt: skip
    # the ingest of the pinned window does not know primary_ts: the workers' status does
    status = tiundo_pb2.JobStatus(
        job_id="j", state=tiundo_pb2.JobStatus.SUCCEEDED, primary_ts=1_000 << 18 | 9
    )
    out = RunOutcome(status, ingest, 3.0, started_unix_ms=12_345)
    assert (outcome_rpo(out).point_age_ms, outcome_rpo(out).window_ms) == (11_345, 7_500)
    assert (
        "  RPO: upstream point age at job start = 11.345 s   window undone (E - T) = 7.500 s   "
        "changes undone = 40   transactions undone = 8"
    ) in render_outcome(out).splitlines()


def test_run_exit_status_is_zero_only_for_a_clean_success() -> None:
    from app.cli.common import EXIT_FAILED, EXIT_FOREIGN_WRITES
    from app.cli.run import exit_status, render_outcome
    from proto import tiundo_pb2

    S = tiundo_pb2.JobStatus
    assert exit_status(_outcome(S.SUCCEEDED, 0)) == 0
    assert exit_status(_outcome(S.SUCCEEDED, 3)) == EXIT_FOREIGN_WRITES
    assert "WARNING: 3 write(s) after E" in render_outcome(_outcome(S.SUCCEEDED, 3))
    for state in (S.FAILED, S.INCOMPLETE, S.RUNNING):
        assert exit_status(_outcome(state, 0)) == EXIT_FAILED
        assert exit_status(_outcome(state, 2)) == EXIT_FAILED


@pytest.mark.parametrize(
    ("exc", "code", "needle"),
    [
        (KeyboardInterrupt(), 130, "interrupted"),
        (ConfigError("bad --tables"), 2, "bad --tables"),
        (RuntimeError("boom\nsecond line"), 1, "unexpected RuntimeError: boom second line"),
    ],
)
def test_every_failure_ends_in_one_line_and_its_exit_code(
    exc: BaseException,
    code: int,
    needle: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from app.cli.common import fail_for

    monkeypatch.delenv("TIUNDO_DEBUG", raising=False)
    with pytest.raises(SystemExit) as ended:
        fail_for(exc)
    assert ended.value.code == code
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("tiundo: error: ") and needle in err


def test_tiundo_debug_shows_the_unexpected_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from app.cli.common import fail_for

    monkeypatch.setenv("TIUNDO_DEBUG", "1")
    with pytest.raises(RuntimeError, match="boom"):
        fail_for(RuntimeError("boom"))


def test_spawned_workers_find_the_app_package() -> None:
    from app.cli import run

    assert (run.ROOT / "app" / "cli" / "run.py").is_file()


# -- names TiDB allows: exact selection, no silent widening ------------------------------------

ODD_DB = "we.ird db,#%?["


@pytest.fixture
def odd_sim(sim: ThreadCluster) -> ThreadCluster:
    """``sim`` plus a database whose name needs quoting, with look-alike tables, and ``a/b``."""
    from simulator.tabledef import ColumnDef, TableDef

    cols = (ColumnDef("id", "int", nullable=False), ColumnDef("v", "int"))
    for db, name in [(ODD_DB, n) for n in ("t*1", "tx1", "t1", "t[1]", "x/y", "`q`")] + [
        ("a/b", "t")
    ]:
        sim.cluster.catalog.add_table(TableDef(db, name, cols, primary_key=("id",)))
    return sim


def _plan_tables(
    sim: ThreadCluster, args: list[str], env: dict[str, str] | None = None
) -> list[str]:
    import json

    r = invoke(
        ["plan", *args, "--to-ts", str(sim.now()), "--no-count", "--json"],
        env={**sim.env(), **(env or {})},
    )
    assert r.exit_code == 0, r.stderr
    return [t["table"] for t in json.loads(r.stdout)["tables"]]


def test_exact_pattern_from_env_selects_only_that_table(odd_sim: ThreadCluster) -> None:
    q = "`we.ird db,#%?[`"
    got = _plan_tables(odd_sim, [], {"TIUNDO_TABLES": f"{q}.`t*1`, {q}.`t[1]`"})
    assert got == [f"{q}.`t*1`", f"{q}.`t[1]`"]


def test_exact_pattern_from_flags_selects_only_that_table(odd_sim: ThreadCluster) -> None:
    q = "`we.ird db,#%?[`"
    assert _plan_tables(odd_sim, ["-t", f"{q}.`t*1`"]) == [f"{q}.`t*1`"]
    assert _plan_tables(odd_sim, ["-t", f"{q}.```q```"]) == [f"{q}.```q```"]


def test_an_unquoted_wildcard_matches_by_pattern_and_plan_shows_every_table(
    odd_sim: ThreadCluster,
) -> None:
    q = "`we.ird db,#%?[`"
    assert _plan_tables(odd_sim, ["-t", f"{q}.t*1"]) == [f"{q}.`t*1`", f"{q}.t1", f"{q}.tx1"]
    r = invoke(
        ["plan", "-t", f"{q}.t*1", "--to-ts", str(odd_sim.now()), "--no-count"],
        env=odd_sim.env(),
    )
    assert r.exit_code == 0, r.stderr
    for name in (f"{q}.`t*1`", f"{q}.t1", f"{q}.tx1"):
        assert f"  {name} " in r.stdout, r.stdout


def test_an_exact_table_with_a_slash_is_found_through_the_listing(odd_sim: ThreadCluster) -> None:
    q = "`we.ird db,#%?[`"
    assert _plan_tables(odd_sim, ["-t", f"{q}.`x/y`"]) == [f"{q}.x/y"]


@pytest.mark.parametrize("pattern", ["a/b.t", "`a/b`.*", "`a/b`.`t`"])
def test_a_database_with_a_slash_is_refused_by_name(odd_sim: ThreadCluster, pattern: str) -> None:
    r = invoke(["plan", "-t", pattern, "--to-ts", "5", "--no-count"], env=odd_sim.env())
    assert_one_line_error(r, EXIT_USAGE, "'a/b'", "'/'")


def test_a_bad_pattern_is_named(odd_sim: ThreadCluster) -> None:
    r = invoke(["plan", "-t", "`we.ird db.t", "--to-ts", "5"], env=odd_sim.env())
    assert_one_line_error(r, EXIT_USAGE, "`we.ird db.t", "not closed")


def test_ddl_on_a_look_alike_table_does_not_refuse_an_exact_selection(
    odd_sim: ThreadCluster,
) -> None:
    t = odd_sim.now()
    cat, hist = odd_sim.cluster.catalog, odd_sim.cluster.status_api.ddl_history
    for job_id, name in ((81, "tx1"), (82, "t1")):
        job = _ddl_job(job_id, cat.table(ODD_DB, name).id, name, odd_sim.now())
        hist.append({**job, "schema_name": ODD_DB, "table_id": 0})  # matched by name only
    q = "`we.ird db,#%?[`"
    args = ["plan", "-t", f"{q}.`t*1`", "--to-ts", str(t), "--no-count", "--json"]
    r = invoke(args, env=odd_sim.env())
    assert r.exit_code == 0, r.stderr
    star = cat.table(ODD_DB, "t*1").id
    hist.append({**_ddl_job(83, star, "t*1", odd_sim.now()), "schema_name": ODD_DB})
    assert_one_line_error(invoke(args, env=odd_sim.env()), EXIT_UNSAFE, "DDL job 83")


def test_ingest_settings_without_a_flag_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from app.cli.common import Settings

    monkeypatch.setenv("TIUNDO_KAFKA_OUTAGE_S", "33")
    monkeypatch.setenv("TIUNDO_LOCK_STALL_S", "2.5")
    monkeypatch.setenv("TIUNDO_PARTITIONS", "99")  # a flag's setting: the flag's value wins
    cfg = Settings(job="j", tables=("db.t",), partitions=4, to_ts=5).ingest_config()
    assert (cfg.kafka_outage_s, cfg.lock_stall_s, cfg.partitions) == (33.0, 2.5, 4)
