"""The Kafka names of one job: its topics and its consumer group, all under one prefix.

A shared Kafka cluster keeps jobs apart by a topic prefix (``TIUNDO_TOPIC_PREFIX``): every topic
of a job and its consumer group start with it, so one prefixed ACL (topics and groups) grants a
tenant exactly its own jobs. The names are derived here only; the ingest, the Faust app and the
CLI all ask :class:`JobNames`. Pure: stdlib only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from core.errors import ConfigError

__all__ = ["PREFIX_ENV", "JobNames", "check_prefix"]

#: the environment variable of the prefix (declared on the configs that read it)
PREFIX_ENV: Final = "TIUNDO_TOPIC_PREFIX"
#: Kafka topic names are ``[A-Za-z0-9._-]`` up to 249 characters; the job name takes up to 63
_PREFIX_RE: Final = re.compile(r"^[A-Za-z0-9._-]{0,100}$")


def check_prefix(prefix: str) -> str:
    """``prefix`` if Kafka accepts it in a topic name; a one-line :class:`ConfigError` if not."""
    if not _PREFIX_RE.match(prefix):
        raise ConfigError(
            f"{PREFIX_ENV} must be at most 100 letters, digits, '.', '_' or '-', got {prefix!r}"
        )
    return prefix


@dataclass(frozen=True, slots=True)
class JobNames:
    """Topic and group names of ``job`` under ``prefix`` (empty: no prefix)."""

    job: str
    prefix: str = ""

    def _own(self, suffix: str) -> str:
        return f"{self.prefix}{self.job}.{suffix}"

    @property
    def kv(self) -> str:
        """Changes from the ingest (keyed and partitioned by table)."""
        return self._own("kv")

    @property
    def dead(self) -> str:
        """Dead letters."""
        return self._own("dead")

    @property
    def progress(self) -> str:
        """Compacted: per-partition notes (barrier, reports)."""
        return self._own("progress")

    @property
    def status(self) -> str:
        """Compacted: the job's status."""
        return self._own("status")

    @property
    def record(self) -> str:
        """Compacted: the job record (:mod:`app.jobrecord`)."""
        return self._own("job")

    @property
    def gc_service_id(self) -> str:
        """The job's PD service GC safepoint id (one hold per id, cluster-wide).

        The prefix goes in too, so two tenants' jobs of one name hold T apart; the ``:`` is in
        neither a prefix nor a job name, so no two (prefix, job) share an id. PD asks only a
        non-empty id other than ``gc_worker`` and keeps it as one etcd path segment (no ``/``).
        Without a prefix the id is ``tiundo-<job>``, as before prefixes existed.
        """
        return f"tiundo-{self.prefix}:{self.job}" if self.prefix else f"tiundo-{self.job}"

    @property
    def group(self) -> str:
        """The Faust app id: the workers' consumer group and the prefix of Faust's topics."""
        return f"{self.prefix}tiundo-{self.job}"

    def changelog(self, table: str) -> str:
        """The changelog topic Faust gives the app's table ``table``."""
        return f"{self.group}-{table}-changelog"

    @property
    def assignor(self) -> str:
        """The leader topic of Faust's partition assignor."""
        return f"{self.group}-__assignor-__leader"

    def topics(
        self, faust_tables: tuple[str, ...], *, keep_record: bool = False
    ) -> tuple[str, ...]:
        """Every topic of the job by its exact name (``keep_record`` leaves out the record's).

        Never a prefix match: job ``a``'s Faust topics ``tiundo-a-…`` share a prefix with job
        ``a-b``'s.
        """
        own = [self.kv, self.dead, self.progress, self.status]
        if not keep_record:
            own.append(self.record)
        faust = [self.changelog(t) for t in faust_tables]
        return (*own, *faust, self.assignor)

    @property
    def listing_prefixes(self) -> tuple[str, str]:
        """Prefixes that list candidate topics of the job (filter with :meth:`topics`)."""
        return (f"{self.prefix}{self.job}.", f"{self.group}-")
