"""The verdict of one run: what the job said against what the tables hold (pure).

The truth is each table's rows at T (copied in MariaDB when the syncpoint was taken, where the
workload checked MariaDB, its model and the MVCC store at T agree) and each non-selected
table's rows before the job. Rows are compared one by one as multisets (:func:`row_diff`), not
by checksum. The classes:

- ``ok``: the job said what is true — exit 0 and every table at T, or exit 5 after a foreign
  write with the other tables at T (a write in the fence's last instant, ``foreign_late``,
  may give either);
- ``false-success``: exit 0 while some table is not at T, a non-selected table changed, or
  another writer wrote (the worst outcome, counted apart);
- ``wrong``: anything else that is not ``ok`` (a job that failed under a fault it must ride
  out, exit 5 with no foreign writer, a non-zero exit with tables not at T is honest but still
  not a recovery);
- ``hung``: the run passed its deadline (the runner killed it).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = ["Observed", "Outcome", "TableDiff", "classify", "foreign_in_time", "row_diff"]

EXIT_OK = 0
EXIT_FOREIGN = 5
#: a foreign write must be reported when it committed this long before the job's last
#: partition report (the fence closes then; a write in the last instant may still be in flight)
FENCE_MARGIN_MS = 1000


class Outcome(StrEnum):
    """A run's verdict."""

    OK = "ok"
    WRONG = "wrong"
    FALSE_SUCCESS = "false-success"
    HUNG = "hung"


@dataclass(frozen=True, slots=True)
class TableDiff:
    """Rows of one table missing from it (``missing``) or in it but not in the truth."""

    table: str
    missing: int
    extra: int

    def __str__(self) -> str:
        return f"{self.table} (-{self.missing} +{self.extra})"


def row_diff(table: str, have: Iterable[Sequence[Any]], want: Iterable[Sequence[Any]]) -> TableDiff:
    """Compare two tables' rows as multisets (duplicate rows of a `_tidb_rowid` table count)."""
    h = Counter(tuple(r) for r in have)
    w = Counter(tuple(r) for r in want)
    return TableDiff(table, sum((w - h).values()), sum((h - w).values()))


@dataclass(frozen=True, slots=True)
class Observed:
    """What a run ended with.

    ``exit_code`` is the last ``tiundo run`` (or ``--resume``)'s; ``not_at_t`` the selected
    tables whose rows differ from T (tables the foreign writer wrote are left out by the
    runner: their rows are the other writer's); ``touched`` the non-selected tables that
    changed; ``foreign`` whether another writer wrote while the fence was surely open (exit 5
    owed), ``foreign_late`` whether one wrote only around or after its close (0 or 5 true).
    """

    exit_code: int | None
    not_at_t: Sequence[TableDiff] = field(default_factory=tuple)
    touched: Sequence[TableDiff] = field(default_factory=tuple)
    foreign: bool = False
    hung: bool = False
    foreign_late: bool = False


def classify(obs: Observed) -> Outcome:
    """The verdict (see the module docstring)."""
    if obs.hung or obs.exit_code is None:
        return Outcome.HUNG
    true_state = not obs.not_at_t and not obs.touched
    if obs.exit_code == EXIT_OK:
        return Outcome.OK if true_state and not obs.foreign else Outcome.FALSE_SUCCESS
    if obs.exit_code == EXIT_FOREIGN and (obs.foreign or obs.foreign_late) and true_state:
        return Outcome.OK
    return Outcome.WRONG


def foreign_in_time(
    commit_ts: Sequence[int], finished_unix_ms: int, margin_ms: int = FENCE_MARGIN_MS
) -> bool:
    """Whether some foreign write committed while the fence was surely open.

    The fence watches until the last partition reports (``finished_unix_ms`` of the final
    status; 0 = the job never finished, so every write was in time); a TSO's physical part is
    its unix milliseconds (``ts >> 18``). Writes after that are outside what tiundo promises to
    see (README "Fence").
    """
    if not commit_ts:
        return False
    if finished_unix_ms <= 0:
        return True
    return any((ts >> 18) < finished_unix_ms - margin_ms for ts in commit_ts)
