"""MySQLSink.apply's retry policy without a server: ``_attempt`` is replaced by a script."""

from __future__ import annotations

import logging
from typing import Any

import pymysql
import pytest

from app.sink.mysql import MySQLSink, SinkError, Step
from app.undo.sqlgen import Dialect, Statement
from core.urls import MySQLTarget

STMTS = [Statement("DELETE FROM `d`.`t` WHERE `id` = %s", (1,), "delete", 1, 1, 2)]


def _sink(outcomes: list[BaseException | bool], *, retries: int = 3) -> tuple[MySQLSink, list[int]]:
    """A sink whose transactions end as ``outcomes`` say, in turn; and its call counter."""
    sink = MySQLSink(
        MySQLTarget("h", 3306, "u", "", "d"),
        dialect=Dialect.MYSQL,
        retries=retries,
        backoff_s=0.001,
        max_backoff_s=0.002,
    )
    sink._pool = object()  # never used: _attempt is scripted
    calls = [0]

    async def attempt(statements: Any, step: Step | None) -> bool:
        calls[0] += 1
        out = outcomes.pop(0)
        if isinstance(out, BaseException):
            raise out
        return out

    sink._attempt = attempt  # type: ignore[method-assign]
    return sink, calls


def _lost() -> pymysql.err.OperationalError:
    return pymysql.err.OperationalError(2013, "Lost connection to MySQL server during query")


async def test_transient_errors_are_retried_and_counted(caplog: pytest.LogCaptureFixture) -> None:
    sink, calls = _sink([_lost(), _lost(), True])
    with caplog.at_level(logging.WARNING, logger="app.sink.mysql"):
        assert await sink.apply(STMTS) is True
    assert calls == [3] and sink.retried == 2 and sink.transactions == 1 and sink.skipped == 0
    msgs = [r.getMessage() for r in caplog.records if r.name == "app.sink.mysql"]
    assert len(msgs) == 2
    assert msgs[0].startswith("transient downstream error (attempt 1): OperationalError(2013")
    assert msgs[1].startswith("transient downstream error (attempt 2)")
    assert msgs[0].endswith("; retrying")


async def test_an_already_applied_transaction_is_counted_as_skipped() -> None:
    sink, calls = _sink([False])
    assert await sink.apply(STMTS) is False
    assert calls == [1] and sink.skipped == 1 and sink.transactions == 0 and sink.retried == 0


async def test_a_non_transient_error_is_a_sink_error_at_once() -> None:
    err = pymysql.err.ProgrammingError(1146, "Table 'd.t' doesn't exist")
    sink, calls = _sink([err, True])
    with pytest.raises(SinkError) as info:
        await sink.apply(STMTS)
    assert calls == [1] and sink.retried == 0 and sink.transactions == 0
    assert info.value.__cause__ is err
    msg = str(info.value)
    assert msg.startswith("downstream refused 1 statement(s), first: delete ")
    assert "1146" in msg


async def test_running_out_of_attempts_names_them_and_chains_the_last_error() -> None:
    errors = [_lost() for _ in range(3)]
    sink, calls = _sink([*errors, True], retries=3)
    with pytest.raises(SinkError) as info:
        await sink.apply(STMTS)
    assert calls == [3] and sink.retried == 2 and sink.transactions == 0
    assert info.value.__cause__ is errors[-1]
    assert str(info.value).startswith(
        "downstream still failing after 3 attempts on 1 statement(s), first: delete "
    )


async def test_no_statements_is_no_transaction() -> None:
    sink, calls = _sink([])
    assert await sink.apply([]) is False
    assert calls == [0]
