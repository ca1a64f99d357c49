"""core.logs: one handler per process, JSON or text lines, the job id on every line."""

from __future__ import annotations

import io
import json
import logging
import logging.config
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from core.errors import ConfigError
from core.logs import LogConfig, dict_config, scrub, setup_logging


@pytest.fixture(autouse=True)
def _restore_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for h in list(root.handlers):
        root.removeHandler(h)
        if h not in handlers:
            h.close()
    for h in handlers:
        root.addHandler(h)
    root.setLevel(level)


def test_json_lines_parse_and_name_the_job_for_library_records_too(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "run.log"
    setup_logging(LogConfig("info", str(path), "json"), job="j-1", role="run")
    logging.getLogger("aiokafka.consumer.fetcher").warning("Failed fetch offsets for %s", "tp")
    logging.getLogger("ingest.worker").info("regions %d", 3)
    logging.getLogger("app").debug("below the level: not written")
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("app.cli").exception("crashed")
    lines = path.read_text().splitlines()
    docs = [json.loads(line) for line in lines]
    assert len(docs) == 3
    assert all(d["job"] == "j-1" and d["role"] == "run" for d in docs)
    assert docs[0]["logger"] == "aiokafka.consumer.fetcher" and docs[0]["level"] == "warning"
    assert docs[0]["message"] == "Failed fetch offsets for tp"
    assert docs[1]["message"] == "regions 3" and isinstance(docs[1]["pid"], int)
    assert "ValueError: boom" in docs[2]["exc"]
    assert path.stat().st_mode & 0o777 == 0o600


def test_text_lines_carry_the_job_and_scrub_passwords() -> None:
    out = io.StringIO()
    setup_logging(LogConfig("debug", "", "text"), job="j-2", role="worker1", stream=out)
    logging.getLogger("app.sink").debug("connect mysql://root:s3cr3t@db:4000/ failed")
    (line,) = out.getvalue().splitlines()
    assert " DEBUG job=j-2 worker1[" in line and "app.sink: connect" in line
    assert "s3cr3t" not in line and "mysql://root:***@db:4000/" in line


def test_stderr_by_default_shows_only_tiundo_warnings() -> None:
    out = io.StringIO()
    config = LogConfig.from_env()
    assert (config.level, config.effective_level) == ("", "warning")
    setup_logging(config, job="j-4", role="plan", stream=out)
    logging.getLogger("aiokafka").error("Unable connect to 127.0.0.1:1")
    logging.getLogger("ingest.pd").info("pd: cluster 1")
    logging.getLogger("ingest.locks").warning("resolved a lock")
    (line,) = out.getvalue().splitlines()
    assert "ingest.locks: resolved a lock" in line and "job=j-4" in line
    # asked for: every logger at that level
    setup_logging(LogConfig("info"), job="j-4", role="plan", stream=out)
    logging.getLogger("aiokafka").info("library line")
    assert "aiokafka: library line" in out.getvalue().splitlines()[-1]


def test_scrub_keeps_urls_without_a_password() -> None:
    assert scrub("kafka://h:9092 and mysql://u@h:3306") == "kafka://h:9092 and mysql://u@h:3306"
    assert scrub("a mysql://u:p@h b http://x:y@z") == "a mysql://u:***@h b http://x:***@z"


def test_dict_config_installs_the_same_handler(tmp_path: Path) -> None:
    path = tmp_path / "w.log"
    logging.config.dictConfig(
        dict_config(LogConfig("warning", str(path), "json"), job="j-3", role="worker0")
    )
    logging.getLogger("faust").info("not written")
    logging.getLogger("faust").warning("written")
    (doc,) = [json.loads(line) for line in path.read_text().splitlines()]
    assert (doc["job"], doc["role"], doc["message"]) == ("j-3", "worker0", "written")


def test_bad_values_are_one_line_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="--log-format 'xml'"):
        LogConfig.from_env(format="xml")
    monkeypatch.setenv("TIUNDO_LOG_LEVEL", "loud")
    with pytest.raises(ConfigError, match="--log-level 'loud'"):
        LogConfig.from_env()
    monkeypatch.setenv("TIUNDO_LOG_LEVEL", "DEBUG")
    assert LogConfig.from_env().levelno == logging.DEBUG


def test_spawned_workers_inherit_level_and_format() -> None:
    assert LogConfig("debug", "/x/run.log", "json").worker_args() == [
        "--log-level", "debug", "--log-format", "json",
    ]  # fmt: skip
    # run logs into a file: info unless told otherwise, and so do its workers
    assert LogConfig("", "/x/run.log").worker_args()[:2] == ["--log-level", "info"]


@pytest.mark.parametrize(
    "command",
    ["plan", "run", "verify", "status", "report", "ingest", "replay", "worker", "cleanup"],
)
def test_every_command_takes_the_log_flags(command: str) -> None:
    from app.cli import main

    out = CliRunner().invoke(main, [command, "--help"]).output
    for flag in ("--log-level", "--log-file", "--log-format"):
        assert flag in out, (command, flag)
