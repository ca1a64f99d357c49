"""No password of a URL ever reaches an error message, whatever the typo in the URL."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from app.config import UndoConfig
from core.errors import ConfigError
from core.urls import parse_host_ports, parse_http_url, parse_mysql_url, redact
from ingest.config import IngestConfig

SECRET = "s3cr3t-Pa55"

TYPOS = [
    f"mysql//root:{SECRET}@db:4000",  # the scheme's colon missing
    f"mysql:/root:{SECRET}@db:4000",
    f"mysq://root:{SECRET}@db:4000",  # wrong scheme
    f"mysql://root:{SECRET}@db:40x0",  # bad port
    f"mysql://root:{SECRET}@:4000",  # no host
    f"mysql://root:{SECRET}@db:99999",
    f"root:{SECRET}@db:4000",
    f"mysql://root:a/{SECRET}@db:4000",  # a slash in the password
]


@pytest.mark.parametrize("url", TYPOS)
def test_a_mistyped_downstream_url_does_not_echo_its_password(url: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_mysql_url(url)
    assert SECRET not in str(err.value)
    assert "***" in str(err.value) or "@" not in str(err.value)


@pytest.mark.parametrize(
    "url", [f"kafka://u:{SECRET}@k:9x", f"kafka//u:{SECRET}@k:9092", f"http://u:{SECRET}@"]
)
def test_other_urls_do_not_echo_their_password(url: str) -> None:
    for parse in (lambda u: parse_host_ports(u, "kafka"), parse_http_url):
        try:
            parse(url)
        except ConfigError as exc:
            assert SECRET not in str(exc)


def test_stage_configs_do_not_echo_passwords() -> None:
    bad = [
        UndoConfig(job="j", kafka=f"kafka//u:{SECRET}@k:9092"),
        UndoConfig(job="j", status_api=f"ftp://u:{SECRET}@h:1"),
        UndoConfig(job="j", downstream=f"mysql//root:{SECRET}@db:4000"),
    ]
    for cfg in bad:
        with pytest.raises(ConfigError) as err:
            cfg.validate()
        assert SECRET not in str(err.value)
    with pytest.raises(ConfigError) as err:
        IngestConfig(job="j", downstream=f"mysql//root:{SECRET}@db:4000").validate()
    assert SECRET not in str(err.value)


def test_redact_keeps_what_helps_find_the_typo() -> None:
    assert redact(f"mysql//root:{SECRET}@db:4000") == "mysql//root:***@db:4000"
    assert redact("mysql://db:4000") == "mysql://db:4000"
    assert redact(f"mysql://root:{SECRET}@x@db:4000") == "mysql://root:***@db:4000"


_password = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=6)


@given(password=_password, prefix=st.sampled_from(["mysql://", "mysql//", "mysql:/", "", "x://"]))
def test_redact_never_leaks_a_password(password: str, prefix: str) -> None:
    suffix = "@db:4000/x"
    assume(password not in suffix and password not in f"{prefix}root:***")
    url = f"{prefix}root:{password}{suffix}"
    assert password not in redact(url)


@pytest.mark.parametrize(
    "url",
    [
        f"root:/{SECRET}@db:4000/x",  # found by hypothesis: "root:/" looked like a scheme
        f"root:a//{SECRET}@db",
        f"mysql:/root:{SECRET}@db",
        f"mysql://:{SECRET}@db",
    ],
)
def test_redact_hides_the_password_of_odd_urls(url: str) -> None:
    assert SECRET not in redact(url)
