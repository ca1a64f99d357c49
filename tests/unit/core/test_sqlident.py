"""core.sqlident: the one identifier quoting, checked by parsing the quoted form back."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.sqlident import quote_ident

names = st.text(min_size=1).filter(lambda s: "\x00" not in s)


def _read_ident(sql: str) -> tuple[str, str]:
    """Lex one quoted identifier at the start of ``sql`` as MySQL does; (name, rest of sql)."""
    assert sql[:1] == "`", sql
    out: list[str] = []
    i = 1
    while True:
        assert i < len(sql), f"unterminated identifier in {sql!r}"
        if sql[i] == "`":
            if sql[i + 1 : i + 2] != "`":
                return "".join(out), sql[i + 1 :]
            i += 1  # a doubled backquote is one backquote of the name
        out.append(sql[i])
        i += 1


@pytest.mark.parametrize(
    ("name", "quoted"),
    [
        ("t", "`t`"),
        ("we`ird", "`we``ird`"),
        ("``", "``````"),
        ("50%", "`50%%`"),
        ("日本 表", "`日本 表`"),
        ("😀", "`😀`"),
    ],
)
def test_quote_ident(name: str, quoted: str) -> None:
    assert quote_ident(name) == quoted


@pytest.mark.parametrize(("name", "quoted"), [("50%", "`50%`"), ("a`%b", "`a``%b`")])
def test_without_params_percent_stays(name: str, quoted: str) -> None:
    assert quote_ident(name, for_params=False) == quoted


@pytest.mark.parametrize("bad", ["", "a\x00b"])
@pytest.mark.parametrize("for_params", [True, False])
def test_quote_ident_rejects(bad: str, for_params: bool) -> None:
    with pytest.raises(ValueError, match="identifier"):
        quote_ident(bad, for_params=for_params)


@given(names, st.sampled_from(["", ".`t`", " WHERE `a` = 1", ",`b``c`"]))
def test_round_trip_without_params(name: str, rest: str) -> None:
    # the token ends exactly where the quoting ends, whatever the name and what follows
    assert _read_ident(quote_ident(name, for_params=False) + rest) == (name, rest)


@given(names)
def test_round_trip_through_the_driver(name: str) -> None:
    # PyMySQL/aiomysql interpolate a statement that has parameters with ``sql % args``
    sent = f"{quote_ident(name)} = %s" % ("1",)
    assert _read_ident(sent) == (name, " = 1")


@given(names)
def test_percent_doubling_is_the_only_difference(name: str) -> None:
    assert quote_ident(name) == quote_ident(name, for_params=False).replace("%", "%%")
