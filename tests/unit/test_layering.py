"""The pure core stays pure (DESIGN.md §4, STYLE.md §2).

Each pure module is imported in a fresh interpreter; none of the I/O frameworks may get loaded.
New modules in the pure packages are picked up by the globs, so the rule cannot rot silently.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PURE_GLOBS = (
    "app/__init__.py",
    "core/errors.py",
    "core/urls.py",
    "core/settings.py",
    "core/private.py",
    "core/sqlident.py",
    "core/digest.py",
    "core/logs.py",
    "core/jobnames.py",
    "core/topicpolicy.py",
    "core/metrics_addr.py",
    "app/config.py",
    "app/report.py",
    "app/rpo.py",
    "app/jobrecord.py",
    "app/undo/barrier.py",
    "app/undo/mount.py",
    "app/stages/scan.py",
    "app/stages/settle.py",
    "core/codec/*.py",
    "app/undo/*.py",
    "ingest/__init__.py",
    "ingest/model.py",
    "ingest/changefeeds.py",
    "ingest/matcher.py",
    "ingest/fold.py",
    "ingest/frontier.py",
    "ingest/partitioner.py",
    "ingest/region_errors.py",
    "ingest/batcher.py",
    "ingest/keyspace.py",
    "ingest/patterns.py",
    "ingest/region_worker.py",
    "ingest/locks.py",
    "ingest/txncount.py",
    "simulator/__init__.py",
    "simulator/tabledef.py",
    "simulator/catalog.py",
    "simulator/syncpoint.py",
    "simulator/rowgen.py",
    "simulator/tso.py",
    "simulator/mvcc.py",
    "simulator/lock_service.py",
    "simulator/regions.py",
    "simulator/cdc_delegate.py",
    "proto/__init__.py",
    "proto/*_pb2.py",
)
FORBIDDEN = (
    "asyncio",
    "faust",
    "mode",
    "aiokafka",
    "grpc",
    "aiomysql",
    "aiohttp",
    "rocksdict",
)
# the ingest core is stricter: not even generated code, so it is testable without protoc output
PROTO_FREE = (
    "ingest.model",
    "ingest.changefeeds",
    "ingest.keyspace",
    "ingest.matcher",
    "ingest.frontier",
    "ingest.partitioner",
    "ingest.region_errors",
    "ingest.batcher",
)
# modules that must exist already: if a refactor moves them, update this list consciously
REQUIRED = ("app", "core.errors", "ingest", "simulator", "proto")


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def _pure_modules() -> list[str]:
    found = {_module_name(p) for pattern in PURE_GLOBS for p in ROOT.glob(pattern)}
    return sorted(found)


def test_required_pure_modules_exist() -> None:
    assert set(REQUIRED) <= set(_pure_modules())


def _forbidden_for(module: str) -> tuple[str, ...]:
    return (*FORBIDDEN, "proto", "google") if module in PROTO_FREE else FORBIDDEN


def test_proto_free_modules_are_checked() -> None:
    assert set(PROTO_FREE) <= set(_pure_modules())


@pytest.mark.parametrize("module", _pure_modules())
def test_pure_module_loads_no_io_framework(module: str) -> None:
    probe = (
        "import importlib, sys\n"
        f"importlib.import_module({module!r})\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {_forbidden_for(module)!r})\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "", f"{module} pulls in {out.stdout.strip()}"
