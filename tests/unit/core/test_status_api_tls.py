"""The status API client over https: the cluster's ``--ca`` (and ``--cert/--key``) are used.

A tiup TLS cluster serves TiDB's status port with a certificate its CA signed, and with
``cluster-verify-cn`` asks for the client's. The server here is the fake status API on loopback
with certificates made in the test (:mod:`tests.tls_certs`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.cli.common import Settings
from app.stages.schema import SchemaCache
from core.errors import ConfigError
from core.status_api import StatusApiClient
from core.tls import TlsFiles
from simulator.catalog import Catalog
from simulator.status_api import StatusApiServer
from simulator.tabledef import demo_tables
from simulator.tls import ServerTls
from tests.tls_certs import Pki, make_pki


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


async def _serve(pki: Pki, *, mutual: bool) -> StatusApiServer:
    catalog = Catalog()
    for t in demo_tables("shop")[:1]:
        catalog.add_table(t)
    tls = ServerTls(
        pki.server.cert_pem,
        pki.server.key_pem,
        client_ca_pem=pki.ca.read_bytes() if mutual else None,
    )
    server = StatusApiServer(catalog, tls=tls)
    await server.start()
    return server


@pytest.fixture
async def https(pki: Pki) -> AsyncIterator[StatusApiServer]:
    server = await _serve(pki, mutual=False)
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def mutual(pki: Pki) -> AsyncIterator[StatusApiServer]:
    server = await _serve(pki, mutual=True)
    try:
        yield server
    finally:
        await server.stop()


async def test_https_with_the_cluster_ca(https: StatusApiServer, pki: Pki) -> None:
    assert https.url.startswith("https://127.0.0.1:")
    async with StatusApiClient(https.url, tls=TlsFiles(ca=str(pki.ca))) as client:
        assert await client.databases() == ["shop"]


@pytest.mark.parametrize("ca", ["other", "none"])
async def test_an_untrusted_status_port_is_one_line_naming_it(
    https: StatusApiServer, pki: Pki, ca: str
) -> None:
    tls = TlsFiles(ca=str(pki.other_ca)) if ca == "other" else TlsFiles()
    async with StatusApiClient(https.url, tls=tls) as client:
        with pytest.raises(ConfigError) as err:
            await client.databases()
    text = str(err.value)
    assert "\n" not in text and f"TiDB status API {https.url}/schema" in text, text
    assert "certificate" in text and "--ca" in text, text


async def test_mutual_tls_sends_the_client_certificate(mutual: StatusApiServer, pki: Pki) -> None:
    files = TlsFiles(ca=str(pki.ca), cert=str(pki.client.cert), key=str(pki.client.key))
    async with StatusApiClient(mutual.url, tls=files) as client:
        assert await client.databases() == ["shop"]


async def test_plain_http_ignores_the_cluster_tls(pki: Pki) -> None:
    catalog = Catalog()
    server = StatusApiServer(catalog)
    await server.start()
    try:
        async with StatusApiClient(server.url, tls=TlsFiles(ca=str(pki.ca))) as client:
            assert await client.databases() == []
    finally:
        await server.stop()


def test_unreadable_ca_is_refused_before_a_request(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--ca"):
        StatusApiClient("https://127.0.0.1:1", tls=TlsFiles(ca=str(tmp_path / "missing.pem")))


async def test_the_workers_schema_cache_reads_over_https(https: StatusApiServer, pki: Pki) -> None:
    info = https.catalog.table("shop", demo_tables("shop")[0].name)
    assert info is not None
    cache = SchemaCache(https.url, tls=TlsFiles(ca=str(pki.ca)), attempts=1)
    found = await cache.lookup(info.id)
    assert (found.db, found.info.name) == ("shop", info.name)


def test_run_hands_its_cluster_tls_to_the_workers() -> None:
    # tiundo run starts its workers with UndoConfig.to_env(): --ca/--cert/--key must be in it
    s = Settings(job="j", downstream="mysql://u@h:1", ca="/c/ca.pem", cert="/c/c.pem", key="/c/k")
    env = s.undo_config().to_env()
    assert (env["TIUNDO_CA"], env["TIUNDO_CERT"], env["TIUNDO_KEY"]) == (
        "/c/ca.pem",
        "/c/c.pem",
        "/c/k",
    )
