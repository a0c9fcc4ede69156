"""Logging as the settings say (LOG_LEVEL, LOG_FORMAT): every record is one line.

`text` is "time level logger: message"; `json` is one JSON object per line. A record with an
exception keeps its one line: the error and where it was raised follow the message (in `json`
the whole traceback is a field of the same object); in `text` the traceback follows only with
LOG_LEVEL=DEBUG.
"""

from __future__ import annotations

import json
import logging
import traceback
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


def error_summary(exc_info: ExcInfo) -> str:
    """`ValueError: boom (schedules/points.py:42 in weekly)`: the error and where it arose."""
    _kind, error, tb = exc_info
    summary = traceback.format_exception_only(error)[-1].strip()
    frames = traceback.extract_tb(tb) if tb is not None else []
    if frames:
        last = frames[-1]
        summary += f" ({last.filename}:{last.lineno} in {last.name})"
    return summary


class TextFormatter(logging.Formatter):
    """One line a record; with `tracebacks` (LOG_LEVEL=DEBUG) the traceback follows it."""

    def __init__(self, *, tracebacks: bool = False) -> None:
        super().__init__(TEXT_FORMAT)
        self.tracebacks = tracebacks

    def format(self, record: logging.LogRecord) -> str:
        record.message = record.getMessage()
        record.asctime = self.formatTime(record, self.datefmt)
        text = self.formatMessage(record).replace("\n", " ")
        if record.exc_info and record.exc_info[1] is not None:
            text += f" | {error_summary(record.exc_info)}"  # type: ignore[arg-type]
            if self.tracebacks:
                text += "\n" + self.formatException(record.exc_info)
        return text


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, and the error if any."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and record.exc_info[1] is not None:
            entry["error"] = error_summary(record.exc_info)  # type: ignore[arg-type]
            entry["traceback"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(level: str, fmt: str) -> None:
    """Apply the level and format to the root logger and its handlers (set up once by
    `logging.basicConfig` in bot.py; their filters stay as they are)."""
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig()
    root.setLevel(level)
    formatter: logging.Formatter = (
        JsonFormatter() if fmt == "json" else TextFormatter(tracebacks=level == "DEBUG")
    )
    for handler in root.handlers:
        handler.setFormatter(formatter)
