"""The whole fake downstream cluster on loopback: PD, N TiKV stores, the TiDB status API.

PD has ``pd_members`` members (one by default) sharing one leader, TSO and GC state
(:class:`~simulator.pd_server.PdShared`); ``cluster.pd`` is the first.

``FakeCluster`` wires one :class:`~simulator.tso.Tso`, one :class:`~simulator.mvcc.MvccStore`
and one :class:`~simulator.regions.RegionTable` to a PD server and one ``ChangeData`` server
per store, each on its own ``127.0.0.1`` port, all created inside the running loop. Tables get
regions the first time a key of theirs is written (TiDB splits at table boundaries on CREATE
TABLE): at ``t{id}``, and ``regions_per_table - 1`` more inside the record range at int
handles ``handle_step, 2·handle_step, …``; the split happens before the TiKV servers see the
write, so no subscription is broken by it. A raft split leaves every half's leader on the
parent's store; PD's balance-leader scheduler then spreads them, so with ``spread_leaders``
(the default) each new table's regions get their leaders from a rotation over the stores,
as a settled real cluster has them (not all on store 1).

The TiDB status API (part B: ``simulator.status_api.StatusApiServer(catalog)``) is started
over :attr:`FakeCluster.catalog` when both modules are present; ``catalog`` may be any object
the status API accepts.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Sequence
from typing import Any

from core.codec.bytescodec import encode_bytes
from core.codec.keys import table_id_of, table_prefix
from simulator.faults import Faults
from simulator.mvcc import Change, MvccStore
from simulator.pd_server import PdServer, PdShared
from simulator.regions import RegionTable, record_key
from simulator.tikv_server import TikvServer
from simulator.tls import ServerTls
from simulator.tso import Tso

__all__ = ["DEFAULT_CLUSTER_ID", "FakeCluster"]

log = logging.getLogger(__name__)

DEFAULT_CLUSTER_ID = 7_355_608_119_473_299_231  # any non-zero uint64; PD ids look like this


class FakeCluster:
    """PD + TiKV stores + status API over one MVCC model; ``async start()``/``async stop()``."""

    def __init__(
        self,
        stores: int = 3,
        regions_per_table: int = 1,
        cluster_id: int = DEFAULT_CLUSTER_ID,
        resolved_ts_interval: float = 1.0,
        *,
        replicas: int = 3,
        handle_step: int = 1000,
        host: str = "127.0.0.1",
        pd_port: int = 0,
        store_ports: Sequence[int] = (),
        status_port: int = 0,
        catalog: Any = None,
        status_api: bool = True,
        response_max_bytes: int = 6 * 1024 * 1024,
        spread_leaders: bool = True,
        pd_members: int = 1,
        tls: ServerTls | None = None,
    ) -> None:
        if stores < 1:
            raise ValueError("a cluster needs at least one store")
        if regions_per_table < 1:
            raise ValueError("regions_per_table must be >= 1")
        if pd_members < 1:
            raise ValueError("a cluster needs at least one PD member")
        self.cluster_id = cluster_id
        self.regions_per_table = regions_per_table
        self.handle_step = handle_step
        self.spread_leaders = spread_leaders
        self.host = host
        self._pd_port = pd_port
        self._store_ports = list(store_ports) + [0] * (stores - len(store_ports))
        self._status_port = status_port
        self._want_status_api = status_api
        self._tls = tls  # the status port serves https with it, as a tiup TLS cluster's does
        self.tso = Tso()
        self.mvcc = MvccStore(self.tso)
        self.regions = RegionTable(list(range(1, stores + 1)), replicas=replicas)
        self.faults = Faults(self)
        self.catalog: Any = catalog if catalog is not None else _default_catalog(self.tso)
        self.pd_shared = PdShared(cluster_id, [""] * pd_members, [False] * pd_members)
        self.pd_servers = [
            PdServer(cluster_id, self.tso, self.regions, self.pd_shared, i, tls=tls)
            for i in range(pd_members)
        ]
        self.pd = self.pd_servers[0]
        self.tikv_servers = [
            TikvServer(
                sid,
                cluster_id,
                self.mvcc,
                self.regions,
                self.faults.state,
                resolved_ts_interval=resolved_ts_interval,
                response_max_bytes=response_max_bytes,
                tls=tls,
            )
            for sid in range(1, stores + 1)
        ]
        self.status_api: Any = None
        self._tables: set[int] = set()
        self._unsubscribe = self.mvcc.subscribe(self._split_new_tables)  # before the servers
        self.regions.subscribe(lambda _change: self.pd_shared.on_region_change(self.regions))
        self._started = False

    # -- addresses ----------------------------------------------------------------------------

    @property
    def pd_address(self) -> str:
        """``127.0.0.1:port`` of the first PD member (the leader unless a fault moved it)."""
        return self.pd.address

    @property
    def pd_addresses(self) -> list[str]:
        """``host:port`` of every PD member, in member order."""
        return [s.address for s in self.pd_servers]

    def pd_server(self, index: int) -> PdServer:
        """PD member ``index``."""
        return self.pd_servers[index]

    @property
    def store_addresses(self) -> dict[int, str]:
        """Store id → ``host:port`` of its ChangeData server."""
        return {s.store_id: s.address for s in self.tikv_servers}

    @property
    def status_address(self) -> str | None:
        """``host:port`` of the TiDB status API, if it runs."""
        if self.status_api is None:
            return None
        return f"{self.status_api.host}:{self.status_api.port}"

    @property
    def status_url(self) -> str | None:
        """``http://host:port`` of the TiDB status API (``https://`` in a TLS cluster)."""
        return None if self.status_api is None else str(self.status_api.url)

    def tikv(self, store_id: int) -> TikvServer:
        """The server of one store."""
        return self.tikv_servers[store_id - 1]

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Start PD, every store and the status API (inside the running loop)."""
        if self._started:
            return
        self._started = True
        try:
            await self.pd.start(self.host, self._pd_port)
            for member in self.pd_servers[1:]:
                await member.start(self.host, 0)
            for server, port in zip(self.tikv_servers, self._store_ports, strict=True):
                await server.start(self.host, port)
            await self._start_status_api()
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        """Stop everything; open streams are cancelled. Idempotent."""
        if not self._started:
            return
        self._started = False
        if self.status_api is not None:
            api, self.status_api = self.status_api, None
            await api.stop()
        for server in self.tikv_servers:
            await server.stop()
        for member in self.pd_servers:
            await member.stop()

    async def __aenter__(self) -> FakeCluster:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _start_status_api(self) -> None:
        """Hook for part B's status API; skipped while that module does not exist."""
        if self.catalog is None or not self._want_status_api:
            return
        try:
            module = importlib.import_module("simulator.status_api")
        except ModuleNotFoundError as exc:
            if exc.name != "simulator.status_api":
                raise
            log.warning("simulator.status_api not available: no TiDB status API")
            return
        api = module.StatusApiServer(self.catalog, tls=self._tls)
        await api.start(self.host, self._status_port)
        self.status_api = api

    # -- tables -------------------------------------------------------------------------------

    def ensure_table(self, table_id: int) -> None:
        """Give a table its own regions now (idempotent); writes do it on their own."""
        if table_id in self._tables:
            return
        self._tables.add(table_id)
        keys = [table_prefix(table_id), table_prefix(table_id + 1)]
        keys += [
            record_key(table_id, i * self.handle_step) for i in range(1, self.regions_per_table)
        ]
        self.regions.split_at(keys)
        if self.spread_leaders:
            mine = self.regions.scan(encode_bytes(keys[0]), encode_bytes(keys[1]))
            self.regions.spread_leaders(r.id for r in mine)

    def _split_new_tables(self, changes: Sequence[Change]) -> None:
        for c in changes:
            key = c.key
            table_id = table_id_of(key)
            if table_id is not None and table_id not in self._tables:
                self.ensure_table(table_id)


def _default_catalog(tso: Tso) -> Any:
    """Part B's ``simulator.catalog.Catalog()`` when it exists, else ``None``.

    Its tables get their ``update_timestamp`` from the cluster's TSO, as TiDB's do.
    """
    try:
        module = importlib.import_module("simulator.catalog")
    except ModuleNotFoundError as exc:
        if exc.name != "simulator.catalog":
            raise
        return None
    return module.Catalog(clock=tso.next)
