"""The bot token never reaches a log line, not even inside a traceback."""

from __future__ import annotations

import io
import logging

from bot.logs import RedactingFormatter

TOKEN = "123456:SECRET-token-value"


def test_token_is_scrubbed_from_messages_and_tracebacks() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(RedactingFormatter("%(message)s", TOKEN))
    logger = logging.getLogger("test.redaction")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("calling https://api.telegram.org/bot%s/getMe", TOKEN)
        try:
            raise RuntimeError(f"failed: https://api.telegram.org/bot{TOKEN}/sendMessage")
        except RuntimeError:
            logger.exception("send failed")
    finally:
        logger.removeHandler(handler)
    output = stream.getvalue()
    assert TOKEN not in output
    assert output.count("<redacted>") == 2
    assert "RuntimeError: failed: https://api.telegram.org/bot<redacted>/sendMessage" in output
