"""What reaches the log, and how: one line a record, never the bot token.

Logging follows the settings (LOG_LEVEL, LOG_FORMAT): `text` is "time level logger: message";
`json` is one JSON object per line. A record with an exception keeps its one line: the error and
where it was raised follow the message (in `json` the whole traceback is a field of the same
object); in `text` the traceback follows only with LOG_LEVEL=DEBUG.

An upstream may echo the request path, `/bot<token>/<method>`, in its error page, and aiogram
puts that page into its error, so the token can hide in any message or traceback:
`TokenRedaction` rewrites every record a handler emits, and the formatters here scrub what they
write. An answer outside the Bot API's shape is told in a few words (`describe`), not the page.
"""

from __future__ import annotations

import json
import logging
import traceback
from datetime import UTC, datetime
from types import TracebackType
from typing import Any
from urllib.parse import quote

from aiogram.exceptions import ClientDecodeError

REDACTED = "<redacted>"


def redact(text: str, token: str) -> str:
    """`text` with the token's secret part (as typed and as percent-encoded) replaced."""
    if not token:
        return text
    bot_id, colon, _secret = token.partition(":")
    hidden = f"{bot_id}:{REDACTED}" if colon else REDACTED
    for form in {token, quote(token, safe=""), quote(token)}:
        text = text.replace(form, hidden)
    return text


class TokenRedaction(logging.Filter):
    """A handler filter: the record's message, traceback and stack come out without `token`."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.token:
            return True
        message = record.getMessage()
        clean = redact(message, self.token)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self.token)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, self.token)
        return True


_TOKENS: set[str] = set()  # what the formatters below scrub from every line they write


def scrub(text: str) -> str:
    for token in _TOKENS:
        text = redact(text, token)
    return text


def redact_token(token: str, logger: logging.Logger | None = None) -> TokenRedaction:
    """Install the filter on every handler of `logger` (default: the root logger), and have
    this module's formatters scrub `token` too."""
    if token:
        _TOKENS.add(token)
    redaction = TokenRedaction(token)
    for handler in (logger or logging.getLogger()).handlers:
        handler.addFilter(redaction)
    return redaction


def describe(error: BaseException) -> str:
    """A short account of a failed call: an undecodable answer without the page it was."""
    if isinstance(error, ClientDecodeError):
        original = error.original
        return f"an answer outside the Bot API ({error.message}: {type(original).__name__})"
    return str(error) or type(error).__name__


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
        return scrub(text)


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
        return scrub(json.dumps(entry, ensure_ascii=False, default=str))


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
