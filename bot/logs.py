"""What reaches the log: never the bot token, and an answer outside the Bot API's shape in a
few words rather than the whole page a proxy sent.

An upstream may echo the request path, `/bot<token>/<method>`, in its error page, and aiogram
puts that page into its error, so the token can hide in any message or traceback:
`TokenRedaction` rewrites every record a handler emits.
"""

from __future__ import annotations

import logging
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


def redact_token(token: str, logger: logging.Logger | None = None) -> TokenRedaction:
    """Install the filter on every handler of `logger` (default: the root logger)."""
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
