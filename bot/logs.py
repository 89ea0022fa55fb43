"""Logging set-up: one format, quiet HTTP libraries, and the token scrubbed from every line."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from urllib.parse import quote


class RedactingFormatter(logging.Formatter):
    """Formats records, tracebacks included, then replaces secrets: the last line of defence."""

    def __init__(self, fmt: str, *secrets: str) -> None:
        super().__init__(fmt)
        self._secrets = [s for s in secrets if s]

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record), self._secrets)


def redact(text: str, secrets: Iterable[str]) -> str:
    """Replace every secret in ``text``; the token also travels URL-encoded (``:`` as ``%3A``)."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "<redacted>").replace(quote(secret, safe=""), "<redacted>")
    return text


class OneLineTelegramErrors(logging.Filter):
    """PTB logs a traceback for Telegram's own answers (a rejected token, a 502); one line says it all."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if (
            exc is not None
            and record.name.startswith("telegram")
            and type(exc).__module__.startswith("telegram")
        ):
            record.msg = f"{record.getMessage()} ({type(exc).__name__}: {' '.join(str(exc).split())})"
            record.args = None
            record.exc_info = None
            record.exc_text = None
        return True


def setup_logging(level: str = "INFO", *, secrets: tuple[str, ...] = ()) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s", *secrets))
    handler.addFilter(OneLineTelegramErrors())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx logs every request URL at INFO, and the bot token is part of Telegram's URLs.
    for noisy in ("httpx", "httpcore", "apscheduler", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # PTB logs a traceback for every non-JSON answer (a proxy's 502 page) and then raises the
    # same error, which newsbot reports in one line where it is handled.
    logging.getLogger("telegram.request.BaseRequest").setLevel(logging.CRITICAL)
