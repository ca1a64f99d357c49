"""The simulator's logic modules stay pure so they can be tested without gRPC (STYLE.md §2)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
PURE = ("simulator.tso", "simulator.mvcc", "simulator.regions", "simulator.cdc_delegate")
FORBIDDEN = ("asyncio", "faust", "mode", "aiokafka", "grpc", "aiomysql", "rocksdict")


@pytest.mark.parametrize("module", PURE)
def test_pure_module_loads_no_io_framework(module: str) -> None:
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
