"""Consecutive changes of one key folded into one record that keeps what the undo needs.

Why: the undo keeps two things per key: the earliest change's old value (the row at ``T``)
and the latest change's value (the row at ``E``) (``app/undo/merge.py``). TiKV's incremental
scan sends every version of a key one after another, newest first (its delta scanner walks the
write column family, which is ordered by key and then by descending commit ts; the fake cluster
does the same). A key changed n times in ``(T, E]`` therefore reaches the ingest as n
consecutive changes, and in a disaster almost every change comes from that scan. Folding them
into one :class:`~ingest.model.FoldedChange` removes n - 1 changes' encoding, Kafka bytes and
worker merges, so the cost after the matcher follows distinct keys, not versions (issue 15,
goal 3).

Exact, not approximate: a fold is the worker's merge (``combine``) limited to the case where
that merge has no tie to break. A run only takes changes with distinct commit ts and a
well-formed payload (DELETE, or PUT with a value). A malformed change ends the run and travels
alone, so the worker's dead-letter checks see it as before; a repeated commit ts ends the run
and starts the next one, so the two changes that tie meet only in the worker, where its tie
rule decides (the merge is associative and commutative: any split into runs gives the same
state). Order within a run does not matter: the ends are the minimum and maximum commit ts.
Pure.
"""

from __future__ import annotations

from collections.abc import Sequence

from ingest.model import Change, FoldedChange, OpType, RowChange

__all__ = ["fold_versions", "versions_of"]

_PUT = OpType.PUT
_DELETE = OpType.DELETE


def _foldable(change: RowChange) -> bool:
    op = change.op_type
    return op == _DELETE or (op == _PUT and bool(change.value))


def versions_of(change: Change) -> int:
    """How many changes ``change`` stands for (1 unless folded)."""
    return change.versions if type(change) is FoldedChange else 1


def fold_versions(changes: Sequence[RowChange]) -> list[Change]:
    """``changes`` in order, each run of consecutive changes of one key folded into one."""
    out: list[Change] = []
    append = out.append
    n = len(changes)
    i = 0
    while i < n:
        change = changes[i]
        key = change.key
        j = i + 1
        if j == n or changes[j].key != key or not _foldable(change):
            append(change)
            i = j
            continue
        first = last = change
        seen = {change.commit_ts}
        while j < n:
            nxt = changes[j]
            ts = nxt.commit_ts
            if nxt.key != key or ts in seen or not _foldable(nxt):
                break
            seen.add(ts)
            if ts < first.commit_ts:
                first = nxt
            elif ts > last.commit_ts:
                last = nxt
            j += 1
        if j - i == 1:
            append(change)
        else:
            append(
                FoldedChange(
                    first.region_id,
                    first.table_id,
                    key,
                    first.start_ts,
                    first.commit_ts,
                    first.op_type,
                    last.value,
                    first.old_value,
                    first.txn_source,
                    last.start_ts,
                    last.commit_ts,
                    last.op_type,
                    j - i,
                )
            )
        i = j
    return out
