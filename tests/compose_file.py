"""Read ``docker-compose.yml`` as compose does: services, their commands and environments.

Shared by the compose tests (tests/unit/test_compose_file.py checks its shape,
tests/integration/test_compose.py runs its tiundo services on the local services). Docker is
not available where the suite runs, so these two are all that check the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

COMPOSE = Path(__file__).resolve().parents[1] / "docker-compose.yml"


@dataclass(frozen=True)
class Service:
    """One compose service, with its environment merged (YAML anchors resolved)."""

    name: str
    spec: dict[str, Any]

    @property
    def command(self) -> list[str]:
        return [str(a) for a in self.spec.get("command") or []]

    @property
    def env(self) -> dict[str, str]:
        return {k: str(v) for k, v in (self.spec.get("environment") or {}).items()}

    @property
    def profiles(self) -> list[str]:
        return list(self.spec.get("profiles") or [])

    @property
    def depends_on(self) -> dict[str, dict[str, Any]]:
        deps = self.spec.get("depends_on") or {}
        if isinstance(deps, list):  # the short form: started, never waited for healthy
            return {d: {} for d in deps}
        return {k: dict(v or {}) for k, v in deps.items()}

    @property
    def is_tiundo(self) -> bool:
        return bool(self.command) and self.command[0] == "tiundo"


def load(path: Path = COMPOSE) -> dict[str, Service]:
    """The compose file's services by name."""
    doc = yaml.safe_load(path.read_text())
    return {name: Service(name, spec or {}) for name, spec in doc["services"].items()}
