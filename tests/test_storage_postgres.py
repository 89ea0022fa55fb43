"""The PostgreSQL back end's own pieces: SQL translation and URLs fit for a log line."""

from __future__ import annotations

import pytest

from bot.storage.postgres import redacted, translate, url_secrets


def test_placeholders_in_comments_and_literals_are_left_alone() -> None:
    statement = translate(
        "SELECT /* is ? due */ ? AS a, 'it''s ?' AS b, E'it\\'s ?' AS c, \"q?\" -- what ?\n"
        "FROM t WHERE x = ?::text /* :name ? */"
    )
    assert statement.count == 2
    assert statement.text == (
        "SELECT /* is ? due */ $1 AS a, 'it''s ?' AS b, E'it\\'s ?' AS c, \"q?\" -- what ?\n"
        "FROM t WHERE x = $2::text /* :name ? */"
    )


def test_a_backslash_ends_nothing_in_a_plain_literal() -> None:
    # standard_conforming_strings: in '...' a backslash is itself, so the literal ends at the quote.
    assert translate("SELECT 'a\\' , ?").count == 1


def test_named_placeholders_are_numbered_once_each() -> None:
    statement = translate("UPDATE t SET a = :x WHERE b = :y AND c = :x")
    assert statement.text == "UPDATE t SET a = $1 WHERE b = $2 AND c = $1"
    assert statement.bind({"x": 1, "y": 2}) == [1, 2]


@pytest.mark.parametrize(
    ("sql", "rows"),
    [
        ("WITH d AS (SELECT id FROM outbox FOR UPDATE SKIP LOCKED) SELECT id FROM d", True),
        ("WITH d (id) AS (SELECT 1), e AS MATERIALIZED (SELECT 2) SELECT * FROM d, e", True),
        ("WITH d AS (SELECT id FROM t) UPDATE t SET a = 1 WHERE id IN (SELECT id FROM d)", False),
        ("WITH d AS (DELETE FROM t RETURNING id) INSERT INTO u SELECT id FROM d", False),
        ("WITH d AS (DELETE FROM t RETURNING id) INSERT INTO u SELECT id FROM d RETURNING id", True),
        ("UPDATE t SET a = 1 WHERE id = ? RETURNING id", True),
        ("UPDATE t SET note = 'RETURNING' WHERE id = ?", False),
        ("INSERT INTO t (a) VALUES (?) /* RETURNING a */", False),
        ("INSERT INTO t (a) WITH v AS (SELECT 1) SELECT * FROM v", False),
        ("(SELECT 1) UNION (SELECT 2)", True),
        ("DELETE FROM t WHERE id IN (SELECT id FROM u)", False),
    ],
)
def test_whether_a_statement_gives_rows_is_read_from_its_top_level(sql: str, rows: bool) -> None:
    assert translate(sql).returns_rows is rows


def test_an_unterminated_literal_is_translated_in_linear_time() -> None:
    # Each alternative of the tokenizer is linear: a pathological text must not hang the process.
    text = "SELECT ? " + "E'\\\\" * 20_000 + " '" + "/* *" * 20_000
    assert translate(text).count == 1


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://u@h/db?password=s3cret", "postgresql://u@h/db?password=***"),
        (
            "postgresql://u:pw@h:5432/db?sslmode=require&sslpassword=k3y",
            "postgresql://u:***@h:5432/db?sslmode=require&sslpassword=***",
        ),
        (
            "postgres://u@h/db?PassWord=s3cret&application_name=x",
            "postgres://u@h/db?PassWord=***&application_name=x",
        ),
        ("postgresql://u@h/db?sslmode=disable", "postgresql://u@h/db?sslmode=disable"),
    ],
)
def test_passwords_are_masked_wherever_the_url_carries_them(url: str, shown: str) -> None:
    assert redacted(url) == shown


def test_the_url_passwords_are_given_to_the_log_formatter_both_encoded_and_decoded() -> None:
    secrets = url_secrets("postgresql://u:p%40ss@h/db?sslpassword=k%20y&password=s3cret")
    assert set(secrets) == {"p%40ss", "p@ss", "k%20y", "k y", "s3cret"}
    assert url_secrets("postgresql://u@h/db") == []
