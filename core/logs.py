"""Where every tiundo process logs: one handler, one format, the job id on every line.

``--log-level``, ``--log-file`` and ``--log-format json|text`` (``TIUNDO_LOG_LEVEL``,
``TIUNDO_LOG_FILE``, ``TIUNDO_LOG_FORMAT``; :class:`LogConfig`) are the same on every command;
``tiundo run`` hands its level and format to the workers it spawns (:meth:`LogConfig.worker_args`)
and a Faust worker installs the same handler through faust's ``logging_config``
(:func:`dict_config`). Each record carries ``job`` and ``role`` (``run``, ``worker0``, …), so the
logs of a job's processes can be merged and filtered. Library records (aiokafka, faust, grpc) go
to the same handler: with a log file they never reach the screen, where ``tiundo run`` draws its
progress. A password in a URL never reaches a line: ``scheme://user:secret@`` is written
``scheme://user:***@``. Pure: stdlib only.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final, TextIO

from core.errors import ConfigError
from core.settings import from_env, setting

__all__ = [
    "FORMATS",
    "LEVELS",
    "JobFilter",
    "JsonFormatter",
    "LogConfig",
    "OwnOnly",
    "dict_config",
    "make_handler",
    "scrub",
    "setup_logging",
]

LEVELS: Final = ("debug", "info", "warning", "error")
FORMATS: Final = ("text", "json")
TEXT_FORMAT: Final = (
    "%(asctime)s %(levelname)s job=%(job)s %(role)s[%(process)d] %(name)s: %(message)s"
)

_SECRET_IN_URL: Final = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://[^\s:/@]*:)[^\s@/]*@")


def scrub(text: str) -> str:
    """``text`` with the password of every ``scheme://user:password@`` replaced by ``***``."""
    return _SECRET_IN_URL.sub(r"\1***@", text)


@dataclass(frozen=True, slots=True)
class LogConfig:
    """How a process logs (flags and ``TIUNDO_LOG_*``)."""

    level: str = setting("TIUNDO_LOG_LEVEL", "")
    """debug, info, warning or error; unset: info into a file, and on stderr only tiundo's own
    warnings (so a command's output and its one-line error stay readable)."""
    file: str = setting("TIUNDO_LOG_FILE", "")
    """Append log lines to this file; empty = stderr (``tiundo run``: ``<job dir>/run.log``)."""
    format: str = setting("TIUNDO_LOG_FORMAT", "text")
    """text: one readable line per record; json: one JSON object per line."""

    @classmethod
    def from_env(cls, **overrides: Any) -> LogConfig:
        """Defaults, then ``TIUNDO_LOG_*``, then ``overrides`` (``None`` ignored)."""
        return from_env(cls, **overrides).validate()

    def validate(self) -> LogConfig:
        """Raise a one-line :class:`ConfigError` naming a bad value."""
        if self.level and self.level.lower() not in LEVELS:
            raise ConfigError(f"--log-level {self.level!r}: choose one of {', '.join(LEVELS)}")
        if self.format not in FORMATS:
            raise ConfigError(f"--log-format {self.format!r}: choose one of {', '.join(FORMATS)}")
        return self

    def with_file(self, path: Path | str) -> LogConfig:
        """The same level and format, into ``path``."""
        return replace(self, file=str(path))

    def worker_args(self) -> list[str]:
        """The flags a spawned ``tiundo worker`` inherits (it logs to its own file)."""
        return ["--log-level", self.effective_level, "--log-format", self.format]

    @property
    def effective_level(self) -> str:
        """The level asked for, else info into a file and warning on stderr."""
        return self.level.lower() or ("info" if self.file else "warning")

    @property
    def levelno(self) -> int:
        """The level as :mod:`logging`'s number."""
        return int(getattr(logging, self.effective_level.upper()))


class JobFilter(logging.Filter):
    """Stamps ``job`` and ``role`` on every record that passes the handler."""

    def __init__(self, job: str, role: str) -> None:
        super().__init__()
        self.job = job or "-"
        self.role = role

    def filter(self, record: logging.LogRecord) -> bool:
        """Add the fields (a record that names its own job keeps it)."""
        if not getattr(record, "job", None):
            record.job = self.job
        if not getattr(record, "role", None):
            record.role = self.role
        return True


#: the loggers of tiundo's own packages (the rest are libraries: aiokafka, faust, grpc, …)
OWN_LOGGERS: Final = ("app", "core", "ingest", "proto", "simulator", "bench", "scripts")


class OwnOnly(logging.Filter):
    """Lets only tiundo's own records pass: the screen default, without library noise."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Whether the record is of one of :data:`OWN_LOGGERS`."""
        return record.name.split(".", 1)[0] in OWN_LOGGERS


class TextFormatter(logging.Formatter):
    """:data:`TEXT_FORMAT`, passwords scrubbed, a traceback kept on the lines after."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        """The record as text."""
        return scrub(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, job, role, pid, logger, message (and exc)."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        out: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, tz=dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "job": getattr(record, "job", "-"),
            "role": getattr(record, "role", "-"),
            "pid": record.process,
            "logger": record.name,
            "message": scrub(record.getMessage()),
        }
        if record.exc_info:
            out["exc"] = scrub(self.formatException(record.exc_info))
        return json.dumps(out, ensure_ascii=False, default=str)


def make_handler(
    config: LogConfig, *, job: str, role: str, stream: TextIO | None = None
) -> logging.Handler:
    """The one handler: the config's file (appended, created private), else ``stream``/stderr."""
    handler: logging.Handler
    if config.file:
        path = Path(config.file)
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():  # log lines may name tables and hosts: owner only
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o600))
        handler = logging.FileHandler(path, mode="a", encoding="utf-8")
    else:
        handler = logging.StreamHandler(stream or sys.stderr)
        if not config.level:  # no level asked for: the screen gets no library lines
            handler.addFilter(OwnOnly())
    handler.setFormatter(JsonFormatter() if config.format == "json" else TextFormatter())
    handler.addFilter(JobFilter(job, role))
    handler.setLevel(config.levelno)
    return handler


def setup_logging(
    config: LogConfig, *, job: str, role: str, stream: TextIO | None = None
) -> logging.Handler:
    """Make :func:`make_handler`'s handler the root logger's only one; returns it."""
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
        if getattr(old, "_tiundo", False):  # ours (an earlier set-up): its file is closed
            old.close()
    handler = make_handler(config, job=job, role=role, stream=stream)
    handler._tiundo = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(config.levelno)
    logging.captureWarnings(True)
    return handler


def _handler_factory(
    log_level: str, log_file: str, log_format: str, job: str, role: str
) -> logging.Handler:
    """For :func:`logging.config.dictConfig` (``"()"``): :func:`make_handler` from plain values."""
    return make_handler(LogConfig(log_level, log_file, log_format), job=job, role=role)


def dict_config(config: LogConfig, *, job: str, role: str) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` installing the same handler (faust's ``logging_config``)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {
            "tiundo": {
                "()": f"{__name__}._handler_factory",
                "log_level": config.effective_level,
                "log_file": config.file,
                "log_format": config.format,
                "job": job,
                "role": role,
            }
        },
        "root": {"level": config.effective_level.upper(), "handlers": ["tiundo"]},
    }
