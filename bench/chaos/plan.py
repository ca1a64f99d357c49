"""What one chaos run does, drawn from its seed alone (pure: same seed, same plan).

A run's plan fixes the workload (rows, transactions, torn transactions, hot keys), which tables
the job selects, the job's shape (partitions, workers, transaction cut) and 1–3 faults, each
with the phase of the job it waits for and a delay after it. The runner only executes it, so
``python -m bench.chaos --runs 1 --seed S`` replays run S exactly (same draws; the timing of
processes on a busy machine is the only thing a replay cannot fix).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "ALL_TABLES",
    "FENCE_TABLES",
    "IMPLEMENTED",
    "KAFKA_OUTAGES_S",
    "LOCK_TABLE",
    "MARIADB_OUTAGES_S",
    "ORPHAN_LOCKS",
    "PHASES",
    "ROWID_TABLES",
    "SIZES",
    "Fault",
    "Kind",
    "RunPlan",
    "Size",
    "draw_plan",
    "parse_faults",
]


class Kind(StrEnum):
    """A fault kind (the ``--faults`` names)."""

    WORKER_KILL = "worker-kill"  # kill -9 of a Faust worker; `tiundo run` starts it again
    RUN_KILL = "run-kill"  # kill -9 of `tiundo run` and its workers, then `--resume`
    RUN_TERM = "run-term"  # SIGTERM of `tiundo run` (exit 130), then `--resume`
    CONN_KILL = "conn-kill"  # KILL of the sink's downstream connections from another session
    FOREIGN = "foreign-write"  # another writer during the apply: the run must exit 5
    REGION_ERROR = "region-error"  # one TiKV region error on live subscriptions
    SPLIT_SCAN = "split-scan"  # a region splits while its incremental scan is sent
    LEADER_MOVE = "leader-move"  # a region's leader moves to another store
    STORE_RESTART = "store-restart"  # a TiKV store stops (streams break) and starts again
    DUPLICATE = "duplicate"  # every EventFeed message sent twice for a while
    DELAY = "delay"  # resolved-ts ticks and one store's messages come late
    HELD_LOCK = "held-lock"  # a lock below E held for seconds, then rolled back
    ORPHAN_LOCK = "orphan-lock"  # a crashed writer's expired lock (2PC or async commit): resolved
    PD_LEADER = "pd-leader"  # the PD leader moves, or stops (a follower is elected later)
    COMMIT_ACK_LOST = "commit-ack-lost"  # a downstream COMMIT lands, its OK never comes back
    KAFKA_RESTART = "kafka-restart"  # the run's own broker stops and starts again
    MARIADB_RESTART = "mariadb-restart"  # the run's own mariadbd stops and starts again


#: kinds the runner can inject (every kind)
IMPLEMENTED: tuple[Kind, ...] = tuple(Kind)

#: the phases a fault can wait for, in the order a job passes them
PHASES = ("start", "ingest", "compaction", "end", "apply", "barrier")

#: where each kind may strike (a phase drawn from these)
_WHEN: dict[Kind, tuple[str, ...]] = {
    Kind.WORKER_KILL: ("compaction", "end", "apply", "barrier"),
    Kind.RUN_KILL: ("ingest", "apply"),
    Kind.RUN_TERM: ("ingest", "apply"),
    Kind.CONN_KILL: ("apply",),
    Kind.FOREIGN: ("ingest", "end", "apply"),  # while the job runs: the fence is open
    Kind.REGION_ERROR: ("ingest",),
    Kind.SPLIT_SCAN: ("start",),  # armed before the scan; strikes during it
    Kind.LEADER_MOVE: ("ingest",),
    Kind.STORE_RESTART: ("ingest",),
    Kind.DUPLICATE: ("start", "ingest"),
    Kind.DELAY: ("start", "ingest"),
    Kind.HELD_LOCK: ("start",),  # below E only if taken before the job's E
    Kind.ORPHAN_LOCK: ("start",),
    Kind.PD_LEADER: ("start", "ingest"),  # the ingest asks PD for regions, stores and TSOs
    # armed ahead: an undo COMMIT loses its ack (armed during the apply it missed 6 of 13 times
    # in the 100-run soak: a tiny job's apply is over in a second; armed at the compaction it can
    # still come after a 1-worker apply). At the start or the ingest no worker runs yet, so the
    # apply follows; each arm claims its own COMMIT (bench.chaos.ackproxy)
    Kind.COMMIT_ACK_LOST: ("start", "ingest"),
    Kind.KAFKA_RESTART: ("ingest", "compaction", "apply"),
    Kind.MARIADB_RESTART: ("ingest", "apply"),
}

#: outages a restart draws from, seconds (Kafka: "seconds to a minute")
KAFKA_OUTAGES_S = (2, 5, 15, 30, 60)
MARIADB_OUTAGES_S = (1, 3, 8, 20)
#: what a crashed writer left (``orphan-lock``'s arg): a 2PC transaction whose primary was
#: rolled back or committed, or an async-commit one (TiDB's default since 5.0) with every key
#: prewritten (must commit) or one secondary missing (must roll back)
ORPHAN_LOCKS = ("rollback", "commit", "async-commit", "async-rollback")
#: how many faults the runs of a block get, and how often (1: 15 %, 2: 35 %, 3: 50 %)
_N_FAULTS = ((1, 15), (2, 35), (3, 50))

#: the demo schema (simulator.tabledef.demo_tables): every table kind
ALL_TABLES = (
    "all_types",
    "ukeys",
    "clustered_str",
    "clustered_multi",
    "rowid_uk",
    "rowid_plain",
    "parted_range",
    "parted_hash",
    "unsigned_pk",
)
#: written by the foreign writer (scripts/demo.py FENCE_TABLES): always selected
FENCE_TABLES = ("all_types", "unsigned_pk")
#: `_tidb_rowid` tables (the barrier): always selected
ROWID_TABLES = ("rowid_uk", "rowid_plain")
#: the table the held and orphan locks sit on: always selected
LOCK_TABLE = "ukeys"
#: tables a run may leave out of the job (then they must stay untouched)
_OPTIONAL = ("clustered_str", "clustered_multi", "parted_range", "parted_hash")


@dataclass(frozen=True, slots=True)
class Size:
    """Workload bounds of a ``--size``; ``deadline_s`` is a run's hang limit."""

    rows: tuple[int, int]
    txns: tuple[int, int]
    tears: tuple[int, int]
    deadline_s: float


SIZES = {
    "tiny": Size(rows=(20, 40), txns=(20, 60), tears=(1, 4), deadline_s=240.0),
    "small": Size(rows=(100, 300), txns=(150, 400), tears=(3, 8), deadline_s=420.0),
}


@dataclass(frozen=True, slots=True)
class Fault:
    """One fault: ``kind`` strikes ``delay_s`` after the job reaches ``phase``.

    ``arg`` refines it (a region error's kind, a store or outage length), ``pick`` chooses among
    equal targets (which worker, which region), both drawn from the seed.
    """

    kind: Kind
    phase: str
    delay_s: float
    arg: str = ""
    pick: int = 0

    def label(self) -> str:
        """``kind@phase+delay`` (``:arg`` when set)."""
        arg = f":{self.arg}" if self.arg else ""
        return f"{self.kind}{arg}@{self.phase}+{self.delay_s:.1f}s"


@dataclass(frozen=True, slots=True)
class RunPlan:
    """Everything a run does (see the module docstring)."""

    seed: int
    size: str
    rows: int
    txns: int
    tears: int
    hot_keys: int
    hot_ratio: float
    selected: tuple[str, ...]
    partitions: int
    workers: int
    batch_rows: int
    txn_statements: int
    faults: tuple[Fault, ...]
    deadline_s: float

    @property
    def unselected(self) -> tuple[str, ...]:
        """Tables the job must leave untouched."""
        return tuple(t for t in ALL_TABLES if t not in self.selected)

    @property
    def foreign(self) -> bool:
        """Whether another writer strikes (the run must then exit 5)."""
        return any(f.kind is Kind.FOREIGN for f in self.faults)

    def draws(self, kind: Kind) -> bool:
        """Whether ``kind`` is among the faults (a restart then needs the run's own service)."""
        return any(f.kind is kind for f in self.faults)


_REGION_ERRORS = ("not_leader", "region_not_found", "epoch_not_match", "server_is_busy")


def _fault(rng: random.Random, kind: Kind) -> Fault:
    phase = rng.choice(_WHEN[kind])
    delay = round(rng.uniform(0.0, 1.5), 1)
    arg = ""
    if kind is Kind.REGION_ERROR:
        arg = rng.choice(_REGION_ERRORS)
    elif kind in (Kind.STORE_RESTART, Kind.DUPLICATE, Kind.DELAY, Kind.HELD_LOCK):
        arg = str(rng.choice((1, 2, 4, 8)))  # seconds the fault lasts
    elif kind is Kind.ORPHAN_LOCK:
        arg = rng.choice(ORPHAN_LOCKS)
    elif kind is Kind.PD_LEADER:
        # "move": a follower leads at once; "stop/N": the leader dies, a follower is elected
        # N s later (no leader meanwhile), the dead member restarts 10 s after
        arg = rng.choice(("move", "stop/0", "stop/2", "stop/5"))
    elif kind is Kind.KAFKA_RESTART:
        arg = str(rng.choice(KAFKA_OUTAGES_S))  # seconds the broker is down
    elif kind is Kind.MARIADB_RESTART:
        # SIGTERM (a clean shutdown) or SIGKILL (crash recovery), then down N seconds
        arg = f"{rng.choice(('term', 'kill'))}/{rng.choice(MARIADB_OUTAGES_S)}"
    return Fault(kind, phase, delay, arg, rng.randrange(1 << 16))


def _kinds_of_run(seed: int, size: str, kinds: Sequence[Kind]) -> list[Kind]:
    """The kinds of run ``seed``'s faults, balanced over consecutive seeds.

    Seeds come in blocks of ``len(kinds)``; each block draws how many faults its runs get and
    one permutation of ``kinds`` per fault position, and run ``seed`` takes entry
    ``seed % len(kinds)`` of each. So in every block each kind strikes equally often (once per
    position): a soak of N runs draws each kind about N·2.35/len(kinds) times, not a binomial
    count that leaves some kind nearly untried.
    """
    n = len(kinds)
    block = random.Random(f"tiundo-chaos-block/{seed // n}/{size}/{','.join(sorted(kinds))}")
    count = block.choices([c for c, _ in _N_FAULTS], weights=[w for _, w in _N_FAULTS])[0]
    perms = [block.sample(list(kinds), n) for _ in range(count)]
    return [perm[seed % n] for perm in perms]


def draw_plan(seed: int, size: str = "tiny", kinds: Sequence[Kind] = IMPLEMENTED) -> RunPlan:
    """The plan of run ``seed``: a pure function of its arguments."""
    if size not in SIZES:
        raise ValueError(f"--size {size!r}: choose one of {', '.join(sorted(SIZES))}")
    if not kinds:
        raise ValueError("--faults: no fault kind left to draw from")
    sz = SIZES[size]
    rng = random.Random(f"tiundo-chaos/{seed}/{size}/{','.join(sorted(kinds))}")
    drawn: list[Fault] = []
    for kind in _kinds_of_run(seed, size, kinds):
        if kind is Kind.FOREIGN and any(f.kind is Kind.FOREIGN for f in drawn):
            continue  # one foreign writer is enough to demand exit 5
        drawn.append(_fault(rng, kind))
    order = {p: i for i, p in enumerate(PHASES)}
    faults = tuple(sorted(drawn, key=lambda f: (order[f.phase], f.delay_s)))
    left_out = rng.sample(_OPTIONAL, rng.randint(0, 2))
    selected = tuple(t for t in ALL_TABLES if t not in left_out)
    # one statement per transaction: an apply long enough to hit (always under a foreign writer,
    # who must strike while the fence is open)
    long_apply = rng.random() < 0.5 or any(f.kind is Kind.FOREIGN for f in faults)
    return RunPlan(
        seed=seed,
        size=size,
        rows=rng.randint(*sz.rows),
        txns=rng.randint(*sz.txns),
        tears=rng.randint(*sz.tears),
        hot_keys=rng.randint(1, 5),
        hot_ratio=round(rng.uniform(0.1, 0.6), 2),
        selected=selected,
        partitions=rng.choice((1, 2, 3, 4, 8)),
        workers=rng.randint(1, 3),
        batch_rows=1 if long_apply else rng.choice((10, 100)),
        txn_statements=1 if long_apply else rng.choice((2, 8)),
        faults=faults,
        deadline_s=sz.deadline_s,
    )


def parse_faults(text: str) -> tuple[Kind, ...]:
    """``--faults worker-kill,run-term``: the kinds to draw from (empty: every implemented one).

    An unknown name is refused by name.
    """
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        return IMPLEMENTED
    out: list[Kind] = []
    for name in names:
        try:
            kind = Kind(name)
        except ValueError:
            known = ", ".join(k.value for k in IMPLEMENTED)
            raise ValueError(f"--faults: unknown fault {name!r} (known: {known})") from None
        if kind not in out:
            out.append(kind)
    return tuple(out)
