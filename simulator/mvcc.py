"""The fake cluster's MVCC store: keys → committed versions, plus at most one lock per key.

Pure (stdlib only). Models what TiKV's transaction layer keeps for TiDB (percolator): a lock
per key while a 2PC transaction is between prewrite and commit/rollback, and committed
versions ``(start_ts, commit_ts, op, value)``. Keys are RAW TiDB keys (``t{id}_r…``), exactly
what ``cdcpb.Event.Row.key`` carries; region routing uses their memcomparable ENCODED form, whose
byte order is the same, so a region ``[enc(a), enc(b))`` holds the raw keys ``[a, b)``.

Every write is reported to the observers as one :class:`Change` batch (one "raft command");
the fake TiKV turns a batch into live CDC rows (facts/eventfeed.md §3.4):

=====================  ===========================================================
call                   changes reported
=====================  ===========================================================
``prewrite``           PREWRITE per key: value, old value = newest commit ≤ start_ts
``commit``             COMMIT per key: value (the fake TiKV blanks it if > 255 B)
``rollback``           ROLLBACK per key still locked by the txn (or never written)
``commit_1pc``         COMMITTED per key: value, old value = newest commit < commit_ts
``check_txn_status``   ROLLBACK of the primary when its TTL expired (or it never existed)
``check_secondary_locks`` ROLLBACK of the first key with neither lock nor record
``resolve_lock``       COMMIT or ROLLBACK per key the txn still locks in the range
=====================  ===========================================================

Lock resolution (what a TiDB that crashed between prewrite and commit leaves behind) follows
TiKV: :meth:`MvccStore.scan_locks` takes locks with ``start_ts <= max_ts`` (tikv
``src/storage/txn/commands`` ScanLock: ``lock.ts <= max_ts``); :meth:`MvccStore.check_txn_status`
is tikv ``src/storage/txn/actions/check_txn_status.rs``: a primary lock whose
``physical(start_ts) + ttl < physical(current_ts)`` is rolled back, a live one is reported with
its TTL, a missing one is answered from the write records (committed, rolled back, or not found
unless ``rollback_if_not_exist``); :meth:`MvccStore.resolve_lock` commits or rolls back the
transaction's locks in a range, as ``KvResolveLock`` does. Rollbacks leave a record, so a late
prewrite of the same transaction is refused, as TiKV refuses it.

Async commit (TiDB's default since 5.0; ``prewrite(..., secondaries=…)``): every lock carries
``use_async_commit`` and the primary lists the other keys; the transaction is committed once
every key is prewritten, at the largest ``min_commit_ts``. So ``check_txn_status`` never rolls
such a primary back (tikv ``check_txn_status_lock_exists``: "Rollback of async-commit locks are
done in ResolveLock") and answers with the lock, and :meth:`MvccStore.check_secondary_locks` is
tikv ``commands/check_secondary_locks.rs``: per key in order, a lock of the transaction is
returned; a commit record ends the check with its commit_ts; a rollback record, or neither lock
nor record (a rollback record is written then, so the prewrite can never land), ends it as
rolled back.

Bulk load (:meth:`MvccStore.load_packed`): a history of millions of versions, written before
any change feed is registered, is kept as one packed ``bytes`` per key (:func:`pack_version`
records) and turned into :class:`Version` objects only when read; a later write to such a key
unpacks it first. Reads and the change feed see exactly what the same transactions written
through :meth:`MvccStore.write_txn` would have left (no lock, no rollback record), without a
Python object per version or the transaction machinery per write.

Threading: not thread-safe. Every call, observers included, runs on the simulator's asyncio
loop thread; observers run synchronously inside the write and must not write back.

Safety of resolved ts (as TiKV's concurrency manager): the resolver calls :meth:`MvccStore.
push_max_ts` with every ts it is about to publish; a prewrite then sets the lock's
``min_commit_ts`` above it and a commit below ``min_commit_ts`` is refused, so no commit can
land at or below a resolved ts already sent.
"""

from __future__ import annotations

import bisect
import struct
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import IntEnum

from core.errors import TiundoError, TransientError
from simulator.tso import Tso, physical

__all__ = [
    "DEFAULT_LOCK_TTL_MS",
    "Change",
    "ChangeKind",
    "CommitTsExpiredError",
    "KeyLockedError",
    "Lock",
    "Mutation",
    "MvccError",
    "MvccStore",
    "Observer",
    "Op",
    "PrimaryMismatchError",
    "SecondaryLocks",
    "TxnNotFoundError",
    "TxnState",
    "TxnStatusKind",
    "Version",
    "WriteConflictError",
    "pack_version",
    "unpack_versions",
]


#: TTL of a prewrite lock in ms (client-go ``txnkv/transaction/2pc.go`` ``defaultLockTTL``)
DEFAULT_LOCK_TTL_MS = 3000


class Op(IntEnum):
    """Same numbers as ``cdcpb.Event.Row.OpType``."""

    PUT = 1
    DELETE = 2


class ChangeKind(IntEnum):
    """Same numbers as ``cdcpb.Event.LogType``."""

    PREWRITE = 1
    COMMIT = 2
    ROLLBACK = 3
    COMMITTED = 4


@dataclass(frozen=True, slots=True)
class Mutation:
    """One key a transaction writes: ``key`` is the RAW TiDB key; ``value`` empty for DELETE."""

    key: bytes
    op: Op
    value: bytes = b""


@dataclass(frozen=True, slots=True)
class Lock:
    """A percolator lock left by prewrite; ``old_value`` is the value it will replace."""

    key: bytes
    start_ts: int
    primary: bytes
    op: Op
    value: bytes
    txn_source: int
    min_commit_ts: int
    old_value: bytes
    #: ms after ``physical(start_ts)`` until a resolver may roll the transaction back
    ttl: int = DEFAULT_LOCK_TTL_MS
    use_async_commit: bool = False
    #: on an async-commit primary: every other key of the transaction
    secondaries: tuple[bytes, ...] = ()


class TxnStatusKind(IntEnum):
    """What :meth:`MvccStore.check_txn_status` found (and did) on a primary key."""

    LOCKED = 1  # the primary lock is alive: wait
    COMMITTED = 2
    ROLLED_BACK = 3  # a rollback record was already there
    TTL_EXPIRE_ROLLBACK = 4  # the primary's TTL had expired: rolled back now
    LOCK_NOT_EXIST_ROLLBACK = 5  # neither lock nor record: a rollback record written now


@dataclass(frozen=True, slots=True)
class TxnState:
    """A transaction's status as ``CheckTxnStatus`` reports it."""

    kind: TxnStatusKind
    ttl: int = 0
    commit_ts: int = 0
    lock: Lock | None = None


@dataclass(frozen=True, slots=True)
class SecondaryLocks:
    """What ``CheckSecondaryLocks`` found: the locks (all keys locked), or the outcome."""

    locks: tuple[Lock, ...] = ()
    commit_ts: int = 0
    rolled_back: bool = False


@dataclass(frozen=True, slots=True)
class Version:
    """A committed write record of one key."""

    start_ts: int
    commit_ts: int
    op: Op
    value: bytes
    txn_source: int


@dataclass(frozen=True, slots=True)
class Change:
    """One row-level change as an observer sees it (``commit_ts`` 0 for PREWRITE/ROLLBACK)."""

    kind: ChangeKind
    key: bytes
    start_ts: int
    commit_ts: int
    op: Op | None
    value: bytes
    old_value: bytes
    txn_source: int


Observer = Callable[[Sequence[Change]], None]

_PACKED = struct.Struct(">QQBQI")  # start_ts, commit_ts, op, txn_source, len(value)


def pack_version(start_ts: int, commit_ts: int, op: Op, value: bytes, txn_source: int = 0) -> bytes:
    """One committed version as :meth:`MvccStore.load_packed` takes them (concatenated)."""
    return _PACKED.pack(start_ts, commit_ts, op, txn_source, len(value)) + value


def unpack_versions(blob: bytes) -> list[Version]:
    """The versions of a :func:`pack_version` concatenation, in its order."""
    out: list[Version] = []
    pos, n, size = 0, len(blob), _PACKED.size
    while pos < n:
        if pos + size > n:
            raise ValueError(f"packed versions: torn header at byte {pos}")
        start_ts, commit_ts, op, source, length = _PACKED.unpack_from(blob, pos)
        pos += size
        out.append(Version(start_ts, commit_ts, Op(op), blob[pos : pos + length], source))
        pos += length
    if pos != n:
        raise ValueError(f"packed versions: torn value, {pos - n} bytes missing at the end")
    return out


class MvccError(TiundoError):
    """A transaction the store refuses, as TiKV would (the workload's bug or a conflict)."""


class KeyLockedError(MvccError, TransientError):
    """Another transaction holds the lock on the key."""


class WriteConflictError(MvccError, TransientError):
    """A version committed at or after the transaction's start_ts exists."""


class CommitTsExpiredError(MvccError):
    """commit_ts is below the lock's min_commit_ts (a resolved ts was already published)."""


class TxnNotFoundError(MvccError):
    """commit of a key the transaction holds no lock on and has not committed."""


class PrimaryMismatchError(MvccError):
    """CheckTxnStatus on a key whose lock of that transaction names another primary."""

    def __init__(self, lock: Lock) -> None:
        super().__init__(f"key {lock.key.hex()} is not the primary of start_ts={lock.start_ts}")
        self.lock = lock


class MvccStore:
    """Keys → versions and locks; see the module docstring for the contract.

    ``tso`` is the cluster's allocator: :meth:`write_txn` takes its timestamps from it, and
    timestamps given explicitly are fed back with ``observe`` so later ones stay larger.
    """

    def __init__(self, tso: Tso) -> None:
        self.tso = tso
        self._keys: list[bytes] = []  # every key with a version or a lock, sorted
        self._versions: dict[bytes, list[Version]] = {}  # ascending commit_ts
        self._packed: dict[bytes, bytes] = {}  # bulk-loaded keys not written since
        self._locks: dict[bytes, Lock] = {}
        self._rollbacks: dict[bytes, set[int]] = {}  # key → start_ts with a rollback record
        self._observers: list[Observer] = []
        self._max_ts = 0

    # -- observers ----------------------------------------------------------------------------

    def subscribe(self, observer: Observer) -> Callable[[], None]:
        """Call ``observer`` with every write batch from now on; returns the unsubscribe."""
        self._observers.append(observer)

        def unsubscribe() -> None:
            if observer in self._observers:
                self._observers.remove(observer)

        return unsubscribe

    def _emit(self, changes: list[Change]) -> None:
        if changes:
            for observer in tuple(self._observers):
                observer(changes)

    # -- writes -------------------------------------------------------------------------------

    def push_max_ts(self, ts: int) -> None:
        """Promise that no commit will land at or below ``ts`` (called before publishing it)."""
        self._max_ts = max(self._max_ts, ts)

    def prewrite(
        self,
        mutations: Iterable[Mutation],
        start_ts: int,
        primary: bytes,
        txn_source: int = 0,
        *,
        ttl_ms: int = DEFAULT_LOCK_TTL_MS,
        secondaries: Sequence[bytes] | None = None,
    ) -> None:
        """Lock every key for ``start_ts``; all-or-nothing. Re-prewriting an own lock is a no-op.

        ``secondaries`` (the transaction's keys but the primary) makes it an async-commit
        prewrite: every lock is marked so, and the primary's lock lists them.
        """
        muts = list(mutations)
        async_commit = secondaries is not None
        for m in muts:
            lock = self._locks.get(m.key)
            if lock is not None and lock.start_ts != start_ts:
                raise KeyLockedError(f"key {m.key.hex()} locked by start_ts={lock.start_ts}")
            if start_ts in self._rollbacks.get(m.key, ()):
                raise WriteConflictError(f"key {m.key.hex()}: start_ts={start_ts} rolled back")
            newest = self._newest(m.key)
            if newest is not None and newest.commit_ts >= start_ts:
                raise WriteConflictError(
                    f"key {m.key.hex()} committed at {newest.commit_ts} >= start_ts={start_ts}"
                )
        self.tso.observe(start_ts)
        min_commit_ts = max(start_ts, self._max_ts) + 1
        changes: list[Change] = []
        for m in muts:
            if m.key in self._locks:
                continue
            old = self._value_at(m.key, start_ts)
            value = m.value if m.op is Op.PUT else b""
            self._ensure_key(m.key)
            listed = tuple(secondaries or ()) if m.key == primary else ()
            self._locks[m.key] = Lock(
                m.key, start_ts, primary, m.op, value, txn_source, min_commit_ts, old, ttl_ms,
                async_commit, listed,
            )  # fmt: skip
            changes.append(
                Change(ChangeKind.PREWRITE, m.key, start_ts, 0, m.op, value, old, txn_source)
            )
        self._emit(changes)

    def commit(self, start_ts: int, commit_ts: int, keys: Iterable[bytes]) -> None:
        """Turn the transaction's locks on ``keys`` into versions at ``commit_ts``.

        Keys already committed by the same transaction are skipped (commit is idempotent).
        """
        ks = list(keys)
        if commit_ts <= start_ts:
            raise MvccError(f"commit_ts={commit_ts} not after start_ts={start_ts}")
        for k in ks:
            lock = self._locks.get(k)
            if lock is None or lock.start_ts != start_ts:
                if self._committed_by(k, start_ts) is None:
                    raise TxnNotFoundError(f"no lock of start_ts={start_ts} on key {k.hex()}")
            elif commit_ts < lock.min_commit_ts:
                raise CommitTsExpiredError(
                    f"commit_ts={commit_ts} < min_commit_ts={lock.min_commit_ts} on {k.hex()}"
                )
        self.tso.observe(commit_ts)
        changes: list[Change] = []
        for k in ks:
            lock = self._locks.get(k)
            if lock is None or lock.start_ts != start_ts:
                continue
            del self._locks[k]
            self._add_version(k, Version(start_ts, commit_ts, lock.op, lock.value, lock.txn_source))
            changes.append(
                Change(
                    ChangeKind.COMMIT, k, start_ts, commit_ts, lock.op, lock.value, b"",
                    lock.txn_source,
                )
            )  # fmt: skip
        self._emit(changes)

    def rollback(self, start_ts: int, keys: Iterable[bytes]) -> None:
        """Drop the transaction's locks on ``keys``; keys it already committed are left alone."""
        changes: list[Change] = []
        for k in keys:
            lock = self._locks.get(k)
            if lock is not None and lock.start_ts == start_ts:
                del self._locks[k]
                source = lock.txn_source
            elif self._committed_by(k, start_ts) is None and lock is None:
                source = 0  # protective rollback record: TiKV reports it too
            else:
                continue
            self._rollbacks.setdefault(k, set()).add(start_ts)
            changes.append(Change(ChangeKind.ROLLBACK, k, start_ts, 0, None, b"", b"", source))
        self._emit(changes)

    def check_txn_status(
        self,
        primary: bytes,
        lock_ts: int,
        current_ts: int,
        *,
        rollback_if_not_exist: bool = False,
        verify_is_primary: bool = True,
        force_sync_commit: bool = False,
    ) -> TxnState:
        """The status of transaction ``lock_ts`` on its primary key, deciding an expired one.

        TiKV's ``check_txn_status`` (module docstring): an expired primary lock is rolled back
        here, so every secondary may then be rolled back too, unless it is an async-commit lock
        (and not ``force_sync_commit``): that one is only reported, however old.
        ``caller_start_ts`` pushes of ``min_commit_ts`` are not modelled (a resolver that reads
        nothing sends 0).
        """
        lock = self._locks.get(primary)
        if lock is not None and lock.start_ts == lock_ts:
            if verify_is_primary and lock.primary != primary:
                raise PrimaryMismatchError(lock)
            if lock.use_async_commit and not force_sync_commit:
                return TxnState(TxnStatusKind.LOCKED, ttl=lock.ttl, lock=lock)
            if physical(lock_ts) + lock.ttl < physical(current_ts):
                self.rollback(lock_ts, [primary])
                return TxnState(TxnStatusKind.TTL_EXPIRE_ROLLBACK)
            return TxnState(TxnStatusKind.LOCKED, ttl=lock.ttl, lock=lock)
        version = self._committed_by(primary, lock_ts)
        if version is not None:
            return TxnState(TxnStatusKind.COMMITTED, commit_ts=version.commit_ts)
        if lock_ts in self._rollbacks.get(primary, ()):
            return TxnState(TxnStatusKind.ROLLED_BACK)
        if rollback_if_not_exist:
            self.rollback(lock_ts, [primary])
            return TxnState(TxnStatusKind.LOCK_NOT_EXIST_ROLLBACK)
        raise TxnNotFoundError(f"start_ts={lock_ts}: no lock and no record on {primary.hex()}")

    def check_secondary_locks(self, keys: Iterable[bytes], start_ts: int) -> SecondaryLocks:
        """TiKV's ``CheckSecondaryLocks`` of transaction ``start_ts`` on ``keys`` (docstring)."""
        self.push_max_ts(start_ts)  # as TiKV: no commit may land on the rollback written here
        found: list[Lock] = []
        for key in keys:
            lock = self._locks.get(key)
            if lock is not None and lock.start_ts == start_ts:
                found.append(lock)
                continue
            version = self._committed_by(key, start_ts)
            if version is not None:
                return SecondaryLocks(commit_ts=version.commit_ts)
            if start_ts not in self._rollbacks.get(key, ()):
                if lock is None:
                    self.rollback(start_ts, [key])
                else:  # another txn's lock: TiKV marks the rollback on it, no write record
                    self._rollbacks.setdefault(key, set()).add(start_ts)
            return SecondaryLocks(rolled_back=True)
        return SecondaryLocks(locks=tuple(found))

    def scan_locks(
        self, start_raw: bytes, end_raw: bytes, max_ts: int, limit: int = 0
    ) -> list[Lock]:
        """Locks with ``start_ts <= max_ts`` in ``[start_raw, end_raw)`` (b"" end = ∞), by key."""
        out: list[Lock] = []
        for key in sorted(self._locks):
            if key < start_raw or (end_raw and key >= end_raw):
                continue
            lock = self._locks[key]
            if lock.start_ts <= max_ts:
                out.append(lock)
                if limit and len(out) >= limit:
                    break
        return out

    def resolve_lock(
        self,
        start_ts: int,
        commit_ts: int,
        start_raw: bytes,
        end_raw: bytes,
        keys: Iterable[bytes] = (),
    ) -> list[bytes]:
        """Commit (``commit_ts`` > 0) or roll back (0) the txn's locks in the range; the keys.

        ``keys`` limits it to those keys (client-go's "lite" resolve); otherwise every lock of
        ``start_ts`` in ``[start_raw, end_raw)`` is resolved, as TiKV's ``ResolveLock`` scans
        the region. Committing below a lock's ``min_commit_ts`` raises, as on TiKV.
        """
        wanted = set(keys)
        targets = [
            lk.key
            for lk in self.scan_locks(start_raw, end_raw, start_ts)
            if lk.start_ts == start_ts and (not wanted or lk.key in wanted)
        ]
        if not targets:
            return []
        if commit_ts:
            self.commit(start_ts, commit_ts, targets)
        else:
            self.rollback(start_ts, targets)
        return targets

    def commit_1pc(
        self, mutations: Iterable[Mutation], start_ts: int, commit_ts: int, txn_source: int = 0
    ) -> None:
        """Write every mutation straight to versions at ``commit_ts`` (no lock, 1PC)."""
        muts = list(mutations)
        if commit_ts <= start_ts:
            raise MvccError(f"commit_ts={commit_ts} not after start_ts={start_ts}")
        if commit_ts <= self._max_ts:
            raise CommitTsExpiredError(f"1PC commit_ts={commit_ts} <= max_ts={self._max_ts}")
        for m in muts:
            lock = self._locks.get(m.key)
            if lock is not None:
                raise KeyLockedError(f"key {m.key.hex()} locked by start_ts={lock.start_ts}")
            newest = self._newest(m.key)
            if newest is not None and newest.commit_ts >= start_ts:
                raise WriteConflictError(
                    f"key {m.key.hex()} committed at {newest.commit_ts} >= start_ts={start_ts}"
                )
        self.tso.observe(commit_ts)
        changes: list[Change] = []
        for m in muts:
            value = m.value if m.op is Op.PUT else b""
            old = self._value_at(m.key, commit_ts - 1)
            self._ensure_key(m.key)
            self._add_version(m.key, Version(start_ts, commit_ts, m.op, value, txn_source))
            changes.append(
                Change(ChangeKind.COMMITTED, m.key, start_ts, commit_ts, m.op, value, old,
                       txn_source)
            )  # fmt: skip
        self._emit(changes)

    def write_txn(
        self, mutations: Iterable[Mutation], *, txn_source: int = 0, one_pc: bool = False
    ) -> int:
        """Run a whole transaction with TSO timestamps; returns its commit_ts."""
        muts = list(mutations)
        if not muts:
            raise MvccError("a transaction needs at least one mutation")
        start_ts = self.tso.next()
        commit_ts = self.tso.next()
        if one_pc:
            self.commit_1pc(muts, start_ts, commit_ts, txn_source)
        else:
            self.prewrite(muts, start_ts, muts[0].key, txn_source)
            self.commit(start_ts, commit_ts, [m.key for m in muts])
        return commit_ts

    def load_packed(self, items: Iterable[tuple[bytes, bytes]]) -> int:
        """Bulk-load ``(key, packed versions)`` of keys without versions or locks; the count.

        Each blob is :func:`pack_version` records in ascending ``commit_ts``. Nothing is
        reported to observers, so load before any change feed is registered (a fake cluster's
        TiKV servers subscribe when built, with no feed yet: the history of a benchmark); the
        TSO observes the newest commit_ts.
        """
        new: list[bytes] = []
        newest = 0
        size = _PACKED.size
        for key, blob in items:
            if key in self._versions or key in self._packed or key in self._locks:
                raise MvccError(f"load_packed: key {key.hex()} already has versions or a lock")
            pos, last = 0, 0
            while pos + size <= len(blob):  # headers only: order and framing, not values
                _, commit_ts, _, _, length = _PACKED.unpack_from(blob, pos)
                if commit_ts <= last:
                    raise MvccError(f"load_packed: key {key.hex()} versions not ascending")
                last, pos = commit_ts, pos + size + length
            if pos != len(blob) or not blob:
                raise MvccError(f"load_packed: key {key.hex()} has a torn or empty blob")
            self._packed[key] = blob
            new.append(key)
            newest = max(newest, last)
        self._keys.extend(new)
        self._keys.sort()
        self.tso.observe(newest)
        return len(new)

    # -- reads --------------------------------------------------------------------------------

    def get(self, key: bytes, ts: int) -> bytes | None:
        """The value visible at ``ts`` (locks are ignored: a snapshot of committed data)."""
        v = self._version_at(key, ts)
        return v.value if v is not None and v.op is Op.PUT else None

    def scan(self, start_raw: bytes, end_raw: bytes, ts: int) -> list[tuple[bytes, bytes]]:
        """Live ``(key, value)`` pairs at ``ts`` with ``start_raw <= key < end_raw`` (b"" = ∞)."""
        out: list[tuple[bytes, bytes]] = []
        for key in self.keys_in(start_raw, end_raw):
            value = self.get(key, ts)
            if value is not None:
                out.append((key, value))
        return out

    def keys_in(self, start_raw: bytes, end_raw: bytes) -> Iterator[bytes]:
        """Keys with any lock or version in ``[start_raw, end_raw)``, ascending (b"" end = ∞)."""
        lo = bisect.bisect_left(self._keys, start_raw)
        hi = len(self._keys) if not end_raw else bisect.bisect_left(self._keys, end_raw)
        return iter(self._keys[lo:hi])

    def lock(self, key: bytes) -> Lock | None:
        """The lock on ``key``, if any."""
        return self._locks.get(key)

    def locks(self) -> Iterable[Lock]:
        """Every open lock (unordered)."""
        return self._locks.values()

    def versions(self, key: bytes) -> Sequence[Version]:
        """Committed versions of ``key``, OLDEST first."""
        return self._vs(key) or ()

    def __len__(self) -> int:
        return len(self._keys)

    # -- internals ----------------------------------------------------------------------------

    def _vs(self, key: bytes) -> list[Version] | None:
        """The key's versions, unpacked on the fly when it was bulk-loaded."""
        vs = self._versions.get(key)
        if vs is None:
            blob = self._packed.get(key)
            if blob is not None:
                return unpack_versions(blob)
        return vs

    def _ensure_key(self, key: bytes) -> None:
        if key in self._versions or key in self._packed or key in self._locks:
            return
        keys = self._keys
        if not keys or keys[-1] < key:
            keys.append(key)
        else:
            i = bisect.bisect_left(keys, key)
            if i == len(keys) or keys[i] != key:
                keys.insert(i, key)

    def _add_version(self, key: bytes, version: Version) -> None:
        blob = self._packed.pop(key, None)
        if blob is not None:
            self._versions[key] = unpack_versions(blob)
        vs = self._versions.setdefault(key, [])
        if not vs or vs[-1].commit_ts < version.commit_ts:
            vs.append(version)
        else:
            bisect.insort(vs, version, key=lambda v: v.commit_ts)

    def _newest(self, key: bytes) -> Version | None:
        vs = self._vs(key)
        return vs[-1] if vs else None

    def _version_at(self, key: bytes, ts: int) -> Version | None:
        vs = self._vs(key)
        if not vs:
            return None
        i = bisect.bisect_right(vs, ts, key=lambda v: v.commit_ts)
        return vs[i - 1] if i else None

    def _value_at(self, key: bytes, ts: int) -> bytes:
        v = self._version_at(key, ts)
        return v.value if v is not None and v.op is Op.PUT else b""

    def _committed_by(self, key: bytes, start_ts: int) -> Version | None:
        for v in reversed(self._vs(key) or ()):
            if v.start_ts == start_ts:
                return v
        return None
