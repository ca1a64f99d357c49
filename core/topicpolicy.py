"""Replication and retention of the topics a job creates: the settings and how they resolve.

Managed Kafka refuses topics with replication factor 1, and a shared cluster wants the job's
topics to say how long they stay. Defaults follow the cluster: replication factor
``min(3, brokers)`` (the broker count is asked when the job is pinned), ``min.insync.replicas``
one below it (at least 1), so an acknowledged write survives one broker lost and a single
broker down does not stop the job; retention of the non-compacted topics (``<job>.kv``,
``<job>.dead``) is the broker's unless set. The resolved values are pinned in the job record,
so every worker creates its topics alike. Pure: stdlib only.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Final

from core.errors import ConfigError

__all__ = [
    "MIN_INSYNC_ENV",
    "REPLICATION_ENV",
    "RETENTION_ENV",
    "TopicPolicy",
]

REPLICATION_ENV: Final = "TIUNDO_REPLICATION_FACTOR"
MIN_INSYNC_ENV: Final = "TIUNDO_MIN_INSYNC_REPLICAS"
RETENTION_ENV: Final = "TIUNDO_TOPIC_RETENTION_MS"
#: the default replication factor on a cluster with this many brokers or more
_DEFAULT_REPLICAS: Final = 3


@dataclass(frozen=True, slots=True)
class TopicPolicy:
    """How the job's topics are created; 0 = the default (see the module docstring)."""

    replication_factor: int = 0
    min_insync_replicas: int = 0
    #: ``retention.ms`` of the non-compacted topics: 0 = the broker's default, -1 = for ever
    retention_ms: int = 0

    def check(self) -> TopicPolicy:
        """Raise a one-line :class:`ConfigError` naming the first bad setting; return self."""
        if self.replication_factor < 0:
            raise ConfigError(
                f"{REPLICATION_ENV} must be >= 1 (0 = min(3, brokers)), "
                f"got {self.replication_factor}"
            )
        if self.min_insync_replicas < 0:
            raise ConfigError(
                f"{MIN_INSYNC_ENV} must be >= 1 (0 = replication factor - 1), "
                f"got {self.min_insync_replicas}"
            )
        if self.replication_factor and self.min_insync_replicas > self.replication_factor:
            raise ConfigError(
                f"{MIN_INSYNC_ENV}={self.min_insync_replicas} is above "
                f"{REPLICATION_ENV}={self.replication_factor}: no write could ever be acknowledged"
            )
        if self.retention_ms < -1:
            raise ConfigError(
                f"{RETENTION_ENV} must be milliseconds > 0, 0 (the broker's default) or -1 "
                f"(for ever), got {self.retention_ms}"
            )
        return self

    def resolve(self, brokers: int) -> TopicPolicy:
        """The policy with its defaults filled in for a cluster of ``brokers`` brokers.

        An explicit replication factor above the broker count is refused here, by name, rather
        than by the broker with an error code.
        """
        self.check()
        if brokers < 1:
            raise ConfigError("the Kafka cluster reports no broker")
        factor = self.replication_factor or min(_DEFAULT_REPLICAS, brokers)
        if factor > brokers:
            raise ConfigError(
                f"{REPLICATION_ENV}={factor}, but the Kafka cluster has {brokers} broker(s): "
                f"lower it (0 = min(3, brokers))"
            )
        insync = self.min_insync_replicas or max(1, factor - 1)
        return replace(self, replication_factor=factor, min_insync_replicas=insync).check()

    def configs(self, *, compacted: bool) -> dict[str, str]:
        """Topic configs of a topic created under this policy (retention only if not compacted)."""
        out: dict[str, str] = {}
        if self.min_insync_replicas:
            out["min.insync.replicas"] = str(self.min_insync_replicas)
        if not compacted and self.retention_ms:
            out["retention.ms"] = str(self.retention_ms)
        return out
