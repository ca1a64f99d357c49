"""The contenders: what each one is given (:class:`BenchEnv`), returns, and how they are found.

A contender is an ``async`` function ``fn(env, params) -> timing``. The harness calls it in a
fresh child process (so its peak RSS is its own) after resetting ``env.db`` to the torn state
at E, starts the clock only inside the function (the contender decides what it times), and
afterwards checks every table of ``env.db`` against its checksum at T. Contract:

- ``env.db`` must end equal to the state at T; the contender may take E (``env.e_ts``) as its
  start and must not touch ``env.t_db``;
- the returned mapping holds ``seconds`` (the RTO: E taken → downstream consistent) and any
  breakdown (``generate_s``, ``apply_s``, ``statements``…); ``rss_kib`` maps the names of
  processes the contender started itself (a Faust worker, the ingest worker, the mysql client)
  to their peak RSS in KiB — :class:`bench.rto.procs.RssWatcher` measures them. The harness
  adds the contender process itself (``self``) and MariaDB's growth (``mariadbd_growth``);
- raising fails the run (reported as FAILED, never timed).

Contenders are listed by the modules in :data:`CONTENDER_MODULES`, each exposing a tuple
``CONTENDERS``. Adding tiundo end to end is one async function in a new module plus one
:class:`Contender` per (workers, partitions) in its ``CONTENDERS`` and the module's name here.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Coroutine, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from app.undo.model import Handle
from bench.rto import store
from bench.rto.history import NetRow, Row, RowChange, Txn
from core.urls import MySQLTarget
from simulator.tabledef import TableDef

__all__ = [
    "CONTENDER_MODULES",
    "BenchEnv",
    "Contender",
    "ContenderFn",
    "Timing",
    "all_contenders",
]

CONTENDER_MODULES: Final = ("bench.rto.baselines", "bench.rto.tiundo_e2e")
"""Modules whose ``CONTENDERS`` take part, in run order."""


@dataclass(frozen=True, slots=True)
class BenchEnv:
    """Everything a contender needs about one workload; picklable (crosses to the child).

    ``tables`` are defined in ``db``. ``t_ts``/``e_ts``: T and the last commit ts of the
    history (commit ts of transaction ``i`` is ``t_ts + 2 * (i + 1)``, its start_ts one less).
    ``scratch`` is a directory the contender may write to.
    """

    mysql: MySQLTarget
    db: str
    t_db: str
    workload: str
    workdir: str
    scratch: str
    tables: tuple[TableDef, ...]
    t_ts: int
    e_ts: int
    changes: int
    keys: int

    def iter_txns(self) -> Iterator[Txn]:
        """The transactions of ``(T, E]``, oldest first (what TiKV's change feed replays)."""
        return store.iter_txns(self.workdir)

    def iter_changes_newest_first(self) -> Iterator[RowChange]:
        """Every change, newest first (what a flashback tool reads from a binlog's end)."""
        return store.iter_changes_newest_first(self.workdir)

    def rows_at_t(self) -> tuple[dict[Handle, Row], ...]:
        """Rows at T per table, in ``tables`` order (to seed a fake cluster before T)."""
        return store.load_at_t(self.workdir)

    def net_rows(self) -> tuple[list[NetRow], ...]:
        """Every changed key with its images at T and E, per table."""
        return store.load_net(self.workdir)


Timing = Mapping[str, Any]
ContenderFn = Callable[[BenchEnv, Mapping[str, int]], Coroutine[Any, Any, Timing]]


@dataclass(frozen=True, slots=True)
class Contender:
    """One named way to undo the window.

    ``series`` groups variants in the chart (``tiundo``, ``raw_apply``…); ``params`` are passed
    to ``fn`` and plotted (``partitions`` on the x axis, one line per ``workers``);
    ``workloads`` names the workloads it runs on (``base``, ``hot``).
    """

    name: str
    series: str
    fn: ContenderFn
    params: Mapping[str, int] = field(default_factory=dict)
    workloads: tuple[str, ...] = ("base", "hot")
    max_changes: int | None = None
    """Skip workloads with more changes (a contender that is linear in events and slow)."""


def all_contenders(modules: tuple[str, ...] = CONTENDER_MODULES) -> list[Contender]:
    """Every module's ``CONTENDERS`` in order; names must be unique."""
    out: list[Contender] = []
    for name in modules:
        mod = importlib.import_module(name)
        out += list(mod.CONTENDERS)
    seen: set[str] = set()
    for c in out:
        if c.name in seen or "@" in c.name:
            raise ValueError(f"contender name {c.name!r} is repeated or contains '@'")
        seen.add(c.name)
    return out
