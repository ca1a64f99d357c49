"""Imports only go down the floors (docs/DESIGN.md §4, README "Layout").

::

    app.cli      the operator CLI and job orchestration      may import everything below
    app          the Faust undo app (undo/, stages/, sink/)  core, proto
    ingest       EventFeed → Kafka                           core, proto
    core         foundation: errors, codec, retry, …         proto
    proto        generated messages                          nothing of ours

``simulator`` (the fake cluster) stands beside the product: it may use ``core`` and ``proto``,
and only tests, benchmarks and scripts may import it. Every ``import`` statement counts,
including those inside functions, so a lazy import cannot hide a wrong direction.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OURS = ("app", "core", "ingest", "proto", "simulator")

#: floor → the top-level packages (or ``app`` sub-floors) it may import
ALLOWED: dict[str, frozenset[str]] = {
    "proto": frozenset({"proto"}),
    "core": frozenset({"core", "proto"}),
    "ingest": frozenset({"ingest", "core", "proto"}),
    "app": frozenset({"app", "core", "proto"}),
    "app.cli": frozenset({"app.cli", "app", "ingest", "core", "proto"}),
    "simulator": frozenset({"simulator", "core", "proto"}),
}


def floor_of(module: str) -> str | None:
    """The floor a dotted module name stands on (``None``: not ours)."""
    parts = module.split(".")
    if parts[0] not in OURS:
        return None
    if parts[:2] == ["app", "cli"]:
        return "app.cli"
    return parts[0]


def module_of(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def imported_modules(source: str, module: str, *, is_package: bool) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in ``source``, relative ones resolved."""
    out: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            out.append((node.lineno, name))
            # `from app import cli` names a module too
            out.extend((node.lineno, f"{name}.{alias.name}") for alias in node.names)
    return out


def violations(source: str, module: str, *, is_package: bool = False) -> list[str]:
    """Imports of ``module``'s source that climb a floor or reach the simulator."""
    here = floor_of(module)
    if here is None:
        return []
    bad = []
    for line, name in imported_modules(source, module, is_package=is_package):
        there = floor_of(name)
        if there is None or there in ALLOWED[here]:
            continue
        bad.append(f"{module}:{line} imports {name} ({here} may not import {there})")
    return bad


def product_files() -> list[Path]:
    return sorted(
        p
        for top in OURS
        for p in (ROOT / top).rglob("*.py")
        if "_pb2" not in p.name and "__pycache__" not in p.parts
    )


def test_every_floor_is_known() -> None:
    floors = {floor_of(module_of(p)) for p in product_files()}
    assert floors == set(ALLOWED), floors


@pytest.mark.parametrize("path", product_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_only_go_down(path: Path) -> None:
    found = violations(
        path.read_text(encoding="utf-8"), module_of(path), is_package=path.name == "__init__.py"
    )
    assert found == []


def test_nothing_outside_tests_bench_scripts_imports_the_simulator() -> None:
    users = set()
    for path in product_files():
        module = module_of(path)
        if floor_of(module) == "simulator":
            continue
        source = path.read_text(encoding="utf-8")
        names = imported_modules(source, module, is_package=path.name == "__init__.py")
        if any(floor_of(name) == "simulator" for _, name in names):
            users.add(module)
    assert users == set()


# ---------------------------------------------------------------- the rule itself can fail


@pytest.mark.parametrize(
    ("module", "source", "culprit"),
    [
        ("ingest.worker", "from app.undo import plan\n", "app.undo"),
        ("ingest.worker", "def f():\n    import app.cli.run\n", "app.cli.run"),
        ("core.errors", "from ingest.model import Span\n", "ingest.model"),
        ("app.stages.undo", "from ingest.worker import IngestWorker\n", "ingest.worker"),
        ("app.stages.undo", "from app.cli.common import fail\n", "app.cli.common"),
        ("app.stages.undo", "from app import cli\n", "app.cli"),
        ("app.cli.verify", "from simulator.checksum import x\n", "simulator.checksum"),
        ("simulator.cluster", "from ingest.pd import PDClient\n", "ingest.pd"),
        ("app.undo.plan", "from ..cli import common\n", "app.cli"),
    ],
)
def test_a_climbing_import_is_caught(module: str, source: str, culprit: str) -> None:
    found = violations(source, module)
    assert found, f"{culprit} from {module} was not caught"
    assert any(f"imports {culprit}" in v for v in found), found


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("app.cli.run", "from ingest.worker import IngestWorker\nfrom app.stages import board\n"),
        ("ingest.worker", "from core.retry import Backoff\nimport proto.cdcpb_pb2\nimport grpc\n"),
        ("app.stages.undo", "from app.undo.plan import plan_row\nfrom core.codec import keys\n"),
        ("simulator.cluster", "from core.codec.keys import encode_record_key\n"),
    ],
)
def test_a_downward_import_passes(module: str, source: str) -> None:
    assert violations(source, module) == []
