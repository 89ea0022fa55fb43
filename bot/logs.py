"""Logging set-up: one line per event (text or JSON), quiet HTTP libraries, the token scrubbed."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from urllib.parse import quote

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class RedactingFormatter(logging.Formatter):
    """Formats records, tracebacks included, then replaces secrets: the last line of defence."""

    def __init__(self, fmt: str, *secrets: str, one_line: bool = False) -> None:
        super().__init__(fmt)
        self._secrets = [s for s in secrets if s]
        self._one_line = one_line

    def format(self, record: logging.LogRecord) -> str:
        text = redact(super().format(record), self._secrets)
        # A traceback kept on the event's own line: a log collector never splits one event in two.
        return text.replace("\n", "\\n") if self._one_line else text


class JsonFormatter(logging.Formatter):
    """One JSON object per event: time (UTC, ISO 8601), level, logger, message, exception."""

    def __init__(self, *secrets: str) -> None:
        super().__init__()
        self._secrets = [s for s in secrets if s]

    def format(self, record: logging.LogRecord) -> str:
        event: dict[str, str] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            record.exc_text = record.exc_text or self.formatException(record.exc_info)
        if record.exc_text:
            event["exception"] = record.exc_text
        if record.stack_info:
            event["stack"] = self.formatStack(record.stack_info)
        # Scrubbed field by field, before JSON escaping could change how a secret is spelled.
        return json.dumps({k: redact(v, self._secrets) for k, v in event.items()}, ensure_ascii=False)


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


def setup_logging(level: str = "INFO", *, secrets: tuple[str, ...] = (), json_lines: bool = False) -> None:
    """Log to stderr, one line per event: readable text, or JSON objects with ``json_lines``."""
    handler = logging.StreamHandler()
    formatter = (
        JsonFormatter(*secrets) if json_lines else RedactingFormatter(TEXT_FORMAT, *secrets, one_line=True)
    )
    handler.setFormatter(formatter)
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
