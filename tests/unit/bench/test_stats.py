"""Medians, ratios vs the raw-apply limit, failed runs never timed, peak RSS."""

from __future__ import annotations

from typing import Any

import pytest

from bench.rto.config import SIZES, BenchConfig
from bench.rto.runner import selected
from bench.rto.stats import format_table, summarize
from core.errors import ConfigError
from core.urls import MySQLTarget, parse_mysql_url

WORKLOADS = {"base": {"changes": 1000, "keys": 200}}


def _run(label: str, seconds: float | None, **rss: int) -> dict[str, Any]:
    rec: dict[str, Any] = {"label": label, "ok": seconds is not None, "rss_kib": rss}
    if seconds is not None:
        rec["seconds"] = seconds
    return rec


def test_medians_ratios_and_throughput() -> None:
    runs = [
        _run("raw_apply@base", 2.0, self=100),
        _run("raw_apply@base", 4.0, self=300),
        _run("raw_apply@base", 3.0, self=200),
        _run("per_event@base", 30.0, self=50, children=70),
        _run("per_event@base", 10.0, self=60),
    ]
    by = {s.label: s for s in summarize(runs, WORKLOADS)}
    raw, pe = by["raw_apply@base"], by["per_event@base"]
    assert (raw.median_s, raw.min_s, raw.max_s, raw.runs) == (3.0, 2.0, 4.0, 3)
    assert raw.ratio == 1.0
    assert pe.median_s == 20.0 and pe.ratio == pytest.approx(20.0 / 3.0)
    assert raw.changes_per_s == pytest.approx(1000 / 3.0)
    assert pe.keys_per_s == pytest.approx(200 / 20.0)
    assert dict(raw.peak_rss_kib) == {"self": 300}
    assert dict(pe.peak_rss_kib) == {"self": 60, "children": 70}
    assert [s.label for s in summarize(runs, WORKLOADS)] == ["raw_apply@base", "per_event@base"]


def test_a_failed_run_fails_the_contender() -> None:
    runs = [
        _run("raw_apply@base", 2.0),
        _run("per_event@base", 5.0),
        _run("per_event@base", None),
    ]
    pe = {s.label: s for s in summarize(runs, WORKLOADS)}["per_event@base"]
    assert not pe.ok and pe.failed == 1 and pe.median_s is None and pe.ratio is None
    table = format_table(summarize(runs, WORKLOADS))
    assert "FAILED" in table.splitlines()[3]
    assert table.splitlines()[2].startswith("raw_apply@base")


def test_no_reference_no_ratio() -> None:
    (s,) = summarize([_run("per_event@hot", 5.0)], {"hot": {"changes": 10, "keys": 1}})
    assert s.ratio is None and s.median_s == 5.0


def test_label_selection() -> None:
    assert selected("raw_apply@base", (), ())
    assert not selected("per_event@hot", (), ("per_event@hot",))
    assert selected("per_event@base", (), ("per_event@hot",))
    assert selected("raw_apply_2conn@hot", ("raw_apply",), ())
    assert not selected("per_event@base", ("raw_apply",), ())


def test_config() -> None:
    t = parse_mysql_url("mysql://u:p%40ss@127.0.0.1:3307/db")
    assert t == MySQLTarget("127.0.0.1", 3307, "u", "p@ss", "db")
    with pytest.raises(ConfigError, match="mysql://"):
        parse_mysql_url("postgres://x@y/z")
    BenchConfig(SIZES["small"]).validate()
    with pytest.raises(ValueError, match="hot_factor"):
        BenchConfig(SIZES["small"], hot_factor=1).validate()
    with pytest.raises(ValueError, match="db_prefix"):
        BenchConfig(SIZES["small"], db_prefix="x; DROP").validate()
    assert SIZES["full"].scaled(10).changes == 10_000_000
    assert SIZES["full"].scaled(10).rows == SIZES["full"].rows
