"""cdcpb field and enum numbers, proved by hand-computed wire bytes.

Each expected byte string is written out by hand from the protobuf encoding rules
(tag = field_number << 3 | wire_type; 0 = varint, 2 = length-delimited) and the field numbers in
/work/shared/facts/eventfeed.md section 1.3 (kvproto proto/cdcpb.proto). Serialising gives fields
in field-number order, and parsing the same bytes back checks the decode direction.
"""

from collections.abc import Callable

import pytest
from google.protobuf.descriptor import EnumDescriptor

from proto import cdcpb_pb2, errorpb_pb2, kvrpcpb_pb2, metapb_pb2, raft_cmdpb_pb2

Event = cdcpb_pb2.Event
Row = cdcpb_pb2.Event.Row
Req = cdcpb_pb2.ChangeDataRequest


def h(text: str) -> bytes:
    return bytes.fromhex(text)


@pytest.mark.parametrize(
    ("row", "wire"),
    [
        (Row(start_ts=1), "08 01"),
        (Row(commit_ts=2), "10 02"),
        (Row(type=Event.COMMITTED), "18 04"),
        (Row(op_type=Row.DELETE), "20 02"),
        (Row(key=b"k"), "2a 01 6b"),
        (Row(value=b"v"), "32 01 76"),
        (Row(old_value=b"ab"), "3a 02 61 62"),
        (Row(expire_ts_unix_secs=1), "40 01"),
        (Row(txn_source=1), "48 01"),
        (Row(generation=1), "50 01"),
    ],
)
def test_row_single_field_bytes(row: cdcpb_pb2.Event.Row, wire: str) -> None:
    assert row.SerializeToString() == h(wire)
    assert Row.FromString(h(wire)) == row


def test_row_round_trip_all_fields() -> None:
    wire = h("08 01 10 02 18 04 20 01 2a 01 6b 32 01 76 3a 01 6f 48 03 50 04")
    row = Row.FromString(wire)
    assert (row.start_ts, row.commit_ts, row.type, row.op_type) == (1, 2, Event.COMMITTED, Row.PUT)
    assert (row.key, row.value, row.old_value) == (b"k", b"v", b"o")
    assert (row.txn_source, row.generation) == (3, 4)
    assert row.SerializeToString() == wire


def test_tso_sized_varint() -> None:
    # ts = physical 1 << 18 | logical 1 = 262145 -> varint 81 80 10
    assert Row(commit_ts=(1 << 18) | 1).SerializeToString() == h("10 81 80 10")


def test_event_entries_and_request_id() -> None:
    event = Event(
        region_id=3,
        request_id=9,
        entries=Event.Entries(entries=[Row(type=Event.INITIALIZED)]),
    )
    # region_id f1, entries f3 {entries f1 {type f3 = 5}}, request_id f7
    wire = h("08 03 1a 04 0a 02 18 05 38 09")
    assert event.SerializeToString() == wire
    back = Event.FromString(wire)
    assert back.WhichOneof("event") == "entries"
    assert back.entries.entries[0].type == Event.INITIALIZED
    assert back.request_id == 9


def test_event_error_not_leader() -> None:
    error = cdcpb_pb2.Error(
        not_leader=errorpb_pb2.NotLeader(region_id=3, leader=metapb_pb2.Peer(id=4, store_id=5))
    )
    event = Event(region_id=3, request_id=9, error=error)
    # error f5 {not_leader f1 {region_id f1 = 3, leader f2 {id f1 = 4, store_id f2 = 5}}}
    wire = h("08 03 2a 0a 0a 08 08 03 12 04 08 04 10 05 38 09")
    assert event.SerializeToString() == wire
    back = Event.FromString(wire)
    assert back.WhichOneof("event") == "error"
    assert back.error.not_leader.leader.store_id == 5


@pytest.mark.parametrize(
    ("wire", "field", "check"),
    [
        ("12 02 08 07", "region_not_found", lambda e: e.region_not_found.region_id == 7),
        (
            "1a 07 0a 05 08 07 1a 01 01",
            "epoch_not_match",
            lambda e: (
                [(r.id, r.end_key) for r in e.epoch_not_match.current_regions] == [(7, b"\x01")]
            ),
        ),
        ("22 02 08 07", "duplicate_request", lambda e: e.duplicate_request.region_id == 7),
        ("2a 03 0a 01 36", "compatibility", lambda e: e.compatibility.required_version == "6"),
        (
            "32 04 08 01 10 02",
            "cluster_id_mismatch",
            lambda e: (e.cluster_id_mismatch.current, e.cluster_id_mismatch.request) == (1, 2),
        ),
        (
            "3a 09 0a 01 78 10 02 18 03 20 04",
            "server_is_busy",
            lambda e: (
                (
                    e.server_is_busy.reason,
                    e.server_is_busy.backoff_ms,
                    e.server_is_busy.estimated_wait_ms,
                    e.server_is_busy.applied_index,
                )
                == ("x", 2, 3, 4)
            ),
        ),
        ("42 02 08 07", "congested", lambda e: e.congested.region_id == 7),
    ],
)
def test_error_variants_by_field_number(
    wire: str, field: str, check: Callable[[cdcpb_pb2.Error], bool]
) -> None:
    error = cdcpb_pb2.Error.FromString(h(wire))
    assert [f.name for f, _ in error.ListFields()] == [field]
    assert check(error)
    assert error.SerializeToString() == h(wire)


def test_event_deprecated_resolved_ts_admin_long_txn() -> None:
    old = Event(region_id=1, resolved_ts=5)
    assert old.SerializeToString() == h("08 01 30 05")
    assert Event.DESCRIPTOR.fields_by_name["resolved_ts"].GetOptions().deprecated

    admin = Event(
        admin=Event.Admin(
            admin_request=raft_cmdpb_pb2.AdminRequest(cmd_type=raft_cmdpb_pb2.BatchSplit),
            admin_response=raft_cmdpb_pb2.AdminResponse(cmd_type=raft_cmdpb_pb2.BatchSplit),
        )
    )
    assert admin.SerializeToString() == h("22 08 0a 02 08 0a 12 02 08 0a")

    long_txn = Event(long_txn=Event.LongTxn(txn_info=[cdcpb_pb2.TxnInfo(start_ts=1, primary=b"p")]))
    assert long_txn.SerializeToString() == h("42 07 0a 05 08 01 12 01 70")

    # index f2 is outside the oneof
    assert Event(index=2).SerializeToString() == h("10 02")
    assert [f.name for f in Event.DESCRIPTOR.oneofs_by_name["event"].fields] == [
        "entries",
        "admin",
        "error",
        "resolved_ts",
        "long_txn",
    ]


def test_change_data_event_resolved_ts_packed_regions() -> None:
    resolved = cdcpb_pb2.ResolvedTs(regions=[1, 2, 300], ts=5, request_id=6)
    # regions f1 packed: 01 02 ac02 (300); ts f2; request_id f3
    inner = "0a 04 01 02 ac 02 10 05 18 06"
    assert resolved.SerializeToString() == h(inner)
    message = cdcpb_pb2.ChangeDataEvent(resolved_ts=resolved)
    wire = h("12 0a " + inner)
    assert message.SerializeToString() == wire
    back = cdcpb_pb2.ChangeDataEvent.FromString(wire)
    assert back.HasField("resolved_ts")
    assert list(back.resolved_ts.regions) == [1, 2, 300]
    assert len(back.events) == 0


def test_resolved_ts_accepts_unpacked_regions() -> None:
    back = cdcpb_pb2.ResolvedTs.FromString(h("08 01 08 02 10 05"))
    assert list(back.regions) == [1, 2]
    assert back.ts == 5


def test_change_data_event_events_field() -> None:
    message = cdcpb_pb2.ChangeDataEvent(events=[Event(region_id=1), Event(region_id=2)])
    assert message.SerializeToString() == h("0a 02 08 01 0a 02 08 02")


def test_change_data_request_round_trip() -> None:
    request = Req(
        header=cdcpb_pb2.Header(cluster_id=1, ticdc_version="8.5.0"),
        region_id=2,
        region_epoch=metapb_pb2.RegionEpoch(conf_ver=1, version=2),
        checkpoint_ts=(1 << 18) | 1,
        start_key=b"a",
        end_key=b"b",
        request_id=7,
        extra_op=kvrpcpb_pb2.ReadOldValue,
        register=Req.Register(),
        kv_api=Req.RawKV,
        filter_loop=True,
        scan_priority=cdcpb_pb2.SCAN_PRIORITY_HIGH,
    )
    wire = h(
        "0a 09 08 01 12 05 38 2e 35 2e 30"  # header f1 {cluster_id f1, ticdc_version f2 "8.5.0"}
        " 10 02"  # region_id f2
        " 1a 04 08 01 10 02"  # region_epoch f3 {conf_ver f1, version f2}
        " 20 81 80 10"  # checkpoint_ts f4
        " 2a 01 61 32 01 62"  # start_key f5, end_key f6
        " 38 07"  # request_id f7
        " 40 01"  # extra_op f8 = ReadOldValue
        " 4a 00"  # register f9 (empty message)
        " 58 01"  # kv_api f11 = RawKV
        " 60 01"  # filter_loop f12
        " 70 02"  # scan_priority f14 = HIGH
    )
    assert request.SerializeToString() == wire
    back = Req.FromString(wire)
    assert back == request
    assert back.WhichOneof("request") == "register"
    assert back.header.ticdc_version == "8.5.0"


@pytest.mark.parametrize(
    ("request_", "wire"),
    [
        (Req(filter_loop=True), "60 01"),
        (Req(deregister=Req.Deregister()), "6a 00"),
        (Req(register=Req.Register()), "4a 00"),
        (Req(kv_api=Req.TxnKV), "58 02"),
        (
            Req(
                notify_txn_status=Req.NotifyTxnStatus(txn_status=[cdcpb_pb2.TxnStatus(commit_ts=3)])
            ),
            "52 04 0a 02 18 03",
        ),
    ],
)
def test_change_data_request_single_fields(
    request_: cdcpb_pb2.ChangeDataRequest, wire: str
) -> None:
    assert request_.SerializeToString() == h(wire)
    assert Req.FromString(h(wire)) == request_


def test_request_oneof_switches() -> None:
    request = Req(register=Req.Register())
    request.deregister.SetInParent()
    assert request.WhichOneof("request") == "deregister"
    assert not request.HasField("register")
    assert Req().WhichOneof("request") is None  # TiKV treats unset as Register


def test_txn_status_fields() -> None:
    status = cdcpb_pb2.TxnStatus(start_ts=1, min_commit_ts=2, commit_ts=3, is_rolled_back=True)
    assert status.SerializeToString() == h("08 01 10 02 18 03 20 01")


def enum_map(descriptor: EnumDescriptor) -> dict[str, int]:
    return {v.name: v.number for v in descriptor.values}


def test_enum_numbers_by_name() -> None:
    assert enum_map(Event.LogType.DESCRIPTOR) == {
        "UNKNOWN": 0,
        "PREWRITE": 1,
        "COMMIT": 2,
        "ROLLBACK": 3,
        "COMMITTED": 4,
        "INITIALIZED": 5,
    }
    assert enum_map(Row.OpType.DESCRIPTOR) == {"UNKNOWN": 0, "PUT": 1, "DELETE": 2}
    assert enum_map(Req.KvAPI.DESCRIPTOR) == {"TiDB": 0, "RawKV": 1, "TxnKV": 2}
    assert enum_map(cdcpb_pb2.ScanPriority.DESCRIPTOR) == {
        "SCAN_PRIORITY_UNKNOWN": 0,
        "SCAN_PRIORITY_LOW": 1,
        "SCAN_PRIORITY_HIGH": 2,
    }
    assert enum_map(kvrpcpb_pb2.ExtraOp.DESCRIPTOR) == {"Noop": 0, "ReadOldValue": 1}
    assert Event.COMMITTED == 4
    assert Row.DELETE == 2


def test_raft_cmdpb_admin_cmd_type() -> None:
    assert enum_map(raft_cmdpb_pb2.AdminCmdType.DESCRIPTOR) == {
        "InvalidAdmin": 0,
        "ChangePeer": 1,
        "Split": 2,
        "CompactLog": 3,
        "TransferLeader": 4,
        "ComputeHash": 5,
        "VerifyHash": 6,
        "PrepareMerge": 7,
        "CommitMerge": 8,
        "RollbackMerge": 9,
        "BatchSplit": 10,
        "ChangePeerV2": 11,
        "PrepareFlashback": 12,
        "FinishFlashback": 13,
        "BatchSwitchWitness": 14,
        "UpdateGcPeer": 15,
    }


def test_package_names_and_field_counts() -> None:
    # package names are on the wire (method paths, Any type urls); keep them exact
    assert cdcpb_pb2.DESCRIPTOR.package == "cdcpb"
    assert errorpb_pb2.DESCRIPTOR.package == "errorpb"
    assert metapb_pb2.DESCRIPTOR.package == "metapb"
    assert kvrpcpb_pb2.DESCRIPTOR.package == "kvrpcpb"
    assert raft_cmdpb_pb2.DESCRIPTOR.package == "raft_cmdpb"
    numbers = {
        "cdcpb.Event.Row": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
        "cdcpb.Event": [1, 2, 3, 4, 5, 6, 7, 8],
        "cdcpb.Error": [1, 2, 3, 4, 5, 6, 7, 8],
        "cdcpb.ChangeDataRequest": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14],
        "cdcpb.ChangeDataEvent": [1, 2],
        "cdcpb.ResolvedTs": [1, 2, 3],
    }
    pool = cdcpb_pb2.DESCRIPTOR.pool
    for full_name, expected in numbers.items():
        message = pool.FindMessageTypeByName(full_name)
        assert sorted(message.fields_by_number) == expected, full_name
