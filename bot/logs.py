"""Logging that carries the Telegram update id, so one update can be traced end to end."""

from __future__ import annotations

import logging
from contextvars import ContextVar

current_update: ContextVar[str] = ContextVar("current_update", default="-")

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [update=%(update_id)s] %(message)s"


class UpdateIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.update_id = current_update.get()
        return True


def setup_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler()
    handler.addFilter(UpdateIdFilter())
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
