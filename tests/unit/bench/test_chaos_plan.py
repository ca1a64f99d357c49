"""A chaos run's plan is a pure function of its seed, and every plan is one the runner can do."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.chaos.plan import (
    ALL_TABLES,
    FENCE_TABLES,
    IMPLEMENTED,
    KAFKA_OUTAGES_S,
    LOCK_TABLE,
    MARIADB_OUTAGES_S,
    ORPHAN_LOCKS,
    PHASES,
    ROWID_TABLES,
    Kind,
    draw_plan,
    parse_faults,
)

seeds = st.integers(min_value=0, max_value=2**40)
kind_sets = st.lists(st.sampled_from(IMPLEMENTED), min_size=1, unique=True)


@given(seeds, st.sampled_from(["tiny", "small"]), kind_sets)
def test_the_same_seed_gives_the_same_plan(seed: int, size: str, kinds: list[Kind]) -> None:
    assert draw_plan(seed, size, kinds) == draw_plan(seed, size, kinds)


def test_different_seeds_give_different_plans() -> None:
    plans = {draw_plan(s) for s in range(50)}
    assert len(plans) == 50


@given(seeds, kind_sets)
def test_a_plan_is_one_the_runner_can_do(seed: int, kinds: list[Kind]) -> None:
    p = draw_plan(seed, "tiny", kinds)
    assert 1 <= len(p.faults) <= 3
    assert {f.kind for f in p.faults} <= set(kinds)
    assert sum(f.kind is Kind.FOREIGN for f in p.faults) <= 1
    order = [(PHASES.index(f.phase), f.delay_s) for f in p.faults]
    assert order == sorted(order)  # struck in plan order
    assert 1 <= p.workers <= 3 and p.partitions >= 1
    # the tables the faults need are selected; the left-out ones are the untouched check
    for t in (*FENCE_TABLES, *ROWID_TABLES, LOCK_TABLE):
        assert t in p.selected
    assert set(p.selected) | set(p.unselected) == set(ALL_TABLES)
    assert len(p.unselected) <= 2
    if p.foreign:
        assert p.batch_rows == 1 and p.txn_statements == 1  # a long apply, the fence open


def test_worker_kills_cover_every_phase_the_issue_names() -> None:
    phases = {f.phase for s in range(200) for f in draw_plan(s, kinds=[Kind.WORKER_KILL]).faults}
    assert phases == {"compaction", "end", "apply", "barrier"}


def test_parse_faults() -> None:
    assert parse_faults("") == IMPLEMENTED
    assert parse_faults("worker-kill, run-term,worker-kill") == (Kind.WORKER_KILL, Kind.RUN_TERM)
    with pytest.raises(ValueError, match="unknown fault 'nope'"):
        parse_faults("nope")
    with pytest.raises(ValueError, match="unknown fault 'broker-restart'"):
        parse_faults("broker-restart")
    every = parse_faults("pd-leader,commit-ack-lost,kafka-restart,mariadb-restart")
    assert every == (Kind.PD_LEADER, Kind.COMMIT_ACK_LOST, Kind.KAFKA_RESTART,
                     Kind.MARIADB_RESTART)  # fmt: skip
    assert set(IMPLEMENTED) == set(Kind)


@given(st.integers(min_value=0, max_value=2**30), kind_sets)
def test_every_kind_leads_one_run_of_each_block(block: int, kinds: list[Kind]) -> None:
    n = len(kinds)
    firsts = [draw_plan(s, "tiny", kinds).faults for s in range(block * n, block * n + n)]
    drawn = sorted(k for fs in firsts for k in {f.kind for f in fs})
    # each kind is the first drawn of exactly one run of the block (plans sort faults by
    # phase, so count kinds per run instead): every kind appears in the block
    assert set(drawn) == set(kinds)


def test_the_long_soak_draws_every_kind_at_least_ten_times() -> None:
    """``--runs 100 --seed 2000`` (README): every kind drawn >= 12 times (a margin for a
    fault the job ends before)."""
    counts = {k: 0 for k in Kind}
    for s in range(2000, 2100):
        for f in draw_plan(s, "tiny").faults:
            counts[f.kind] += 1
    assert min(counts.values()) >= 12, counts


@given(seeds)
def test_the_new_kinds_args_are_ones_the_runner_reads(seed: int) -> None:
    kinds = [Kind.PD_LEADER, Kind.KAFKA_RESTART, Kind.MARIADB_RESTART, Kind.COMMIT_ACK_LOST]
    p = draw_plan(seed, "tiny", kinds)
    for f in p.faults:
        assert p.draws(f.kind)
        if f.kind is Kind.PD_LEADER:
            assert f.arg == "move" or float(f.arg.removeprefix("stop/")) >= 0
        elif f.kind is Kind.KAFKA_RESTART:
            assert int(f.arg) in KAFKA_OUTAGES_S
        elif f.kind is Kind.MARIADB_RESTART:
            how, secs = f.arg.split("/")
            assert how in ("term", "kill") and int(secs) in MARIADB_OUTAGES_S
        else:
            # armed before any worker runs: an undo COMMIT always follows
            assert f.phase in ("start", "ingest") and f.arg == ""
    assert not p.draws(Kind.WORKER_KILL)


def test_a_bad_size_is_named() -> None:
    with pytest.raises(ValueError, match="--size 'huge'"):
        draw_plan(1, "huge")


def test_orphan_lock_draws_every_case_async_commit_included() -> None:
    """``orphan-lock`` keeps its name and draws the 2PC and the async-commit cases."""
    args = [
        f.arg
        for s in range(400)
        for f in draw_plan(s, "tiny", [Kind.ORPHAN_LOCK]).faults
        if f.kind is Kind.ORPHAN_LOCK
    ]
    assert set(args) == set(ORPHAN_LOCKS)
    assert {"async-commit", "async-rollback"} <= set(ORPHAN_LOCKS)
    assert Kind.ORPHAN_LOCK.value == "orphan-lock"
