"""What to do about a region's ``cdcpb.Error``, and how long to wait before retrying.

Pure classification after TiCDC (tiflow ``cdc/kv/shared_client.go`` ``doHandleError``;
facts/eventfeed.md §3.10). The shell reduces the ``cdcpb.Error`` to a :class:`RegionError`
(the name of the one field TiKV set, plus the leader's store id for ``not_leader``) and acts on
the :class:`Decision`:

=======================  =========================  ============================================
error field              action                     shell does
=======================  =========================  ============================================
``not_leader``           UPDATE_LEADER_AND_RETRY    same region and span, to ``store_id``
                                                    (the new leader; if TiKV did not name one,
                                                    the next peer, as client-go rotates)
``epoch_not_match``      REGISTER_CURRENT           register the newer regions TiKV named in
  (with newer                                       ``current_regions`` on the store that
  ``current_regions``)                              answered; ``ScanRegions`` for any part
                                                    of the span they leave uncovered
``epoch_not_match``      RESPLIT_VIA_PD             ``ScanRegions`` over the failed span and
``region_not_found``     RESPLIT_VIA_PD             register each region found
``server_is_busy``       RETRY_SAME                 same region (after ``backoff_ms`` if given)
``congested``            RETRY_SAME                 same region
empty / unknown field    RETRY_SAME                 same region
``duplicate_request``    FATAL                      fail the job with :class:`RegionFatalError`
``compatibility``        FATAL                      idem (TiKV too old / wrong API)
``cluster_id_mismatch``  FATAL                      idem (wrong PD for this TiKV)
=======================  =========================  ============================================

``current_regions`` are used as client-go's region cache does (``OnRegionEpochNotMatch``):
only regions whose epoch is not behind the failed one's (a lagging TiKV peer's older view is
ignored), with the answering store as their first guess of leader — after a split both halves'
leaders are on the store that split them. A real PD learns of a split from the next region
heartbeat, so asking it right away may return the old region, which TiKV refuses again.

Not errors of a region but handled by the same shell, as TiCDC does: a region with no known
leader/store → RESPLIT_VIA_PD (:func:`no_leader`); a broken store stream → every region on it is
retried (RETRY_SAME) once the stream is reconnected, waiting :meth:`Backoff.store_reconnect`
delays between attempts. Every re-registration uses the range's last resolved ts as
``checkpoint_ts`` (:meth:`ingest.frontier.JobFrontier.checkpoint_ts`), so nothing is lost.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import Enum

from core.errors import TiundoError
from ingest.model import RegionInfo, Span

__all__ = [
    "Action",
    "Decision",
    "ErrorKind",
    "RegionError",
    "RegionFatalError",
    "classify",
    "cover",
    "no_leader",
]


class ErrorKind(Enum):
    """The field set in a ``cdcpb.Error`` (values are the proto field names)."""

    NOT_LEADER = "not_leader"
    REGION_NOT_FOUND = "region_not_found"
    EPOCH_NOT_MATCH = "epoch_not_match"
    DUPLICATE_REQUEST = "duplicate_request"
    COMPATIBILITY = "compatibility"
    CLUSTER_ID_MISMATCH = "cluster_id_mismatch"
    SERVER_IS_BUSY = "server_is_busy"
    CONGESTED = "congested"
    UNKNOWN = ""

    @classmethod
    def from_field(cls, name: str | None) -> ErrorKind:
        """Kind for a field name (``None``, empty or a field newer than this code → UNKNOWN)."""
        try:
            return cls(name or "")
        except ValueError:
            return cls.UNKNOWN


class Action(Enum):
    """What the shell does with the failed subscription."""

    RETRY_SAME = "retry_same"
    UPDATE_LEADER_AND_RETRY = "update_leader_and_retry"
    REGISTER_CURRENT = "register_current"
    RESPLIT_VIA_PD = "resplit_via_pd"
    FATAL = "fatal"


@dataclass(frozen=True, slots=True)
class RegionError:
    """A ``cdcpb.Error`` reduced to what the decision needs.

    ``leader_store_id`` is ``not_leader.leader.store_id`` (0 when TiKV knows no leader);
    ``backoff_ms`` is ``server_is_busy.backoff_ms``; ``current_regions`` are
    ``epoch_not_match.current_regions`` (leaders unknown); ``detail`` is a printable form of
    the error for messages (e.g. the proto's text format).
    """

    kind: ErrorKind
    region_id: int
    leader_store_id: int = 0
    backoff_ms: int = 0
    detail: str = ""
    current_regions: tuple[RegionInfo, ...] = ()


@dataclass(frozen=True, slots=True)
class Decision:
    """The action, the store to send a retry to (0 = whatever PD/region cache says), a reason.

    ``regions`` (REGISTER_CURRENT only) are TiKV's newer regions, each with ``store_id`` as
    its leader guess.
    """

    action: Action
    region_id: int
    reason: str
    store_id: int = 0
    backoff_ms: int = 0
    regions: tuple[RegionInfo, ...] = ()

    def raise_if_fatal(self) -> None:
        """Raise :class:`RegionFatalError` when the job must stop."""
        if self.action is Action.FATAL:
            raise RegionFatalError(self.region_id, self.reason)


class RegionFatalError(TiundoError):
    """A region error TiCDC fails the changefeed for; the job cannot go on. Not retriable."""

    def __init__(self, region_id: int, reason: str) -> None:
        self.region_id = region_id
        self.reason = reason
        super().__init__(reason)


_FATAL_REASONS = {
    ErrorKind.DUPLICATE_REQUEST: (
        "TiKV rejected a duplicate (request_id, region_id) registration on one stream; "
        "the ingest worker registered the region twice"
    ),
    ErrorKind.COMPATIBILITY: (
        "TiKV refused the subscription as incompatible (kv_api or client version); "
        "TiKV 6.5+ with the TiDB API is required"
    ),
    ErrorKind.CLUSTER_ID_MISMATCH: (
        "TiKV belongs to another cluster than the PD the job asked; check the PD address"
    ),
}


def classify(
    error: RegionError,
    *,
    region: RegionInfo | None = None,
    current_store_id: int = 0,
) -> Decision:
    """Decide what to do about ``error`` (see the module table).

    ``region`` and ``current_store_id`` (the store the failed request went to) are only used
    for a ``not_leader`` that names no leader: the retry then goes to the next peer's store.
    """
    kind = error.kind
    rid = error.region_id
    detail = f": {error.detail}" if error.detail else ""
    if kind is ErrorKind.NOT_LEADER:
        if error.leader_store_id:
            return Decision(
                Action.UPDATE_LEADER_AND_RETRY,
                rid,
                f"region {rid}: leader moved to store {error.leader_store_id}{detail}",
                store_id=error.leader_store_id,
            )
        nxt = _next_peer(region, current_store_id)
        if nxt:
            return Decision(
                Action.UPDATE_LEADER_AND_RETRY,
                rid,
                f"region {rid}: store {current_store_id} is not leader and knows none; "
                f"trying peer on store {nxt}{detail}",
                store_id=nxt,
            )
        return no_leader(rid)
    if kind is ErrorKind.EPOCH_NOT_MATCH and region is not None and current_store_id:
        fresh = _newer_regions(error.current_regions, region, current_store_id)
        if fresh:
            ids = ", ".join(str(r.region_id) for r in fresh)
            return Decision(
                Action.REGISTER_CURRENT,
                rid,
                f"region {rid}: epoch_not_match; registering TiKV's current regions {ids} on "
                f"store {current_store_id}{detail}",
                store_id=current_store_id,
                regions=fresh,
            )
    if kind in (ErrorKind.EPOCH_NOT_MATCH, ErrorKind.REGION_NOT_FOUND):
        return Decision(
            Action.RESPLIT_VIA_PD,
            rid,
            f"region {rid}: {kind.value} (split, merge or moved); reloading the span from PD"
            f"{detail}",
        )
    if kind in _FATAL_REASONS:
        return Decision(
            Action.FATAL, rid, f"region {rid}: {kind.value}: {_FATAL_REASONS[kind]}{detail}"
        )
    if kind is ErrorKind.SERVER_IS_BUSY:
        return Decision(
            Action.RETRY_SAME,
            rid,
            f"region {rid}: server is busy{detail}",
            backoff_ms=error.backoff_ms,
        )
    name = kind.value or "empty or unknown error"
    return Decision(Action.RETRY_SAME, rid, f"region {rid}: {name}; retrying{detail}")


def no_leader(region_id: int) -> Decision:
    """Decision for a region whose leader/store cannot be found: ask PD again (TiCDC's choice)."""
    return Decision(
        Action.RESPLIT_VIA_PD,
        region_id,
        f"region {region_id}: no known leader; reloading the span from PD",
    )


def _next_peer(region: RegionInfo | None, current_store_id: int) -> int:
    """Store of the peer after ``current_store_id`` in the region's peer list (0 if none)."""
    if region is None:
        return 0
    stores = [s for s in region.peer_store_ids if s]
    if not stores or stores == [current_store_id]:
        return 0
    if current_store_id in stores:
        return stores[(stores.index(current_store_id) + 1) % len(stores)]
    return stores[0]


def _newer_regions(
    current: Sequence[RegionInfo], failed: RegionInfo, store_id: int
) -> tuple[RegionInfo, ...]:
    """TiKV's regions worth registering in place of ``failed``, led (first guess) by the store.

    Kept: regions overlapping the failed span, with a peer on ``store_id``, whose epoch is in
    no part behind the failed region's and which are not the failed region itself.
    """
    mine = failed.epoch
    out = []
    for r in current:
        if not r.span.overlaps(failed.span) or store_id not in r.peer_store_ids:
            continue
        if r.epoch.version < mine.version or r.epoch.conf_ver < mine.conf_ver:
            continue
        if r.region_id == failed.region_id and r.epoch == mine:
            continue
        out.append(replace(r, leader_store_id=store_id))
    return tuple(sorted(out, key=lambda r: r.span.start))


def cover(
    span: Span, regions: Sequence[RegionInfo]
) -> tuple[list[tuple[RegionInfo, Span]], list[Span]]:
    """Split ``span`` into the parts ``regions`` hold and the gaps none holds, in key order.

    Regions are taken by start key; one overlapping an earlier region's part only gets what is
    left after it (TiKV's current regions never overlap, a buggy answer cannot double a key).
    """
    parts: list[tuple[RegionInfo, Span]] = []
    gaps: list[Span] = []
    at: bytes | None = span.start  # None: the whole span is accounted for
    for r in sorted(regions, key=lambda r: r.span.start):
        if at is None:
            break
        part = r.span.intersect(Span(at, span.end))
        if part is None:
            continue
        if part.start > at:
            gaps.append(Span(at, part.start))
        parts.append((r, part))
        at = None if part.end == span.end else part.end
    if at is not None:
        gaps.append(Span(at, span.end))
    return parts, gaps
