"""Table patterns: the exact backquoted form, wildcards, one-line errors naming the pattern."""

from __future__ import annotations

import pytest

from core.errors import ConfigError
from ingest.patterns import TablePattern, parse_pattern, quote_pattern, split_patterns


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("shop.orders", ("shop", "orders", True)),
        ("shop.*", ("shop", "*", False)),
        ("shop.t?", ("shop", "t?", False)),
        ("shop.t[12]", ("shop", "t[12]", False)),
        # the database part was always literal: it stays so
        ("sh*p.orders", ("sh*p", "orders", True)),
        ("`we.ird db`.`t*1`", ("we.ird db", "t*1", True)),
        ("`we.ird db`.t*1", ("we.ird db", "t*1", False)),
        ("shop.`t[1]`", ("shop", "t[1]", True)),
        ("`a``b`.`c``d```", ("a`b", "c`d`", True)),
        ("`a,b c`.`x.y.z`", ("a,b c", "x.y.z", True)),
        ("`名`.`表`", ("名", "表", True)),
        ("a/b.c", ("a/b", "c", True)),
    ],
)
def test_parse(text: str, expected: tuple[str, str, bool]) -> None:
    assert parse_pattern(text) == TablePattern(*expected)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("", "expected db.table"),
        ("nodot", "expected db.table"),
        ("a.b.c", "expected db.table"),
        ("we.ird db.t*1", "' '"),
        (".t", "empty name"),
        ("db.", "empty name"),
        ("db.``", "empty name"),
        ("`db.t", "not closed"),
        ("db.`t", "not closed"),
        ("`db`x.t", "'x' after `db`"),
        ("db.`t`.", "empty name"),
        ("d`b.t", "backquote the name"),
        ("db.a,b", "backquote the name"),
    ],
)
def test_bad_patterns_are_one_line_errors_naming_them(text: str, needle: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_pattern(text)
    msg = str(err.value)
    assert repr(text) in msg and needle in msg, msg
    assert "\n" not in msg


def test_a_wildcard_matches_by_pattern_and_an_exact_name_only_itself() -> None:
    wild, exact = parse_pattern("`d`.t*1"), parse_pattern("`d`.`t*1`")
    assert [n for n in ("t*1", "tx1", "t1", "u1") if wild.matches(n)] == ["t*1", "tx1", "t1"]
    assert [n for n in ("t*1", "tx1", "T*1") if exact.matches(n)] == ["t*1", "T*1"]


@pytest.mark.parametrize(
    ("db", "table", "text"),
    [
        ("shop", "orders", "shop.orders"),
        ("we.ird db", "t*1", "`we.ird db`.`t*1`"),
        ("a`b", "c", "`a``b`.c"),
        ("a/b", "c,d", "a/b.`c,d`"),
    ],
)
def test_quote_only_where_needed(db: str, table: str, text: str) -> None:
    assert quote_pattern(db, table) == text
    assert parse_pattern(text) == (db, table, True)


def test_split_outside_backquotes_only() -> None:
    assert split_patterns(" a.*  b.t,c.x ,, `we.ird db`.`t,1 2`\t`x``y`.z ") == [
        "a.*", "b.t", "c.x", "`we.ird db`.`t,1 2`", "`x``y`.z",
    ]  # fmt: skip
    assert split_patterns("`open.t x.y") == ["`open.t x.y"]
