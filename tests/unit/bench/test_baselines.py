"""The raw-apply limit plans the net rows with tiundo's planner: one action per changed key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from app.undo.sqlgen import BatchLimits
from bench.rto.baselines import CONTENDERS, build_statements
from bench.rto.config import WorkloadSize
from bench.rto.contenders import all_contenders
from bench.rto.history import generate, net_rows
from bench.rto.schema import bench_tables

ROOT = Path(__file__).resolve().parents[3]


def test_statements_cover_every_changed_key_once() -> None:
    tables = bench_tables("db")
    history = generate(tables, WorkloadSize("t", changes=3_000, rows=600), seed=1)
    net = net_rows(history)
    per_table = build_statements(tables, net, BatchLimits(max_rows=50))
    for tdef, rows, phases in zip(tables, net, per_table, strict=True):
        kinds: dict[str, int] = {}
        for phase in phases:
            for st in phase:
                assert st.rows <= 50
                assert f"`db`.`{tdef.name}`" in st.sql
                kinds[st.kind] = kinds.get(st.kind, 0) + st.rows
        restore = sum(r.t_image is not None and r.t_image != r.e_image for r in rows)
        delete = sum(r.t_image is None and r.e_image is not None for r in rows)
        if tdef.uses_rowid:
            assert len(phases) == 2
            assert kinds.get("insert", 0) == restore
            # phase 1 removes every changed row present at E
            gone = sum(r.e_image is not None and r.t_image != r.e_image for r in rows)
            assert kinds.get("delete", 0) + kinds.get("delete_row", 0) == gone
        else:
            assert len(phases) == 1
            assert kinds.get("replace", 0) == restore
            assert kinds.get("delete", 0) == delete


def test_registry() -> None:
    names = [c.name for c in all_contenders()]
    assert names[: len(CONTENDERS)] == ["raw_apply", "raw_apply_2conn", "per_event"]
    assert len(set(names)) == len(names)


def test_pure_modules_load_no_io_framework() -> None:
    code = (
        "import sys\n"
        "import bench.rto, bench.rto.config, bench.rto.schema, bench.rto.history, "
        "bench.rto.pervent, bench.rto.stats, bench.rto.store, bench.rto.mvcc_feed\n"
        "bad = [m for m in ('asyncio', 'aiomysql', 'faust', 'grpc', 'aiokafka', 'matplotlib')"
        " if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == ""


def test_a_new_contender_module_plugs_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "fake_tiundo_contender.py").write_text(
        "from bench.rto.contenders import Contender\n"
        "async def e2e(env, params):\n"
        "    return {'seconds': 1.0}\n"
        "CONTENDERS = tuple(\n"
        "    Contender(f'tiundo_w{w}_p{p}', 'tiundo', e2e, {'workers': w, 'partitions': p})\n"
        "    for w in (1, 2) for p in (1, 4, 8)\n"
        ")\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    found = all_contenders(("bench.rto.baselines", "fake_tiundo_contender"))
    assert [c.name for c in found][-6:] == [
        "tiundo_w1_p1",
        "tiundo_w1_p4",
        "tiundo_w1_p8",
        "tiundo_w2_p1",
        "tiundo_w2_p4",
        "tiundo_w2_p8",
    ]
    assert found[-1].params == {"workers": 2, "partitions": 8}
    with pytest.raises(ValueError, match="repeated"):
        all_contenders(("bench.rto.baselines", "bench.rto.baselines"))
