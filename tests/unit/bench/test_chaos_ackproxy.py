"""The lost-ack proxy reads the client's MySQL packets right, however TCP cuts them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.chaos.ackproxy import (
    COM_QUERY,
    Packet,
    is_commit,
    opens_undo_txn,
    pack,
    query_text,
    take_packets,
)

packets = st.lists(st.builds(Packet, st.integers(0, 255), st.binary(max_size=300)), max_size=12)


@given(packets, st.lists(st.integers(1, 97), min_size=1, max_size=20))
def test_packets_survive_any_split_of_the_stream(ps: list[Packet], cuts: list[int]) -> None:
    wire = b"".join(p.raw for p in ps)
    buf, got, i, k = bytearray(), [], 0, 0
    while i < len(wire):
        step = cuts[k % len(cuts)]
        buf += wire[i : i + step]
        got += take_packets(buf)
        i, k = i + step, k + 1
    assert got == ps and not buf


def test_a_partial_packet_stays_in_the_buffer() -> None:
    raw = pack(0, bytes([COM_QUERY]) + b"COMMIT")
    buf = bytearray(raw[:-1])
    assert take_packets(buf) == [] and bytes(buf) == raw[:-1]
    buf += raw[-1:]
    assert take_packets(buf) == [Packet(0, bytes([COM_QUERY]) + b"COMMIT")]


def test_pack_refuses_a_payload_that_needs_splitting() -> None:
    with pytest.raises(ValueError, match="16 MiB"):
        pack(0, bytes(1 << 24))


def test_query_text_only_of_com_query() -> None:
    assert query_text(Packet(0, bytes([COM_QUERY]) + b"COMMIT")) == "COMMIT"
    assert query_text(Packet(0, b"\x0e")) is None  # COM_PING
    assert query_text(Packet(1, b"")) is None


@pytest.mark.parametrize("sql", ["COMMIT", "commit", " Commit ;", "COMMIT;\n"])
def test_commit_is_recognised(sql: str) -> None:
    assert is_commit(sql)


@pytest.mark.parametrize("sql", ["COMMIT WORK AND CHAIN", "SELECT 'COMMIT'", "ROLLBACK", ""])
def test_other_statements_are_not_commits(sql: str) -> None:
    assert not is_commit(sql)


def test_an_undo_transaction_opens_with_its_counter_update() -> None:
    sql = (
        "UPDATE `tiundo_meta`.`undo_progress` SET txn = 3 WHERE job = 'j' AND part = 0 "
        "AND tbl = 1 AND phase = 2 AND settings = 'b' AND txn = 2"
    )
    assert opens_undo_txn(sql)
    assert not opens_undo_txn("SELECT txn FROM `tiundo_meta`.`undo_progress` WHERE job = 'j'")
    assert not opens_undo_txn(
        "INSERT INTO `m`.`undo_progress` (job, part, tbl, phase, settings, txn) VALUES (1)"
    )
    assert not opens_undo_txn("UPDATE `d`.`t` SET v = 1")
