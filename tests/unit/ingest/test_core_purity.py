"""The ingest core imports neither I/O frameworks nor generated proto code.

tests/unit/test_layering.py covers the I/O frameworks for the modules it lists; this test also
covers ingest/keyspace.py and checks the stricter rule of the ingest core: no ``proto`` either,
so it stays testable without generated code.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
CORE = (
    "ingest.model",
    "ingest.keyspace",
    "ingest.matcher",
    "ingest.frontier",
    "ingest.partitioner",
    "ingest.region_errors",
    "ingest.batcher",
)
FORBIDDEN = (
    "asyncio",
    "faust",
    "mode",
    "aiokafka",
    "grpc",
    "aiomysql",
    "rocksdict",
    "proto",
    "google",
)


@pytest.mark.parametrize("module", CORE)
def test_core_module_is_pure(module: str) -> None:
    probe = (
        "import importlib, sys\n"
        f"importlib.import_module({module!r})\n"
        f"print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r})))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "", f"{module} pulls in {out.stdout.strip()}"
