"""Rule errors: what a storage operation refuses, with a message the bot translates.

Messages are marked with `N_` so the i18n extractor finds them; the bot shows
`_(error.message).format(**error.params)` in the person's language. A parameter that is itself
words (a status's name) is a `Term`, which the bot translates too.
"""

from __future__ import annotations

from typing import Any


def N_(message: str) -> str:  # noqa: N802 - the gettext convention for "translate later"
    """Mark a message for translation without translating it here."""
    return message


class Term(str):
    """A parameter of a refusal that is a message id (a status's name): translated when shown."""

    __slots__ = ()


class RuleError(Exception):
    """An operation that the rules do not allow; nothing was changed."""

    def __init__(self, message: str, **params: Any) -> None:
        super().__init__(message)
        self.message = message
        self.params = params


class NotAllowed(RuleError):
    """The person lacks the role the operation needs."""


class NotFound(RuleError):
    """The object is gone, or never existed (a forged or stale button)."""


class AlreadyDone(RuleError):
    """Someone (maybe the same person, pressing twice) already did this."""
