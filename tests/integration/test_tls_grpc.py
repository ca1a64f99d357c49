"""PD and TiKV over TLS: the fake cluster serves real TLS on loopback, the ingest reads through it.

Certificates are made in the test (:mod:`tests.tls_certs`). Covered: server TLS with
``--ca``, mutual TLS (the servers demand a client certificate), a wrong CA and a missing client
certificate (one line naming the endpoint), ``https://`` without a CA (the system roots, which
do not know the test CA: refused, never plaintext), and a whole ingest through mutual TLS.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from core.errors import ConfigError
from ingest.config import IngestConfig
from ingest.grpc_tls import channel_credentials
from ingest.pd import PDClient, PDError
from ingest.worker import run_ingest
from simulator.cluster import FakeCluster
from simulator.tls import ServerTls
from tests.tls_certs import Pki, make_pki

from .ingest_harness import cluster_env, delete_topics, dump_topic, expected_changes

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def server_tls(pki: Pki, *, mutual: bool) -> ServerTls:
    client_ca = pki.ca.read_bytes() if mutual else None
    return ServerTls(pki.server.cert_pem, pki.server.key_pem, client_ca)


def pd_client(pd: str, **tls: Any) -> PDClient:
    config = IngestConfig(pd=pd, tables=("d.t",), to_ts=1, **tls)
    credentials = channel_credentials(config.cluster_tls)
    return PDClient(config.pd_endpoints, timeout=5, credentials=credentials)


@pytest.fixture
async def tls_cluster(pki: Pki) -> AsyncIterator[FakeCluster]:
    cluster = FakeCluster(stores=2, status_api=False, tls=server_tls(pki, mutual=False))
    await cluster.start()
    try:
        yield cluster
    finally:
        await cluster.stop()


@pytest.fixture
async def mtls_cluster(pki: Pki) -> AsyncIterator[FakeCluster]:
    cluster = FakeCluster(stores=2, status_api=False, tls=server_tls(pki, mutual=True))
    await cluster.start()
    try:
        yield cluster
    finally:
        await cluster.stop()


async def test_pd_and_stores_over_tls_with_the_ca(tls_cluster: FakeCluster, pki: Pki) -> None:
    async with pd_client(f"pd://{tls_cluster.pd_address}", ca=str(pki.ca)) as pd:
        assert pd.cluster_id == tls_cluster.cluster_id
        # PD advertises https:// member URLs when it serves TLS; the client follows them
        assert pd.leader == tls_cluster.pd_address
        stores = await pd.get_all_stores()
        assert {s.address for s in stores.values()} == set(tls_cluster.store_addresses.values())
        assert await pd.tso() > 0


async def test_https_url_with_the_ca_is_tls_too(tls_cluster: FakeCluster, pki: Pki) -> None:
    async with pd_client(f"https://{tls_cluster.pd_address}", ca=str(pki.ca)) as pd:
        assert pd.cluster_id == tls_cluster.cluster_id


async def test_a_wrong_ca_fails_in_one_line_naming_the_endpoint(
    tls_cluster: FakeCluster, pki: Pki
) -> None:
    client = pd_client(f"pd://{tls_cluster.pd_address}", ca=str(pki.other_ca))
    with pytest.raises(PDError) as err:
        await client.connect()
    await client.close()
    message = str(err.value)
    assert tls_cluster.pd_address in message
    assert "CERTIFICATE_VERIFY_FAILED" in message or "certificate verify failed" in message
    assert "\n" not in message


async def test_https_without_a_ca_takes_the_system_roots_never_plaintext(
    tls_cluster: FakeCluster,
) -> None:
    # the system roots do not know the test CA: the handshake fails
    client = pd_client(f"https://{tls_cluster.pd_address}")
    with pytest.raises(PDError, match=tls_cluster.pd_address):
        await client.connect()
    await client.close()
    # and an https:// URL never falls back to plaintext against a plaintext PD
    plain = FakeCluster(stores=1, status_api=False)
    await plain.start()
    try:
        client = pd_client(f"https://{plain.pd_address}")
        with pytest.raises(PDError, match=plain.pd_address):
            await client.connect()
        await client.close()
        async with pd_client(f"pd://{plain.pd_address}") as pd:  # plaintext when asked
            assert pd.cluster_id == plain.cluster_id
    finally:
        await plain.stop()


async def test_a_plaintext_client_is_told_the_pd_leader_speaks_tls(
    tls_cluster: FakeCluster,
) -> None:
    client = pd_client(f"pd://{tls_cluster.pd_address}")
    with pytest.raises(PDError, match=tls_cluster.pd_address):
        await client.connect()
    await client.close()


async def test_mutual_tls_needs_the_client_certificate(mtls_cluster: FakeCluster, pki: Pki) -> None:
    pd = f"pd://{mtls_cluster.pd_address}"
    for tls in ({"ca": str(pki.ca)}, {"ca": str(pki.ca), "cert": str(pki.stranger.cert),
                                       "key": str(pki.stranger.key)}):  # fmt: skip
        client = pd_client(pd, **tls)
        with pytest.raises(PDError, match=mtls_cluster.pd_address):
            await client.connect()
        await client.close()
    async with pd_client(
        pd, ca=str(pki.ca), cert=str(pki.client.cert), key=str(pki.client.key)
    ) as client:
        assert client.cluster_id == mtls_cluster.cluster_id


def test_http_url_with_a_ca_is_refused(pki: Pki) -> None:
    config = IngestConfig(pd="http://127.0.0.1:2379", ca=str(pki.ca), tables=("d.t",), to_ts=1)
    with pytest.raises(ConfigError, match=r"http://.*https://"):
        config.validate()


async def test_ingest_reads_through_mutual_tls(
    mysql_db: Any, kafka_bootstrap: str, pki: Pki, tmp_path: Path
) -> None:
    async with cluster_env(mysql_db, seed=23, tls=server_tls(pki, mutual=True)) as env:
        w = env.workload
        await w.run(10)
        sp = await w.take_syncpoint()
        await w.run(25)
        await w.tear()
        job = f"tls-ingest-{uuid.uuid4().hex[:8]}"
        config = env.config(
            kafka_bootstrap,
            job,
            ca=str(pki.ca),
            cert=str(pki.client.cert),
            key=str(pki.client.key),
        )
        try:
            result = await run_ingest(config)
            assert result.state == "done"
            assert result.target_ts == sp.ts
            dump = await dump_topic(kafka_bootstrap, config.topic, config.partitions)
        finally:
            await delete_topics(kafka_bootstrap, [config.topic])
        want = expected_changes(env.cluster.mvcc, env.physical_ids(), sp.ts, result.end_ts)
        assert want, "the workload wrote nothing in the window"
        assert set(dump.changes(want)) == want
