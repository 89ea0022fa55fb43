"""The PostgreSQL back end's own pieces: URLs fit for a log line."""

from __future__ import annotations

import pytest

from bot.storage.postgres import redacted, url_secrets


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://u@h/db?password=s3cret", "postgresql://u@h/db?password=***"),
        (
            "postgresql://u:pw@h:5432/db?sslmode=require&sslpassword=k3y",
            "postgresql://u:***@h:5432/db?sslmode=require&sslpassword=***",
        ),
        ("postgres://u@h/db?PassWord=s3cret&application_name=x", "postgres://u@h/db?PassWord=***&application_name=x"),
        ("postgresql://u@h/db?sslmode=disable", "postgresql://u@h/db?sslmode=disable"),
    ],
)
def test_passwords_are_masked_wherever_the_url_carries_them(url: str, shown: str) -> None:
    assert redacted(url) == shown


def test_the_url_passwords_are_given_to_the_log_formatter_both_encoded_and_decoded() -> None:
    secrets = url_secrets("postgresql://u:p%40ss@h/db?sslpassword=k%20y&password=s3cret")
    assert set(secrets) == {"p%40ss", "p@ss", "k%20y", "k y", "s3cret"}
    assert url_secrets("postgresql://u@h/db") == []
