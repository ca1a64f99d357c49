"""Which syncpoint is T: one changefeed's newest row, never a guess across changefeeds.

TiCDC's syncpoint table (``syncpoint_v1``, DDL in ``simulator/syncpoint.py``, after tiflow
``cdc/syncpointstore/mysql_syncpoint_store.go``) holds rows of every changefeed, of every TiCDC
cluster, that writes syncpoints into the downstream: columns ``ticdc_cluster_id``,
``changefeed``, ``primary_ts``, ``secondary_ts``. A row says that *that changefeed's* tables
were consistent with the upstream at ``secondary_ts``; another changefeed's tables need not be
(each changefeed replicates, and takes syncpoints, on its own schedule). So T is the newest row
of one (cluster, changefeed); when the table holds several and the operator named none (or a
name two clusters share), :func:`choose_syncpoint` refuses instead of picking the newest row of
any changefeed, which would rewind the other changefeeds' tables to a point that is not theirs
(a false success).

Pure: no I/O; :mod:`ingest.window` reads the rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from core.errors import UnsafeToUndoError

__all__ = ["Syncpoint", "advanced", "choose_syncpoint", "newest_per_changefeed"]


@dataclass(frozen=True, slots=True)
class Syncpoint:
    """A ``syncpoint_v1`` row: upstream ``primary_ts`` matches downstream ``secondary_ts``."""

    changefeed: str
    primary_ts: int
    secondary_ts: int
    ticdc_cluster_id: str = ""

    @property
    def key(self) -> tuple[str, str]:
        """What tells changefeeds apart: (TiCDC cluster id, changefeed)."""
        return (self.ticdc_cluster_id, self.changefeed)

    @property
    def feed(self) -> str:
        """``cluster/changefeed`` (just the changefeed when the row has no cluster id)."""
        if not self.ticdc_cluster_id:
            return self.changefeed
        return f"{self.ticdc_cluster_id}/{self.changefeed}"


def newest_per_changefeed(rows: Iterable[Syncpoint]) -> list[Syncpoint]:
    """Newest row (by ``secondary_ts``, then ``primary_ts``) of each changefeed; newest first."""
    newest: dict[tuple[str, str], Syncpoint] = {}
    for row in rows:
        old = newest.get(row.key)
        if old is None or (row.secondary_ts, row.primary_ts) > (old.secondary_ts, old.primary_ts):
            newest[row.key] = row
    return sorted(newest.values(), key=lambda r: (-r.secondary_ts, r.key))


def advanced(before: Iterable[Syncpoint], after: Iterable[Syncpoint]) -> list[Syncpoint]:
    """The changefeeds of ``after`` with a newer syncpoint than in ``before`` (or none there).

    A changefeed that wrote a syncpoint between the two reads is alive: TiCDC writes one every
    ``sync-point-interval`` while it replicates.
    """
    seen = {f.key: f.secondary_ts for f in newest_per_changefeed(before)}
    return [f for f in newest_per_changefeed(after) if f.secondary_ts > seen.get(f.key, -1)]


def _listing(feeds: Iterable[Syncpoint]) -> str:
    return ", ".join(f"{f.feed} (newest secondary_ts {f.secondary_ts})" for f in feeds)


def choose_syncpoint(
    rows: Iterable[Syncpoint],
    *,
    changefeed: str | None = None,
    ticdc_cluster_id: str | None = None,
    where: str = "syncpoint_v1",
) -> Syncpoint:
    """The newest syncpoint of the one changefeed ``rows`` and the options leave.

    ``where`` names the table in messages. Raises :class:`UnsafeToUndoError` (one line) when
    no row matches, or when the rows left belong to more than one (cluster, changefeed): the
    message names each with its newest ``secondary_ts`` and the flag that tells them apart.
    """
    feeds = newest_per_changefeed(rows)
    if not feeds:
        raise UnsafeToUndoError(f"{where} has no row; give --to-ts")
    left = [
        f
        for f in feeds
        if (changefeed is None or f.changefeed == changefeed)
        and (ticdc_cluster_id is None or f.ticdc_cluster_id == ticdc_cluster_id)
    ]
    if not left:
        asked = " ".join(
            f"{flag} {value!r}"
            for flag, value in (("--changefeed", changefeed), ("--ticdc-cluster", ticdc_cluster_id))
            if value is not None
        )
        raise UnsafeToUndoError(
            f"{where} has no row for {asked}; it holds {_listing(feeds)}; name one of those "
            "with --changefeed (and --ticdc-cluster), or give --to-ts"
        )
    if len(left) == 1:
        return left[0]
    names = [f.changefeed for f in left]
    shared = (
        " and --ticdc-cluster ID (TiCDC clusters share a changefeed name)"
        if len(set(names)) < len(names)
        else ""
    )
    raise UnsafeToUndoError(
        f"{where} holds syncpoints of {len(left)} changefeeds: {_listing(left)}; each "
        "changefeed's tables are consistent only at its own syncpoints, so tiundo will not "
        f"pick one: pass --changefeed NAME{shared} of the changefeed that replicated the "
        "selected tables, or --to-ts"
    )
