"""Regenerate the committed protobuf/gRPC Python code in proto/ (``make proto``).

Why the import layout looks the way it does: the generated modules must live in the ``proto``
package and import each other as ``from proto import metapb_pb2``. protoc derives those imports
from each ``.proto`` file's path relative to the include root, so every file is compiled with the
repository root as the only include root (``-I .``) and the ``.proto`` files import each other as
``import "proto/metapb.proto";``. No post-processing of the output is needed. The only visible
cost is that the descriptor pool knows the files as ``proto/cdcpb.proto`` instead of kvproto's
``cdcpb.proto``; file names never travel on the wire (package, message and field numbers do).

Output is deterministic for a given grpcio-tools version (files are passed in sorted order, in
one protoc run), so tests/unit/proto/test_generated_fresh.py can regenerate into a temporary
directory and compare byte for byte with the committed files.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "proto"
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")
_SERVICE_RE = re.compile(r"^\s*service\s+\w+\s*\{", re.MULTILINE)


def proto_sources(root: Path = ROOT) -> list[Path]:
    """The ``.proto`` files to compile, sorted so the run is reproducible."""
    return sorted((root / PACKAGE).glob("*.proto"))


def generated_files(directory: Path) -> list[Path]:
    """Every generated file currently in ``directory`` (a ``proto`` package folder)."""
    return sorted(
        p for p in directory.iterdir() if p.is_file() and p.name.endswith(GENERATED_SUFFIXES)
    )


def generate(out_root: Path, root: Path = ROOT) -> list[Path]:
    """Compile every ``proto/*.proto`` of ``root`` into ``out_root/proto/`` and list the outputs.

    Raises RuntimeError when protoc reports an error (its messages go to stderr).
    """
    sources = proto_sources(root)
    if not sources:
        raise RuntimeError(f"no .proto files under {root / PACKAGE}")
    (out_root / PACKAGE).mkdir(parents=True, exist_ok=True)
    args = [
        "grpc_tools.protoc",
        f"-I{root}",
        f"--python_out={out_root}",
        f"--pyi_out={out_root}",
        f"--grpc_python_out={out_root}",
        *(str(src.relative_to(root)) for src in sources),
    ]
    rc = protoc.main(args)
    if rc != 0:
        raise RuntimeError(f"protoc failed with exit code {rc}: {' '.join(args)}")
    # protoc writes a *_pb2_grpc.py for every file; without a service it only holds a version
    # check, so keep the stubs only where there is something to call.
    for src in sources:
        if not _SERVICE_RE.search(src.read_text(encoding="utf-8")):
            (out_root / PACKAGE / f"{src.stem}_pb2_grpc.py").unlink(missing_ok=True)
    return generated_files(out_root / PACKAGE)


def regenerate_in_place(root: Path = ROOT) -> list[Path]:
    """Replace the generated files of ``root/proto`` with fresh output, dropping stale ones."""
    with tempfile.TemporaryDirectory(prefix="tiundo-proto-") as tmp:
        fresh = generate(Path(tmp), root)
        target = root / PACKAGE
        fresh_names = {p.name for p in fresh}
        for old in generated_files(target):
            if old.name not in fresh_names:
                old.unlink()
        written = []
        for src in fresh:
            dst = target / src.name
            data = src.read_bytes()
            if not dst.exists() or dst.read_bytes() != data:
                dst.write_bytes(data)
            written.append(dst)
    return written


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: regenerate in place and list what is there."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="repository root")
    ns = parser.parse_args(argv)
    for path in regenerate_in_place(ns.root.resolve()):
        print(path.relative_to(ns.root.resolve()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
