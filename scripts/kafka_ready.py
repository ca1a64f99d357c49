"""Wait until a Kafka broker answers a real client (used by scripts/kafka.sh).

Exit status: 0 ready, 1 timed out, 2 the broker process (``--pid``) died while we waited.
A TCP accept is not enough: the broker listens before it has caught up with its KRaft
metadata, so we ask for cluster metadata and require this broker to be listed.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import time

from aiokafka.admin import AIOKafkaAdminClient


def _alive(pid: int | None) -> bool:
    """Tell whether the process we started still exists (no pid means: don't check)."""
    if pid is None:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


async def _probe(bootstrap: str) -> bool:
    """Ask the broker for cluster metadata once; true when it lists at least one broker."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
    try:
        await admin.start()
        cluster = await admin.describe_cluster()
        await admin.list_topics()
        return bool(cluster.get("brokers"))
    except Exception:  # any failure means "not ready yet"
        return False
    finally:
        await admin.close()


async def _wait(bootstrap: str, pid: int | None, seconds: float) -> int:
    """Poll every half second until ready, dead or out of time."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _alive(pid):
            return 2
        if await _probe(bootstrap):
            return 0
        await asyncio.sleep(0.5)
    return 1


def main() -> int:
    """Parse arguments and wait."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--pid", type=int, default=None)
    parser.add_argument("--timeout", type=float, default=90.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.CRITICAL)  # aiokafka logs every refused connect
    return asyncio.run(_wait(args.bootstrap, args.pid, args.timeout))


if __name__ == "__main__":
    sys.exit(main())
