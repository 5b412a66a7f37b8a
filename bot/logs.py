"""Structured logs to stderr: pseudonymous ids and event names, never message text or names."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

# The only extra fields a log line may carry; anything else passed in `extra` is dropped.
SAFE_FIELDS = ("user", "conversation", "kind", "backend", "channel", "error", "elapsed_ms")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        for name in SAFE_FIELDS:
            if hasattr(record, name):
                entry[name] = getattr(record, name)
        if record.exc_info and record.exc_info[0] is not None:
            # The exception type and where it happened; exception messages may quote user text.
            entry["exception"] = record.exc_info[0].__name__
            entry["trace"] = self.formatException(record.exc_info).splitlines()[-3:-1]
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str = "WARNING") -> None:
    """Send JSON log lines to stderr at `level`."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # httpx logs every request URL at INFO, and Bot API URLs carry the bot token.
    for noisy in ("httpx", "httpcore", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
