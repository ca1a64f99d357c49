"""Property: what ``to_env`` writes, ``from_env`` reads back to the same config."""

from __future__ import annotations

import dataclasses

from hypothesis import given
from hypothesis import strategies as st

from app.config import UndoConfig
from core.settings import from_env, to_env
from ingest.config import IngestConfig

ints = st.integers(-(2**63), 2**63 - 1)
floats = st.floats(allow_nan=False, allow_infinity=False)
# env values are text without NUL; an empty value means "the default", so a field whose
# default is not empty only round-trips non-empty text
any_text = st.text(st.characters(blacklist_characters="\x00"), max_size=20)
some_text = any_text.filter(bool)


def _values(field: dataclasses.Field[object]) -> st.SearchStrategy[object]:
    # annotations are strings here (``from __future__ import annotations`` in app.config)
    if field.type == "int":
        return ints
    if field.type == "float":
        return floats
    assert field.type == "str", field
    return any_text if field.default in ("", dataclasses.MISSING) else some_text


undo_configs = st.builds(UndoConfig, **{f.name: _values(f) for f in dataclasses.fields(UndoConfig)})


@given(undo_configs)
def test_undo_config_env_round_trip(cfg: UndoConfig) -> None:
    assert from_env(UndoConfig, to_env(cfg)) == cfg
    assert UndoConfig.from_env(cfg.to_env()) == cfg


@given(
    pd=some_text,
    kafka=some_text,
    downstream=any_text,
    status_api=some_text,
    job=some_text,
    partitions=ints,
)
def test_ingest_env_settings_round_trip(
    pd: str, kafka: str, downstream: str, status_api: str, job: str, partitions: int
) -> None:
    fields = {"pd": pd, "kafka": kafka, "downstream": downstream, "status_api": status_api}
    cfg = IngestConfig(job=job, partitions=partitions, **fields)
    assert IngestConfig.from_env(to_env(cfg)) == cfg
