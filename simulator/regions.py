"""Regions over the ENCODED key space, with epochs, peers on several stores and leaders.

Pure (stdlib + generated ``metapb``). Region boundaries are memcomparable-encoded keys, as PD
and TiKV keep them (facts/eventfeed.md §2.6); ``b""`` is -∞ as a start and +∞ as an end. The
raw bounds of each region are kept beside them so live rows (RAW keys) route without
re-encoding. A split keeps the parent's id on the RIGHT part (TiKV's ``right-derive-when-split``
default) and gives the left part a new id; both get ``version + 1``; both halves keep the
parent's leader store, as a raft split does. A leader move keeps the epoch. Listeners get a
:class:`RegionChange` after each change so the fake TiKV can end the subscriptions it broke,
with the error TiKV sends.

:meth:`RegionTable.spread_leaders` stands in for PD's ``balance-leader`` scheduler: on a real
cluster the leaders of a table's regions end up spread over the stores within seconds of the
splits, so a client must keep one stream per store. :meth:`RegionTable.snapshot` is a frozen
:class:`RegionView`, what a PD that has not yet heard a region heartbeat still answers.

Not thread-safe: the asyncio loop thread only.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum

from core.codec.bytescodec import decode_bytes, encode_bytes
from core.codec.keys import encode_record_key
from proto import metapb_pb2

__all__ = [
    "Peer",
    "Region",
    "RegionChange",
    "RegionChangeKind",
    "RegionError",
    "RegionTable",
    "RegionView",
    "StoreInfo",
    "record_key",
]

DEFAULT_STORE_VERSION = "8.5.0"


class RegionError(ValueError):
    """A region operation that cannot be done (unknown id, key outside, key on a boundary)."""


def record_key(table_id: int, handle: int) -> bytes:
    """RAW record key of an int handle (the simulator's and its tests' shorthand)."""
    return encode_record_key(table_id, handle)


def _decode_bound(enc: bytes) -> bytes:
    if not enc:
        return b""
    raw, end = decode_bytes(enc)
    if end != len(enc):
        raise RegionError(f"region boundary {enc.hex()} has trailing bytes")
    return raw


@dataclass(frozen=True, slots=True)
class Peer:
    """A replica of a region on one store."""

    id: int
    store_id: int


@dataclass(frozen=True, slots=True)
class Region:
    """One region's metadata; ``start_key``/``end_key`` ENCODED, ``raw_*`` their raw forms."""

    id: int
    start_key: bytes
    end_key: bytes
    conf_ver: int
    version: int
    peers: tuple[Peer, ...]
    leader_store: int
    raw_start: bytes = field(default=b"", compare=False)
    raw_end: bytes = field(default=b"", compare=False)

    @property
    def leader(self) -> Peer:
        """The leader peer."""
        for p in self.peers:
            if p.store_id == self.leader_store:
                return p
        raise RegionError(f"region {self.id} has no peer on leader store {self.leader_store}")

    def peer_on(self, store_id: int) -> Peer | None:
        """The peer on ``store_id``, if the region has one."""
        for p in self.peers:
            if p.store_id == store_id:
                return p
        return None

    def contains_raw(self, key: bytes) -> bool:
        """Whether the RAW key falls in this region."""
        return self.raw_start <= key and (not self.raw_end or key < self.raw_end)

    def to_pb(self) -> metapb_pb2.Region:
        """The ``metapb.Region`` PD and TiKV errors carry."""
        return metapb_pb2.Region(
            id=self.id,
            start_key=self.start_key,
            end_key=self.end_key,
            region_epoch=metapb_pb2.RegionEpoch(conf_ver=self.conf_ver, version=self.version),
            peers=[metapb_pb2.Peer(id=p.id, store_id=p.store_id) for p in self.peers],
        )

    def leader_pb(self) -> metapb_pb2.Peer:
        """The leader as ``metapb.Peer``."""
        p = self.leader
        return metapb_pb2.Peer(id=p.id, store_id=p.store_id)


@dataclass(slots=True)
class StoreInfo:
    """A TiKV store as PD reports it; ``address`` is filled when its server listens."""

    id: int
    address: str = ""
    version: str = DEFAULT_STORE_VERSION
    up: bool = True
    start_timestamp: int = 0

    def to_pb(self) -> metapb_pb2.Store:
        """The ``metapb.Store`` of GetStore/GetAllStores."""
        return metapb_pb2.Store(
            id=self.id,
            address=self.address,
            state=metapb_pb2.Up,
            version=self.version,
            peer_address=self.address,
            status_address=self.address,
            git_hash="0" * 40,
            start_timestamp=self.start_timestamp,
            node_state=metapb_pb2.Serving,
        )


class RegionChangeKind(Enum):
    """What happened to a region."""

    SPLIT = "split"
    LEADER_MOVED = "leader_moved"


@dataclass(frozen=True, slots=True)
class RegionChange:
    """``old`` is the region before; ``new`` the regions that replace it (one for a move)."""

    kind: RegionChangeKind
    old: Region
    new: tuple[Region, ...]


Listener = Callable[[RegionChange], None]


class _RegionIndex:
    """Queries over regions sorted by start key (shared by the live table and its snapshots)."""

    _regions: list[Region]
    _starts: list[bytes]

    def __len__(self) -> int:
        return len(self._regions)

    def all(self) -> tuple[Region, ...]:
        """Every region in key order."""
        return tuple(self._regions)

    def by_id(self, region_id: int) -> Region | None:
        """The region with this id, if it exists."""
        for r in self._regions:
            if r.id == region_id:
                return r
        return None

    def locate(self, key: bytes) -> Region:
        """The region holding the ENCODED key (the whole space is always covered)."""
        i = bisect.bisect_right(self._starts, key) - 1
        return self._regions[i]

    def locate_raw(self, key: bytes) -> Region:
        """The region holding the RAW key."""
        return self.locate(encode_bytes(key))

    def scan(self, start_key: bytes, end_key: bytes = b"", limit: int = 0) -> list[Region]:
        """Regions overlapping ENCODED ``[start_key, end_key)`` in key order (limit ≤ 0 = all)."""
        i = max(bisect.bisect_right(self._starts, start_key) - 1, 0)
        out: list[Region] = []
        for r in self._regions[i:]:
            if end_key and r.start_key >= end_key:
                break
            out.append(r)
            if 0 < limit <= len(out):
                break
        return out

    def on_store(self, store_id: int) -> list[Region]:
        """Regions with a peer on ``store_id``."""
        return [r for r in self._regions if r.peer_on(store_id) is not None]

    def left_of(self, region: Region) -> Region | None:
        """The region ending where ``region`` starts (``None`` for the first)."""
        if not region.start_key:
            return None
        i = bisect.bisect_left(self._starts, region.start_key)
        return self._regions[i - 1] if i > 0 else None


class RegionView(_RegionIndex):
    """A frozen copy of the regions at one moment (what a lagging PD still believes)."""

    def __init__(self, regions: Iterable[Region]) -> None:
        self._regions = list(regions)
        self._starts = [r.start_key for r in self._regions]


class RegionTable(_RegionIndex):
    """All regions, sorted by start key; ids for regions and peers come from one counter."""

    def __init__(self, store_ids: Sequence[int], replicas: int = 3) -> None:
        if not store_ids:
            raise RegionError("a cluster needs at least one store")
        self.stores: dict[int, StoreInfo] = {sid: StoreInfo(sid) for sid in store_ids}
        self._replicas = max(1, min(replicas, len(store_ids)))
        self._ids = itertools.count(max(store_ids) + 1)
        self._regions: list[Region] = []  # sorted by start_key
        self._starts: list[bytes] = []
        self._listeners: list[Listener] = []
        self._next_leader = 0
        peers, leader = self._place()
        self._set([self._make(b"", b"", 1, 1, peers, leader)])

    # -- listeners ----------------------------------------------------------------------------

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` after every split or leader move; returns the unsubscribe."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def _notify(self, change: RegionChange) -> None:
        for listener in tuple(self._listeners):
            listener(change)

    def snapshot(self) -> RegionView:
        """The regions as they are now, frozen."""
        return RegionView(self._regions)

    # -- changes ------------------------------------------------------------------------------

    def split(self, region_id: int, raw_key: bytes) -> tuple[Region, Region]:
        """Split at RAW ``raw_key``; returns ``(left with a new id, right keeping the id)``."""
        old = self._get(region_id)
        enc = encode_bytes(raw_key)
        if enc <= old.start_key or (old.end_key and enc >= old.end_key):
            raise RegionError(f"split key {raw_key.hex()} not strictly inside region {region_id}")
        left_peers = tuple(Peer(next(self._ids), p.store_id) for p in old.peers)
        left = self._make(
            old.start_key, enc, old.conf_ver, old.version + 1, left_peers, old.leader_store
        )
        right = replace(old, start_key=enc, version=old.version + 1, raw_start=raw_key)
        i = self._index(region_id)
        self._set([*self._regions[:i], left, right, *self._regions[i + 1 :]])
        self._notify(RegionChange(RegionChangeKind.SPLIT, old, (left, right)))
        return left, right

    def split_at(self, raw_keys: Iterable[bytes]) -> None:
        """Split wherever a RAW key is not already a boundary (idempotent)."""
        for key in sorted(set(raw_keys)):
            enc = encode_bytes(key)
            r = self.locate(enc)
            if r.start_key != enc:
                self.split(r.id, key)

    def transfer_leader(self, region_id: int, store_id: int) -> Region:
        """Move the leader to ``store_id`` (which must hold a peer); the epoch is unchanged."""
        old = self._get(region_id)
        if old.peer_on(store_id) is None:
            raise RegionError(f"region {region_id} has no peer on store {store_id}")
        if old.leader_store == store_id:
            return old
        new = replace(old, leader_store=store_id)
        self._regions[self._index(region_id)] = new
        self._notify(RegionChange(RegionChangeKind.LEADER_MOVED, old, (new,)))
        return new

    def spread_leaders(self, region_ids: Iterable[int]) -> list[Region]:
        """Give the regions' leaders to the stores in turn (PD's balance-leader, settled).

        Each region, in key order, gets the next store of a cluster-wide rotation that holds
        one of its peers; returns the regions whose leader moved (listeners are told, as a
        real transfer ends the old leader's subscriptions with ``not_leader``).
        """
        wanted = set(region_ids)
        ids = sorted(self.stores)
        moved = []
        for r in [r for r in self._regions if r.id in wanted]:
            holders = {p.store_id for p in r.peers}
            for _ in ids:
                store = ids[self._next_leader % len(ids)]
                self._next_leader += 1
                if store in holders:
                    if store != r.leader_store:
                        moved.append(self.transfer_leader(r.id, store))
                    break
        return moved

    def move_leaders_off(self, store_id: int) -> list[Region]:
        """Move every leader away from ``store_id`` (before stopping it); returns moved regions."""
        moved = []
        for r in list(self._regions):
            if r.leader_store == store_id:
                other = next((p.store_id for p in r.peers if p.store_id != store_id), None)
                if other is not None:
                    moved.append(self.transfer_leader(r.id, other))
        return moved

    # -- internals ----------------------------------------------------------------------------

    def _place(self) -> tuple[tuple[Peer, ...], int]:
        ids = sorted(self.stores)
        k = self._next_leader
        self._next_leader += 1
        chosen = [ids[(k + j) % len(ids)] for j in range(self._replicas)]
        return tuple(Peer(next(self._ids), sid) for sid in chosen), chosen[0]

    def _make(
        self,
        start: bytes,
        end: bytes,
        conf_ver: int,
        version: int,
        peers: tuple[Peer, ...],
        leader_store: int,
    ) -> Region:
        return Region(
            id=next(self._ids),
            start_key=start,
            end_key=end,
            conf_ver=conf_ver,
            version=version,
            peers=peers,
            leader_store=leader_store,
            raw_start=_decode_bound(start),
            raw_end=_decode_bound(end),
        )

    def _set(self, regions: list[Region]) -> None:
        self._regions = regions
        self._starts = [r.start_key for r in regions]

    def _index(self, region_id: int) -> int:
        for i, r in enumerate(self._regions):
            if r.id == region_id:
                return i
        raise RegionError(f"no region {region_id}")

    def _get(self, region_id: int) -> Region:
        return self._regions[self._index(region_id)]
