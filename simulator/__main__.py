"""``python -m simulator``: run the whole fake cluster on loopback until SIGINT/SIGTERM.

The first line on stdout is the PD address alone (``127.0.0.1:PORT``), so scripts can read it;
details (stores, status API, cluster id) go to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Sequence

from simulator.cluster import DEFAULT_CLUSTER_ID, FakeCluster


def _ports(text: str) -> list[int]:
    return [int(p) for p in text.split(",") if p.strip()]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line flags."""
    p = argparse.ArgumentParser(prog="python -m simulator", description=__doc__)
    p.add_argument("--stores", type=int, default=3, help="number of TiKV stores (default 3)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument("--pd-port", type=int, default=0, help="PD port (0 = any free port)")
    p.add_argument("--store-ports", type=_ports, default=[], help="comma-separated store ports")
    p.add_argument("--status-port", type=int, default=0, help="TiDB status API port")
    p.add_argument("--resolved-ts-interval", type=float, default=1.0, help="seconds")
    p.add_argument("--cluster-id", type=int, default=DEFAULT_CLUSTER_ID)
    p.add_argument("--regions-per-table", type=int, default=1)
    p.add_argument("--no-status-api", action="store_true", help="do not start the status API")
    return p.parse_args(argv)


async def run(args: argparse.Namespace, stop: asyncio.Event | None = None) -> None:
    """Start the cluster, print its addresses, wait for ``stop`` (or a signal), stop it."""
    cluster = FakeCluster(
        stores=args.stores,
        regions_per_table=args.regions_per_table,
        cluster_id=args.cluster_id,
        resolved_ts_interval=args.resolved_ts_interval,
        host=args.host,
        pd_port=args.pd_port,
        store_ports=args.store_ports,
        status_port=args.status_port,
        status_api=not args.no_status_api,
    )
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await cluster.start()
    try:
        print(cluster.pd_address, flush=True)
        for sid, addr in cluster.store_addresses.items():
            print(f"store {sid}: {addr}", file=sys.stderr)
        print(f"status API: {cluster.status_address}", file=sys.stderr)
        print(f"cluster id: {cluster.cluster_id}", file=sys.stderr, flush=True)
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await cluster.stop()


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point."""
    asyncio.run(run(parse_args(argv)))


if __name__ == "__main__":
    main()
