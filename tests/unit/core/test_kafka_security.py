"""Kafka's security settings: one home, checked, and never a password in a repr or an error."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import ConfigError
from core.kafka_security import KafkaSecurity
from core.settings import from_env
from tests.tls_certs import make_pki

SECRET = "sasl-s3cret"


def security(**env: str) -> KafkaSecurity:
    return from_env(KafkaSecurity, {f"TIUNDO_KAFKA_{k.upper()}": v for k, v in env.items()})


def test_plaintext_by_default() -> None:
    assert security().client_options() == {"security_protocol": "PLAINTEXT"}


def test_sasl_ssl_options(tmp_path: Path) -> None:
    ca = str(make_pki(tmp_path).ca)
    s = security(
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-256",
        sasl_user="u",
        sasl_password=SECRET,
        ca=ca,
    )
    options = s.client_options()
    assert options["security_protocol"] == "SASL_SSL"
    assert options["ssl_context"] is not None and options["ssl_context"].check_hostname
    assert (options["sasl_mechanism"], options["sasl_plain_username"]) == ("SCRAM-SHA-256", "u")
    assert options["sasl_plain_password"] == SECRET
    assert SECRET not in repr(s)


def test_sasl_plaintext_has_no_tls_and_a_password_file(tmp_path: Path) -> None:
    f = tmp_path / "pw"
    f.write_text(SECRET + "\n")
    options = security(
        security_protocol="SASL_PLAINTEXT", sasl_user="u", sasl_password_file=str(f)
    ).client_options()
    assert "ssl_context" not in options and options["sasl_plain_password"] == SECRET


@pytest.mark.parametrize(
    ("env", "error"),
    [
        ({"security_protocol": "TLS"}, "must be one of PLAINTEXT"),
        ({"security_protocol": "SASL_SSL", "sasl_user": "u"}, "needs TIUNDO_KAFKA_SASL_USER"),
        (
            {"security_protocol": "SASL_SSL", "sasl_mechanism": "GSSAPI", "sasl_user": "u",
             "sasl_password": SECRET},
            "SASL_MECHANISM must be one of",
        ),
        ({"sasl_user": "u", "sasl_password": SECRET}, "SASL login is given but"),
        ({"ca": "/ca.pem"}, "use SSL or SASL_SSL"),
        ({"security_protocol": "SSL", "ca": "/nowhere.pem"}, "TIUNDO_KAFKA_CA: cannot read"),
        ({"security_protocol": "SSL", "cert": "/c.pem"}, "TIUNDO_KAFKA_CERT and TIUNDO_KAFKA_KEY"),
    ],
)  # fmt: skip
def test_bad_settings_are_one_line_errors_without_the_password(
    env: dict[str, str], error: str
) -> None:
    with pytest.raises(ConfigError, match=error) as err:
        security(**env).validate()
    assert SECRET not in str(err.value) and "\n" not in str(err.value)
