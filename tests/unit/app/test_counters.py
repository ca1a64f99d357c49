"""Counter rows are chosen by instance: the LIKE pattern matches that instance's rows only."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from app.cli.counters import instance_pattern


def _like(pattern: str, text: str) -> bool:
    """MySQL/TiDB ``LIKE`` with the default ``\\`` escape (what the counter query runs)."""
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if c == "%" else "." if c == "_" else re.escape(c))
        i += 1
    return re.fullmatch("".join(out), text, re.S) is not None


_ids = st.text(st.sampled_from("ab01_%\\/"), min_size=1, max_size=8)


@given(_ids, _ids, st.text(max_size=6))
def test_the_pattern_takes_the_instances_rows_and_no_others(
    mine: str, other: str, cut: str
) -> None:
    """A row matches exactly when its settings start with ``<mine>/``."""
    assert _like(instance_pattern(mine), f"{mine}/{cut}")
    row = f"{other}/{cut}"
    assert _like(instance_pattern(mine), row) == row.startswith(f"{mine}/")


def test_wildcards_in_an_id_are_literal() -> None:
    assert not _like(instance_pattern("a_c"), "abc/0")
    assert not _like(instance_pattern("a%"), "abc/0")
    assert _like(instance_pattern("a%"), "a%/0")
