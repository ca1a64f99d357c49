"""The soak's output: the run line, the table by kind, the summary, the replay command."""

from __future__ import annotations

from bench.chaos.oracle import Outcome
from bench.chaos.plan import IMPLEMENTED, Fault, Kind, draw_plan
from bench.chaos.report import (
    Injected,
    RunResult,
    by_kind,
    never_struck,
    replay_command,
    run_line,
    summary,
)


def _result(seed: int, outcome: Outcome, kinds: tuple[Kind, ...] = IMPLEMENTED) -> RunResult:
    plan = draw_plan(seed, "tiny", kinds)
    kill = Fault(Kind.WORKER_KILL, "apply", 0.5)
    term = Fault(Kind.RUN_TERM, "ingest", 0.2)
    injected = (Injected(kill, 4.25, "barrier", "worker0"), Injected(term, None, "", "ended"))
    return RunResult(plan, injected, outcome, 0 if outcome is Outcome.OK else 1, 12.34, "", kinds)


def test_run_line_names_seed_faults_times_outcome_and_rto() -> None:
    line = run_line(_result(7, Outcome.WRONG))
    assert line.startswith("seed=7 ")
    assert "worker-kill@apply+0.5s(t=4.2s in barrier)" in line
    assert "run-term@ingest+0.2s(missed: ended)" in line
    assert "-> wrong exit=1 RTO=12.3s" in line


def test_summary_counts_struck_faults_and_each_bad_verdict() -> None:
    results = [
        _result(1, Outcome.OK),
        _result(2, Outcome.WRONG),
        _result(3, Outcome.FALSE_SUCCESS),
        _result(4, Outcome.HUNG),
        _result(5, Outcome.HUNG),
    ]
    assert summary(results) == "chaos: 5 runs, 5 faults, 1 wrong, 1 false successes, 2 hung"


def test_by_kind_counts_struck_and_missed_apart() -> None:
    table = by_kind([_result(1, Outcome.OK), _result(2, Outcome.HUNG)])
    assert table[0].split() == ["fault", "kind", "struck", "missed", "ok", "wrong",
                                "false-success", "hung"]  # fmt: skip
    rows = {line.split()[0]: line.split()[1:] for line in table[1:]}
    assert rows["worker-kill"] == ["2", "0", "1", "0", "0", "1"]
    assert rows["run-term"] == ["0", "2", "0", "0", "0", "0"]


def test_replay_command_repeats_seed_size_and_kinds() -> None:
    assert replay_command(_result(42, Outcome.HUNG), IMPLEMENTED) == (
        "python -m bench.chaos --runs 1 --seed 42 --size tiny"
    )
    only = (Kind.WORKER_KILL, Kind.FOREIGN)
    assert replay_command(_result(42, Outcome.HUNG, only), IMPLEMENTED) == (
        "python -m bench.chaos --runs 1 --seed 42 --size tiny --faults worker-kill,foreign-write"
    )


def test_a_kind_that_never_strikes_is_named() -> None:
    # run-term missed in every run (the helper's second fault), worker-kill struck each time
    assert never_struck([_result(1, Outcome.OK), _result(2, Outcome.OK)]) == []
    three = [_result(s, Outcome.OK) for s in (1, 2, 3)]
    assert never_struck(three) == ["run-term"]
