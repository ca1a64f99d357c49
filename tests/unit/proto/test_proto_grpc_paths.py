"""gRPC method paths and streaming kinds of the generated stubs (the package is in the path)."""

from typing import Any

from proto import cdcpb_pb2, cdcpb_pb2_grpc, pdpb_pb2, pdpb_pb2_grpc


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
