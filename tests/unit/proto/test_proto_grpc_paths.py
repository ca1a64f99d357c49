"""gRPC method paths and streaming kinds of the generated stubs (the package is in the path)."""

from typing import Any

from proto import (
    cdcpb_pb2,
    cdcpb_pb2_grpc,
    errorpb_pb2,
    kvrpcpb_pb2,
    pdpb_pb2,
    pdpb_pb2_grpc,
    tikvpb_pb2_grpc,
)


class RecordingChannel:
    """Stands in for a grpc channel and records which multicallables a stub asks for."""

    def __init__(self) -> None:
        self.calls: dict[str, str] = {}

    def _record(self, kind: str, path: str, **_kwargs: Any) -> str:
        self.calls[path] = kind
        return path

    def unary_unary(self, path: str, **kwargs: Any) -> str:
        return self._record("unary_unary", path, **kwargs)

    def unary_stream(self, path: str, **kwargs: Any) -> str:
        return self._record("unary_stream", path, **kwargs)

    def stream_unary(self, path: str, **kwargs: Any) -> str:
        return self._record("stream_unary", path, **kwargs)

    def stream_stream(self, path: str, **kwargs: Any) -> str:
        return self._record("stream_stream", path, **kwargs)


def test_change_data_stub_paths() -> None:
    channel = RecordingChannel()
    stub = cdcpb_pb2_grpc.ChangeDataStub(channel)
    assert channel.calls == {
        "/cdcpb.ChangeData/EventFeed": "stream_stream",
        "/cdcpb.ChangeData/EventFeedV2": "stream_stream",
    }
    assert stub.EventFeed == "/cdcpb.ChangeData/EventFeed"
    assert stub.EventFeedV2 == "/cdcpb.ChangeData/EventFeedV2"


def test_pd_stub_paths() -> None:
    channel = RecordingChannel()
    pdpb_pb2_grpc.PDStub(channel)
    unary = [
        "GetMembers",
        "GetRegion",
        "GetRegionByID",
        "ScanRegions",
        "BatchScanRegions",
        "GetStore",
        "GetAllStores",
        "GetGCSafePoint",
        "UpdateServiceGCSafePoint",
    ]
    expected = {f"/pdpb.PD/{name}": "unary_unary" for name in unary}
    expected["/pdpb.PD/Tso"] = "stream_stream"
    assert channel.calls == expected


def test_service_descriptors_agree() -> None:
    change_data = cdcpb_pb2.DESCRIPTOR.services_by_name["ChangeData"]
    assert change_data.full_name == "cdcpb.ChangeData"
    feed = change_data.methods_by_name["EventFeed"]
    assert feed.input_type.full_name == "cdcpb.ChangeDataRequest"
    assert feed.output_type.full_name == "cdcpb.ChangeDataEvent"
    pd = pdpb_pb2.DESCRIPTOR.services_by_name["PD"]
    assert pd.methods_by_name["GetRegionByID"].output_type.full_name == "pdpb.GetRegionResponse"
    assert pd.methods_by_name["Tso"].output_type.full_name == "pdpb.TsoResponse"


def test_tikv_lock_resolution_stub_paths() -> None:
    channel = RecordingChannel()
    tikvpb_pb2_grpc.TikvStub(channel)
    assert channel.calls == {
        "/tikvpb.Tikv/KvScanLock": "unary_unary",
        "/tikvpb.Tikv/KvCheckTxnStatus": "unary_unary",
        "/tikvpb.Tikv/KvCheckSecondaryLocks": "unary_unary",
        "/tikvpb.Tikv/KvResolveLock": "unary_unary",
    }


def test_lock_resolution_field_numbers_match_kvproto() -> None:
    """Numbers from pingcap/kvproto kvrpcpb.proto / errorpb.proto (b6cdca197b3c)."""

    def numbers(message: Any) -> dict[str, int]:
        return {f.name: f.number for f in message.DESCRIPTOR.fields}

    assert numbers(kvrpcpb_pb2.ScanLockRequest) == {
        "context": 1, "max_version": 2, "start_key": 3, "limit": 4, "end_key": 5,
    }  # fmt: skip
    assert numbers(kvrpcpb_pb2.CheckTxnStatusRequest) == {
        "context": 1, "primary_key": 2, "lock_ts": 3, "caller_start_ts": 4, "current_ts": 5,
        "rollback_if_not_exist": 6, "force_sync_commit": 7, "resolving_pessimistic_lock": 8,
        "verify_is_primary": 9,
    }  # fmt: skip
    assert numbers(kvrpcpb_pb2.CheckTxnStatusResponse) == {
        "region_error": 1, "error": 2, "lock_ttl": 3, "commit_version": 4, "action": 5,
        "lock_info": 6,
    }  # fmt: skip
    assert numbers(kvrpcpb_pb2.ResolveLockRequest) == {
        "context": 1, "start_version": 2, "commit_version": 3, "txn_infos": 4, "keys": 5,
    }  # fmt: skip
    assert numbers(kvrpcpb_pb2.LockInfo) == {
        "primary_lock": 1, "lock_version": 2, "key": 3, "lock_ttl": 4, "txn_size": 5,
        "lock_type": 6, "lock_for_update_ts": 7, "use_async_commit": 8, "min_commit_ts": 9,
        "secondaries": 10,
    }  # fmt: skip
    assert numbers(kvrpcpb_pb2.CheckSecondaryLocksRequest) == {
        "context": 1, "keys": 2, "start_version": 3,
    }  # fmt: skip
    assert numbers(kvrpcpb_pb2.CheckSecondaryLocksResponse) == {
        "region_error": 1, "error": 2, "locks": 3, "commit_ts": 4,
    }  # fmt: skip
    assert numbers(kvrpcpb_pb2.KeyError)["txn_not_found"] == 8
    assert numbers(kvrpcpb_pb2.Context)["region_epoch"] == 2
    assert numbers(errorpb_pb2.Error) == {
        "message": 1, "not_leader": 2, "region_not_found": 3, "key_not_in_region": 4,
        "epoch_not_match": 5, "server_is_busy": 6,
    }  # fmt: skip
    assert kvrpcpb_pb2.TTLExpireRollback == 1 and kvrpcpb_pb2.LockNotExistRollback == 2
