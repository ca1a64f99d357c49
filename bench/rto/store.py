"""The generated history on disk, so contender processes can read it without regenerating.

Files in one workload's directory (pickle, protocol 5; written and read by this harness only):

- ``at_t.pkl``: the rows at T per table (handle → image), to seed a fake cluster's MVCC store;
- ``txns-00000.pkl`` …: the transactions of ``(T, E]`` oldest first, ``CHUNK_TXNS`` per file,
  so a reader can stream them forwards (a change feed) or backwards (a flashback tool reading
  its binlog from the end) without holding a million changes;
- ``net.pkl``: the net rows per table (:func:`bench.rto.history.net_rows`).
"""

from __future__ import annotations

import copyreg
import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import Final

from app.undo.model import Handle
from bench.rto.history import History, NetRow, Row, RowChange, Txn, net_rows, no_gc
from core.codec.mytime import MyTime

__all__ = [
    "CHUNK_TXNS",
    "iter_changes_newest_first",
    "iter_txns",
    "load_at_t",
    "load_net",
    "save",
]

CHUNK_TXNS: Final = 5000


def _reduce_mytime(t: MyTime) -> tuple[type[MyTime], tuple[int, ...]]:
    return MyTime, (t.year, t.month, t.day, t.hour, t.minute, t.second, t.microsecond, t.tp, t.fsp)


# a slots dataclass pickles through Python-level ``__getstate__``: 48 s per million changes
# with it, a few seconds with a plain constructor call
copyreg.pickle(MyTime, _reduce_mytime)


def _dump(path: Path, obj: object) -> None:
    with path.open("wb") as f, no_gc():
        pickle.dump(obj, f, protocol=5)


def _load(path: Path) -> object:
    with path.open("rb") as f, no_gc():
        return pickle.load(f)


def save(history: History, workdir: str | Path) -> tuple[list[NetRow], ...]:
    """Write ``history`` into ``workdir`` (created, old chunks removed); returns the net rows."""
    root = Path(workdir)
    root.mkdir(parents=True, exist_ok=True)
    for old in root.glob("txns-*.pkl"):
        old.unlink()
    _dump(root / "at_t.pkl", history.at_t)
    txns = history.txns
    for n, start in enumerate(range(0, len(txns), CHUNK_TXNS)):
        _dump(root / f"txns-{n:05d}.pkl", txns[start : start + CHUNK_TXNS])
    net = net_rows(history)
    _dump(root / "net.pkl", net)
    return net


def _chunks(workdir: str | Path) -> list[Path]:
    return sorted(Path(workdir).glob("txns-*.pkl"))


def iter_txns(workdir: str | Path) -> Iterator[Txn]:
    """The transactions of ``(T, E]`` oldest first, one chunk in memory at a time."""
    for path in _chunks(workdir):
        chunk = _load(path)
        assert isinstance(chunk, tuple)
        yield from chunk


def iter_changes_newest_first(workdir: str | Path) -> Iterator[RowChange]:
    """Every change newest first (last transaction's last change first), streamed."""
    for path in reversed(_chunks(workdir)):
        chunk = _load(path)
        assert isinstance(chunk, tuple)
        for txn in reversed(chunk):
            yield from reversed(txn.changes)


def load_at_t(workdir: str | Path) -> tuple[dict[Handle, Row], ...]:
    """The rows at T per table."""
    out = _load(Path(workdir) / "at_t.pkl")
    assert isinstance(out, tuple)
    return out


def load_net(workdir: str | Path) -> tuple[list[NetRow], ...]:
    """The net rows per table."""
    out = _load(Path(workdir) / "net.pkl")
    assert isinstance(out, tuple)
    return out
