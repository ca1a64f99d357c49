"""Table patterns: the exact form of any (db, table) parses back to exactly that pair."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ingest.patterns import parse_pattern, quote_name, quote_pattern, split_patterns

# every character TiDB allows in a quoted identifier, and the ones the syntax uses, often
names = st.text(
    st.one_of(st.sampled_from(list(".,` *?[]#%/\t名")), st.characters(blacklist_categories=["Cs"])),
    min_size=1,
    max_size=20,
)


@given(names, names)
def test_quoted_pattern_round_trips(db: str, table: str) -> None:
    pattern = parse_pattern(quote_pattern(db, table))
    assert (pattern.db, pattern.table, pattern.exact) == (db, table, True)
    full = parse_pattern(f"{quote_name(db)}.{quote_name(table)}")
    assert (full.db, full.table, full.exact) == (db, table, True)


@given(st.lists(st.tuples(names, names), min_size=1, max_size=4), st.sampled_from([" ", ",", ", "]))
def test_a_list_of_quoted_patterns_splits_back(pairs: list[tuple[str, str]], sep: str) -> None:
    text = sep.join(quote_pattern(db, t) for db, t in pairs)
    got = [parse_pattern(p) for p in split_patterns(text)]
    assert [(p.db, p.table, p.exact) for p in got] == [(db, t, True) for db, t in pairs]
