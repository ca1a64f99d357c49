"""pdpb and metapb field and enum numbers, proved by hand-computed wire bytes.

Numbers from /work/shared/facts/eventfeed.md section 2 (kvproto proto/pdpb.proto,
proto/metapb.proto); the GC safe point messages from kvproto proto/pdpb.proto at b6cdca197b3c.
"""

from google.protobuf import descriptor_pb2
from google.protobuf.descriptor import EnumDescriptor

from proto import metapb_pb2, pdpb_pb2


def h(text: str) -> bytes:
    return bytes.fromhex(text)


def enum_map(descriptor: EnumDescriptor) -> dict[str, int]:
    return {v.name: v.number for v in descriptor.values}


def test_tso_request() -> None:
    request = pdpb_pb2.TsoRequest(header=pdpb_pb2.RequestHeader(cluster_id=7), count=1)
    wire = h("0a 02 08 07 10 01")  # header f1 {cluster_id f1}, count f2
    assert request.SerializeToString() == wire
    assert pdpb_pb2.TsoRequest.FromString(wire) == request
    assert pdpb_pb2.TsoRequest(dc_location="g").SerializeToString() == h("1a 01 67")


def test_timestamp_is_plain_int64() -> None:
    stamp = pdpb_pb2.Timestamp(physical=1, logical=2, suffix_bits=3)
    assert stamp.SerializeToString() == h("08 01 10 02 18 03")
    # int64, not sint64: -1 is a 10-byte varint, not zigzag 01
    assert pdpb_pb2.Timestamp(logical=-1).SerializeToString() == h("10" + " ff" * 9 + " 01")


def test_tso_response() -> None:
    response = pdpb_pb2.TsoResponse(
        header=pdpb_pb2.ResponseHeader(cluster_id=7),
        count=3,
        timestamp=pdpb_pb2.Timestamp(physical=1_700_000_000_000, logical=3),
    )
    # physical 1_700_000_000_000 = 0x18BCFE56800 -> varint 80 d0 95 ff bc 31
    wire = h("0a 02 08 07 10 03 1a 09 08 80 d0 95 ff bc 31 10 03")
    assert response.SerializeToString() == wire
    back = pdpb_pb2.TsoResponse.FromString(wire)
    assert back.timestamp.physical << 18 | back.timestamp.logical == (1_700_000_000_000 << 18) + 3


def test_response_header_error() -> None:
    header = pdpb_pb2.ResponseHeader(
        cluster_id=1,
        error=pdpb_pb2.Error(type=pdpb_pb2.REGION_NOT_FOUND, message="x"),
    )
    assert header.SerializeToString() == h("08 01 12 05 08 06 12 01 78")


def test_metapb_region() -> None:
    region = metapb_pb2.Region(
        id=1,
        start_key=b"a",
        end_key=b"b",
        region_epoch=metapb_pb2.RegionEpoch(conf_ver=1, version=2),
        peers=[metapb_pb2.Peer(id=3, store_id=4, role=metapb_pb2.Learner, is_witness=True)],
        is_in_flashback=True,
        flashback_start_ts=9,
    )
    wire = h(
        "08 01 12 01 61 1a 01 62"  # id f1, start_key f2, end_key f3
        " 22 04 08 01 10 02"  # region_epoch f4
        " 2a 08 08 03 10 04 18 01 20 01"  # peers f5 {id, store_id, role Learner, is_witness}
        " 38 01 40 09"  # is_in_flashback f7, flashback_start_ts f8
    )
    assert region.SerializeToString() == wire
    assert metapb_pb2.Region.FromString(wire) == region


def test_metapb_region_skips_undeclared_encryption_meta() -> None:
    # field 6 (encryption_meta) is not declared: kept as unknown, the rest still parses
    back = metapb_pb2.Region.FromString(h("08 01 32 02 08 01 38 01"))
    assert back.id == 1
    assert back.is_in_flashback


def test_metapb_store() -> None:
    store = metapb_pb2.Store(
        id=1,
        address="a",
        state=metapb_pb2.Offline,
        labels=[metapb_pb2.StoreLabel(key="k", value="v")],
        version="8",
        node_state=metapb_pb2.Serving,
    )
    wire = h("08 01 12 01 61 18 01 22 06 0a 01 6b 12 01 76 2a 01 38 68 01")
    assert store.SerializeToString() == wire
    assert metapb_pb2.Store(status_address="s").SerializeToString() == h("3a 01 73")
    assert metapb_pb2.Store(last_heartbeat=1).SerializeToString() == h("58 01")


def test_get_region_response_has_field_4_reserved() -> None:
    response = pdpb_pb2.GetRegionResponse(
        region=metapb_pb2.Region(id=1),
        leader=metapb_pb2.Peer(id=1),
        down_peers=[pdpb_pb2.PeerStats(down_seconds=1)],
        pending_peers=[metapb_pb2.Peer(id=2)],
    )
    assert response.SerializeToString() == h("12 02 08 01 1a 02 08 01 2a 02 10 01 32 02 08 02")
    assert 4 not in pdpb_pb2.GetRegionResponse.DESCRIPTOR.fields_by_number
    proto = descriptor_pb2.DescriptorProto()
    pdpb_pb2.GetRegionResponse.DESCRIPTOR.CopyToProto(proto)
    assert [(r.start, r.end) for r in proto.reserved_range] == [(4, 5)]


def test_get_region_requests() -> None:
    assert pdpb_pb2.GetRegionRequest(region_key=b"k", need_buckets=True).SerializeToString() == h(
        "12 01 6b 18 01"
    )
    assert pdpb_pb2.GetRegionByIDRequest(region_id=5).SerializeToString() == h("10 05")


def test_scan_regions() -> None:
    request = pdpb_pb2.ScanRegionsRequest(start_key=b"a", limit=-1, end_key=b"z")
    # limit is int32: -1 sign-extends to a 10-byte varint
    assert request.SerializeToString() == h("12 01 61 18" + " ff" * 9 + " 01 22 01 7a")
    response = pdpb_pb2.ScanRegionsResponse(
        region_metas=[metapb_pb2.Region(id=1)],
        leaders=[metapb_pb2.Peer(id=2)],
        regions=[pdpb_pb2.Region(region=metapb_pb2.Region(id=1), leader=metapb_pb2.Peer(id=2))],
    )
    assert response.SerializeToString() == h(
        "12 02 08 01 1a 02 08 02 22 08 0a 02 08 01 12 02 08 02"
    )


def test_batch_scan_regions() -> None:
    request = pdpb_pb2.BatchScanRegionsRequest(
        need_buckets=True,
        ranges=[pdpb_pb2.KeyRange(start_key=b"a", end_key=b"b")],
        limit=2,
        contain_all_key_range=True,
    )
    assert request.SerializeToString() == h("10 01 1a 06 0a 01 61 12 01 62 20 02 28 01")
    region = pdpb_pb2.Region(
        down_peers=[pdpb_pb2.PeerStats(peer=metapb_pb2.Peer(id=1))],
        pending_peers=[metapb_pb2.Peer(id=2)],
    )
    assert region.SerializeToString() == h("1a 04 0a 02 08 01 22 02 08 02")
    response = pdpb_pb2.BatchScanRegionsResponse(regions=[pdpb_pb2.Region()])
    assert response.SerializeToString() == h("12 00")


def test_get_members() -> None:
    member = pdpb_pb2.Member(name="p", member_id=1, client_urls=["u"], leader_priority=1)
    assert member.SerializeToString() == h("0a 01 70 10 01 22 01 75 28 01")
    response = pdpb_pb2.GetMembersResponse(
        header=pdpb_pb2.ResponseHeader(cluster_id=9),
        members=[pdpb_pb2.Member(member_id=1)],
        leader=pdpb_pb2.Member(member_id=1),
        etcd_leader=pdpb_pb2.Member(member_id=1),
    )
    assert response.SerializeToString() == h("0a 02 08 09 12 02 10 01 1a 02 10 01 22 02 10 01")
    response.tso_allocator_leaders["g"].member_id = 2
    # map entry f5 {key f1 "g", value f2 {member_id f2}}
    assert response.SerializeToString().endswith(h("2a 07 0a 01 67 12 02 10 02"))


def test_stores() -> None:
    request = pdpb_pb2.GetStoreRequest(header=pdpb_pb2.RequestHeader(cluster_id=1), store_id=4)
    assert request.SerializeToString() == h("0a 02 08 01 10 04")
    assert pdpb_pb2.GetStoreResponse(store=metapb_pb2.Store(id=4)).SerializeToString() == h(
        "12 02 08 04"
    )
    all_request = pdpb_pb2.GetAllStoresRequest(exclude_tombstone_stores=True)
    assert all_request.SerializeToString() == h("10 01")
    all_response = pdpb_pb2.GetAllStoresResponse(stores=[metapb_pb2.Store(id=4)])
    assert all_response.SerializeToString() == h("12 02 08 04")


def test_request_header_caller_fields() -> None:
    header = pdpb_pb2.RequestHeader(cluster_id=1, sender_id=2, caller_id="c", caller_component="d")
    assert header.SerializeToString() == h("08 01 10 02 1a 01 63 22 01 64")


def test_gc_safe_points() -> None:
    assert pdpb_pb2.GetGCSafePointResponse(safe_point=5).SerializeToString() == h("10 05")
    update = pdpb_pb2.UpdateServiceGCSafePointRequest(service_id=b"s", TTL=60, safe_point=5)
    assert update.SerializeToString() == h("12 01 73 18 3c 20 05")
    answer = pdpb_pb2.UpdateServiceGCSafePointResponse(service_id=b"s", TTL=60, min_safe_point=5)
    assert answer.SerializeToString() == h("12 01 73 18 3c 20 05")
    assert pdpb_pb2.UpdateServiceGCSafePointRequest(TTL=-1).SerializeToString() == h(
        "18" + " ff" * 9 + " 01"
    )


def test_enum_numbers_by_name() -> None:
    assert enum_map(pdpb_pb2.ErrorType.DESCRIPTOR) == {
        "OK": 0,
        "UNKNOWN": 1,
        "NOT_BOOTSTRAPPED": 2,
        "STORE_TOMBSTONE": 3,
        "ALREADY_BOOTSTRAPPED": 4,
        "INCOMPATIBLE_VERSION": 5,
        "REGION_NOT_FOUND": 6,
        "GLOBAL_CONFIG_NOT_FOUND": 7,
        "DUPLICATED_ENTRY": 8,
        "ENTRY_NOT_FOUND": 9,
        "INVALID_VALUE": 10,
        "DATA_COMPACTED": 11,
        "REGIONS_NOT_CONTAIN_ALL_KEY_RANGE": 12,
    }
    assert enum_map(metapb_pb2.StoreState.DESCRIPTOR) == {"Up": 0, "Offline": 1, "Tombstone": 2}
    assert enum_map(metapb_pb2.NodeState.DESCRIPTOR) == {
        "Preparing": 0,
        "Serving": 1,
        "Removing": 2,
        "Removed": 3,
    }
    assert enum_map(metapb_pb2.PeerRole.DESCRIPTOR) == {
        "Voter": 0,
        "Learner": 1,
        "IncomingVoter": 2,
        "DemotingVoter": 3,
    }
    assert pdpb_pb2.DESCRIPTOR.package == "pdpb"
