"""Partitioner: stable, table-local unless spread, one row key -> one partition."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from ingest.keyspace import encode_int, record_prefix
from ingest.partitioner import Partitioner, table_key

ROOT = Path(__file__).resolve().parents[3]


def test_table_partition_is_crc32_of_big_endian_id() -> None:
    p = Partitioner(12)
    for tid in (1, 45, 1000, 2**40, -3):
        assert p.for_table(tid) == zlib.crc32(struct.pack(">q", tid)) % 12
        assert p.partition(tid, record_prefix(tid) + encode_int(5)) == p.for_table(tid)
        assert p.partitions_of(tid) == (p.for_table(tid),)


def test_spread_table_hashes_handle_and_is_stable_per_row() -> None:
    p = Partitioner(8, spread_tables={45})
    seen = set()
    for h in range(200):
        key = record_prefix(45) + encode_int(h)
        part = p.partition(45, key)
        assert part == zlib.crc32(struct.pack(">q", 45) + encode_int(h)) % 8
        assert p.partition(45, bytes(key)) == part
        seen.add(part)
    assert len(seen) == 8
    assert p.partitions_of(45) == tuple(range(8))


def test_spread_table_rejects_foreign_keys() -> None:
    p = Partitioner(8, spread_tables={45})
    with pytest.raises(ValueError):
        p.partition(45, record_prefix(46) + encode_int(1))
    with pytest.raises(ValueError):
        p.partition(45, b"t" + encode_int(45) + b"_i" + encode_int(1))


def test_same_partitions_in_another_process_with_another_hash_seed() -> None:
    probe = (
        "from ingest.partitioner import Partitioner\n"
        "from ingest.keyspace import record_prefix, encode_int\n"
        "p = Partitioner(7, spread_tables={9})\n"
        "print([p.for_table(t) for t in range(50)] + "
        "[p.partition(9, record_prefix(9) + encode_int(h)) for h in range(50)])\n"
    )
    outs = set()
    for seed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        run = subprocess.run(
            [sys.executable, "-c", probe],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        outs.add(run.stdout)
    p = Partitioner(7, spread_tables={9})
    local = [p.for_table(t) for t in range(50)] + [
        p.partition(9, record_prefix(9) + encode_int(h)) for h in range(50)
    ]
    assert outs == {f"{local}\n"}


def test_table_key_and_bad_partition_count() -> None:
    assert table_key(45) == b"45"
    assert table_key(-2) == b"-2"
    with pytest.raises(ValueError):
        Partitioner(0)
