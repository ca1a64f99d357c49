"""docker-compose.yml and the image cannot run here (no Docker engine); check their shape instead.

The wheel and the image ship the product only (core, app, ingest, proto): the fake cluster in
simulator/ is test equipment, so nothing shipped may need it.
"""

from __future__ import annotations

import ast
import shlex
from pathlib import Path
from typing import Any

import yaml
from setuptools.config.pyprojecttoml import read_configuration

ROOT = Path(__file__).resolve().parents[2]


def _compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(data, dict)
    return data


def test_compose_has_the_pipeline_services() -> None:
    services = _compose()["services"]
    # `job` runs `tiundo run --attach`: the checks, the pin and the ingest (by hand, never on `up`)
    assert {"kafka", "pd", "tikv", "tidb", "job", "worker"} <= set(services)


def test_tiundo_services_get_every_setting_by_url() -> None:
    services = _compose()["services"]
    for name in ("job", "worker"):
        env = services[name]["environment"]
        assert env["TIUNDO_PD"].startswith("pd://")
        assert env["TIUNDO_KAFKA"].startswith("kafka://")
        assert env["TIUNDO_DOWNSTREAM"].startswith("mysql://")
        assert env["TIUNDO_STATUS_API"].startswith("http://")
        assert env["TIUNDO_JOB"]
        assert env["TIUNDO_TABLES"], "tiundo run needs the tables to rewind"
        assert int(env["TIUNDO_PARTITIONS"]) >= services["worker"]["deploy"]["replicas"]


def test_kafka_is_single_node_kraft() -> None:
    env = _compose()["services"]["kafka"]["environment"]
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "1"


def test_workers_do_not_share_a_rocksdb_datadir() -> None:
    worker = _compose()["services"]["worker"]
    assert "TIUNDO_DATADIR" in worker["environment"]
    assert not worker.get("volumes"), "replicas sharing one datadir would fight over RocksDB LOCK"


PRODUCT = {"core", "app", "ingest", "proto"}


def _wheel_packages() -> set[str]:
    """The packages ``pip install .`` puts in the wheel, as setuptools expands pyproject."""
    conf = read_configuration(ROOT / "pyproject.toml", expand=True)
    return set(conf["tool"]["setuptools"]["packages"])


def _first_party() -> set[str]:
    return {p.parent.name for p in ROOT.glob("*/__init__.py")}


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def _package_of(module: str) -> str:
    """The innermost package directory holding ``module``: the unit the wheel ships."""
    parts = module.split(".")
    for i in range(len(parts), 0, -1):
        if (ROOT.joinpath(*parts[:i]) / "__init__.py").exists():
            return ".".join(parts[:i])
    return parts[0]


def test_wheel_ships_the_product_and_no_simulator() -> None:
    packages = _wheel_packages()
    assert {p.split(".")[0] for p in packages} == PRODUCT
    assert {"app.cli", "app.undo", "core.codec"} <= packages
    assert not any(p == "simulator" or p.startswith("simulator.") for p in packages)


def test_shipped_code_imports_only_shipped_packages() -> None:
    packages = _wheel_packages()
    first_party = _first_party()
    assert {"simulator", *PRODUCT} <= first_party
    missing: list[str] = []
    for pkg in sorted(packages):
        for path in sorted((ROOT / pkg.replace(".", "/")).glob("*.py")):
            for name in sorted(_imports(path)):
                parts = name.split(".")
                if parts[0] not in first_party:
                    continue
                owner = _package_of(name)
                if owner not in packages:
                    missing.append(f"{path.relative_to(ROOT)}: {name}")
    assert not missing, "shipped modules import code the wheel lacks:\n" + "\n".join(missing)


def _docker_copies() -> list[str]:
    """Sources of the Dockerfile's COPY instructions (flags such as --from dropped)."""
    sources: list[str] = []
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        words = shlex.split(line, comments=True)
        if words and words[0].upper() == "COPY":
            args = [w for w in words[1:] if not w.startswith("--")]
            sources.extend(a.rstrip("/") for a in args[:-1])
    return sources


def test_image_copies_the_product_and_no_simulator() -> None:
    copied = set(_docker_copies())
    assert "simulator" not in copied
    assert not copied & {".", "./", "*"}, "copying the whole tree would ship simulator/"
    assert {p.split(".")[0] for p in _wheel_packages()} <= copied, "pip install . needs them"
    assert "pyproject.toml" in copied
