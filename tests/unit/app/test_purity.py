"""The pure modules of the Faust app's area load no I/O framework (STYLE.md §2)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
FORBIDDEN = ("asyncio", "faust", "mode", "aiokafka", "grpc", "aiomysql", "rocksdict", "aiohttp")


@pytest.mark.parametrize(
    "module", ["app.config", "app.report", "app.barrier", "app.stages.mount", "app.stages.scan"]
)
def test_pure(module: str) -> None:
    probe = (
        f"import importlib, sys; importlib.import_module({module!r}); "
        f"print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r})))"
    )
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "", f"{module} pulls in {out.stdout.strip()}"
