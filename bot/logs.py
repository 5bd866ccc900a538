"""Logging that carries the Telegram update id, so one update can be traced end to end,
and never shows a secret: every line goes through ``redact`` (also used for stored errors).

Why redaction is needed at all: the HTTP client names the URL it failed on, and the Bot API
puts the token in the URL path (``/bot<token>/sendMessage``), so an error text can carry
the token into a log line or a database row unless it is removed first.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from contextvars import ContextVar
from typing import TextIO

current_update: ContextVar[str] = ContextVar("current_update", default="-")

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [update=%(update_id)s] %(message)s"
REDACTED = "<redacted>"


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every occurrence of each secret replaced (longest first)."""
    for secret in sorted(secrets, key=len, reverse=True):
        if secret:
            text = text.replace(secret, REDACTED)
    return text


class UpdateIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.update_id = current_update.get()
        return True


class RedactingFilter(logging.Filter):
    """Rewrites a record before any output: message, arguments, traceback, extra fields."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = tuple(s for s in secrets if s)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        record.msg = redact(record.getMessage(), self.secrets)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self.secrets)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, self.secrets)
        for name, value in list(vars(record).items()):
            if isinstance(value, str) and name not in ("msg", "exc_text", "stack_info"):
                setattr(record, name, redact(value, self.secrets))
        return True


def setup_logging(
    level: str = "INFO", secrets: Iterable[str] = (), stream: TextIO | None = None
) -> None:
    """One handler (stderr) on the root logger; ``secrets`` never appear in what it writes."""
    out = logging.StreamHandler(stream)
    out.addFilter(RedactingFilter(secrets))
    out.addFilter(UpdateIdFilter())
    out.setFormatter(logging.Formatter(LOG_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [out]
    root.setLevel(level)
