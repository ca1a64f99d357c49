"""The committed generated code in proto/ is exactly what scripts/gen_proto.py produces now."""

import importlib.util
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[3]
PROTO_DIR = ROOT / "proto"


def _load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_proto", ROOT / "scripts" / "gen_proto.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_generated_code_is_fresh(tmp_path: Path) -> None:
    gen = _load_generator()
    fresh = {p.name: p.read_bytes() for p in gen.generate(tmp_path)}
    committed = {p.name: p.read_bytes() for p in gen.generated_files(PROTO_DIR)}

    assert sorted(fresh) == sorted(committed), "generated file set differs: run `make proto`"
    stale = [name for name in fresh if fresh[name] != committed[name]]
    assert stale == [], f"stale generated files {stale}: run `make proto`"


def test_every_proto_file_is_generated() -> None:
    sources = sorted(p.stem for p in PROTO_DIR.glob("*.proto"))
    assert sources == [
        "cdcpb",
        "errorpb",
        "kvrpcpb",
        "metapb",
        "pdpb",
        "raft_cmdpb",
        "tikvpb",
        "tiundo",
    ]
    for stem in sources:
        assert (PROTO_DIR / f"{stem}_pb2.py").is_file()
        assert (PROTO_DIR / f"{stem}_pb2.pyi").is_file()
    # gRPC stubs only where a service is declared
    assert sorted(p.name for p in PROTO_DIR.glob("*_pb2_grpc.py")) == [
        "cdcpb_pb2_grpc.py",
        "pdpb_pb2_grpc.py",
        "tikvpb_pb2_grpc.py",
    ]


def test_generated_modules_import_each_other_through_the_package() -> None:
    for path in sorted(PROTO_DIR.glob("*_pb2*.py*")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if "_pb2" in line and line.startswith(("import ", "from ")):
                assert line.startswith("from proto import "), f"{path.name}: {line}"
