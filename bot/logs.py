"""Structured logs to stderr: pseudonymous ids and event names, never message text or names."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

# The only extra fields a log line may carry; anything else passed in `extra` is dropped.
# `detail` is for operator facts only (a webhook's host, a platform's verdict), never a student's.
SAFE_FIELDS = ("user", "conversation", "kind", "backend", "channel", "error", "elapsed_ms", "count", "detail")


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
            # The exception type and where it happened (the last two frames, file and line only): an
            # exception's message, and a database error's statement, may quote what a student wrote.
            entry["exception"] = record.exc_info[0].__name__
            frames = [
                line.strip()
                for line in self.formatException(record.exc_info).splitlines()
                if line.startswith('  File "')
            ]
            entry["trace"] = frames[-2:]
        return json.dumps(entry, ensure_ascii=False)


PROJECT = ("bot", "handlers", "nlu", "storage", "counselor", "content", "__main__")


class OursOrWarnings(logging.Filter):
    """Our own log lines at the configured level; libraries' only from WARNING up. Libraries' INFO
    and DEBUG lines carry what we must not log: SQL parameters (message text), whole Telegram updates,
    request URLs with the bot token."""

    def filter(self, record: logging.LogRecord) -> bool:
        ours = record.name.split(".", 1)[0] in PROJECT
        return ours or record.levelno >= logging.WARNING


def configure_logging(level: str = "WARNING") -> None:
    """Send JSON log lines to stderr at `level` (libraries: WARNING and up only)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(OursOrWarnings())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
