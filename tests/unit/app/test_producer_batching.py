"""The undo app batches its producer: changelog records go out one per key written.

Faust's defaults (no linger, 16 KiB batches) cost ~40 % of a worker's CPU at full size
(bench/README.md, "Profile"); a batch must stay below a broker's default ``message.max.bytes``.
"""

from __future__ import annotations

from pathlib import Path

from app.config import UndoConfig
from app.main import PRODUCER_BATCH_BYTES, PRODUCER_LINGER_S, create_app

BROKER_DEFAULT_MESSAGE_MAX_BYTES = 1_048_588  # Kafka's message.max.bytes default


def test_the_app_lingers_and_batches_below_the_broker_limit(tmp_path: Path) -> None:
    app = create_app(UndoConfig(job="batching", kafka="kafka://127.0.0.1:9", datadir=str(tmp_path)))
    assert app.conf.producer_linger == PRODUCER_LINGER_S > 0
    assert 16 * 1024 < app.conf.producer_max_batch_size == PRODUCER_BATCH_BYTES
    assert PRODUCER_BATCH_BYTES < BROKER_DEFAULT_MESSAGE_MAX_BYTES
    assert app.conf.producer_max_request_size >= PRODUCER_BATCH_BYTES
