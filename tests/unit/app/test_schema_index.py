from __future__ import annotations

import json
from pathlib import Path

from app.stages.schema import index_schema

DATA = Path(__file__).parents[2] / "data/codec/tableinfo"


def test_partitions_and_plain_tables_are_indexed_by_physical_id() -> None:
    parted = json.loads((DATA / "tidb_br_checksum_partitioned.json").read_text())
    plain = json.loads((DATA / "tiflash_vector_pk_handle.json").read_text())
    idx = index_schema([("d1", [parted]), ("d2", [plain])])
    defs = parted["partition"]["definitions"]
    assert len(defs) > 1
    for d in defs:
        owner = idx[d["id"]]
        assert (owner.db, owner.info.id, owner.partition) == ("d1", parted["id"], d["name"]["O"])
    assert parted["id"] not in idx  # the logical id of a partitioned table owns no rows
    assert idx[plain["id"]].db == "d2" and idx[plain["id"]].partition is None
