"""Sizes and knobs of one benchmark run; one frozen dataclass, named defaults, ``validate()``."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Final

__all__ = ["SIZES", "BenchConfig", "WorkloadSize"]


@dataclass(frozen=True, slots=True)
class WorkloadSize:
    """How much history to write in ``(T, E]``.

    ``rows`` is the number of distinct row slots the changes fall on (the identities that can
    exist); ``occupancy`` of them hold a row at T. With ``changes / rows`` ≈ 5 nearly every
    slot is touched, so the distinct changed keys come out close to ``rows`` (the exact count
    is measured and reported: ``_tidb_rowid`` inserts add fresh keys).
    """

    name: str
    changes: int
    rows: int
    txn_changes: int = 10
    update_ratio: float = 0.70
    insert_ratio: float = 0.15
    occupancy: float = 0.75

    def validate(self) -> None:
        """Raise ValueError on a size that cannot be generated."""
        if self.changes < 1 or self.rows < 16 or self.txn_changes < 1:
            raise ValueError(f"size {self.name}: changes, rows (>= 16), txn_changes must be > 0")
        if not 0 <= self.update_ratio + self.insert_ratio <= 1:
            raise ValueError(f"size {self.name}: update + insert ratio must be within [0, 1]")
        if not 0 < self.occupancy < 1:
            raise ValueError(f"size {self.name}: occupancy must be within (0, 1)")

    def scaled(self, factor: int) -> WorkloadSize:
        """The same keys with ``factor`` times the changes (events vs distinct keys)."""
        return replace(self, name=f"{self.name}x{factor}", changes=self.changes * factor)


SIZES: Final = {
    "tiny": WorkloadSize("tiny", changes=2_000, rows=400),
    "small": WorkloadSize("small", changes=100_000, rows=20_000),
    "full": WorkloadSize("full", changes=1_000_000, rows=200_000),
    "huge": WorkloadSize("huge", changes=10_000_000, rows=2_000_000),
}
"""``tiny`` for tests, ``small`` (default) for a quick run, ``full`` = the issue's 1M/200k,
``huge`` = 10 M changes over 2 M rows (issue 15's peak-RSS goal; run it with
``--hot-factor 0``: its ``hot`` workload would be 100 M changes)."""


@dataclass(frozen=True, slots=True)
class BenchConfig:
    """One harness run.

    ``mysql_url`` (env ``TIUNDO_MYSQL``) names the server; the harness creates and drops its
    own databases ``<db_prefix>_t`` (rows at T), ``<db_prefix>_e`` (torn rows at E, the reset
    source) and ``<db_prefix>`` (where contenders work). ``hot_factor`` adds the "events vs
    distinct keys" workload (0 = off), run ``hot_repeats`` times. ``only``/``skip`` select
    ``contender@workload`` labels by prefix.
    """

    size: WorkloadSize
    mysql_url: str = "mysql://tiundo:tiundo@127.0.0.1:3306/tiundo_test"
    db_prefix: str = "tiundo_rto"
    repeats: int = 3
    seed: int = 7
    hot_factor: int = 10
    hot_repeats: int = 1
    workdir: str = "bench/results/work"
    results: str = "bench/results"
    chart: str = "docs/rto.png"
    only: tuple[str, ...] = ()
    skip: tuple[str, ...] = ()
    timeout_s: float = 3600.0

    def validate(self) -> None:
        """Raise ValueError on impossible settings."""
        self.size.validate()
        if self.repeats < 1 or self.hot_repeats < 1:
            raise ValueError("repeats and hot_repeats must be >= 1")
        if self.hot_factor < 0 or self.hot_factor == 1:
            raise ValueError("hot_factor is 0 (off) or >= 2")
        if not self.db_prefix.replace("_", "").isalnum():
            raise ValueError(f"db_prefix {self.db_prefix!r}: letters, digits, _ only")
