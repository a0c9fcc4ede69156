"""What an update says to Telegram waits for its transaction to commit.

While an update's transaction is open (`HeldCalls.collecting`), every call the answering bot
makes (a reply, a toast, an edit, a photo) is held instead of sent, in order; the handler
gets `NOT_SENT` back, which no handler reads. Once the transaction has committed the
database middleware sends them, straight away, in the order made where order shows: new
messages one after another, and the edits of one message one after another. The rest goes
side by side: a press's answer (its toast, or only the end of its spinner) changes nothing in
the chat, an edit changes a message already there in its place, and a "/" menu is not in the
chat at all, so none of them waits for a new message's round trip (on a 60 ms network a press
that edits its card and sends the next step is answered in one round trip, not three). After
a rollback they are dropped, so a person is never told "done" about something that did not
happen; the errors handler, outside the transaction, says the one apology.

A held call that fails after the commit is logged and the next one is still made: the change
is made, and only that answer is missing (a 429 is waited out once, if it is short).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from aiogram import Bot
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.exceptions import AiogramError, TelegramRetryAfter
from aiogram.methods import (
    AnswerCallbackQuery,
    DeleteMessage,
    EditMessageCaption,
    EditMessageMedia,
    EditMessageReplyMarkup,
    EditMessageText,
    SetMyCommands,
    TelegramMethod,
)
from aiogram.methods.base import Response, TelegramType

from bot.logs import describe

log = logging.getLogger("linli.replies")

# Calls that change a message already in the chat, in its place.
IN_PLACE = (
    EditMessageText,
    EditMessageCaption,
    EditMessageMedia,
    EditMessageReplyMarkup,
    DeleteMessage,
)
RETRY_AFTER_LIMIT = 5  # seconds: a longer 429 is not waited out while the person waits


class NotSent:
    """What a held call returns: its answer does not exist yet."""

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(
            "a reply is sent only after the update's transaction commits, so its answer "
            f"(.{name}) is not known inside the handler"
        )

    def __bool__(self) -> bool:
        return True


NOT_SENT = NotSent()
_current: ContextVar[HeldCalls | None] = ContextVar("held_calls", default=None)


class HeldCalls:
    """The calls one update's handler made, to be sent once its transaction commits."""

    def __init__(self) -> None:
        self.calls: list[tuple[Bot, TelegramMethod[Any]]] = []

    @contextmanager
    def collecting(self) -> Iterator[None]:
        token = _current.set(self)
        try:
            yield
        finally:
            _current.reset(token)

    async def send(self) -> int:
        """Make the held calls, each chain in order and the chains side by side; how many
        got an answer."""
        calls, self.calls = self.calls, []
        chains: dict[object, list[tuple[Bot, TelegramMethod[Any]]]] = {}
        for bot, method in calls:
            chains.setdefault(_chain(method), []).append((bot, method))
        if len(chains) == 1:
            return await _in_order(calls)
        return sum(await asyncio.gather(*(_in_order(chain) for chain in chains.values())))


def _chain(method: TelegramMethod[Any]) -> object:
    """Which calls keep their order among themselves: a press's answer its own, and a "/"
    menu's; an edit or a deletion with the other calls about that message; new messages with
    each other."""
    if isinstance(method, AnswerCallbackQuery):
        return ("answer", method.callback_query_id)
    if isinstance(method, SetMyCommands):  # the "/" menu: not in the chat at all
        return "menu"
    if isinstance(method, IN_PLACE):
        inline = getattr(method, "inline_message_id", None)  # DeleteMessage has none
        return ("message", method.chat_id, method.message_id, inline)
    return "new messages"


async def _in_order(calls: list[tuple[Bot, TelegramMethod[Any]]]) -> int:
    answered = 0
    for bot, method in calls:
        answered += await _call(bot, method)
    return answered


async def _call(bot: Bot, method: TelegramMethod[Any]) -> bool:
    """One held call. A 429 is waited out, again and again (under a burst the next try can
    meet the limit too), while the waits add up to RETRY_AFTER_LIMIT at most."""
    waited = 0
    while True:
        try:
            await bot(method)
        except TelegramRetryAfter as exc:
            if waited + exc.retry_after > RETRY_AFTER_LIMIT:
                log.warning("%s not sent: %s", method.__api_method__, exc)
                return False
            waited += exc.retry_after
            await asyncio.sleep(exc.retry_after)
        except (AiogramError, OSError, TimeoutError) as exc:
            # aiogram's errors, an answer that is not Bot API JSON, the network
            log.warning("%s not sent: %s", method.__api_method__, describe(exc))
            return False
        else:
            return True


class HoldUntilCommit(BaseRequestMiddleware):
    """The answering bot's first request middleware: holds calls made inside a transaction."""

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        held = _current.get()
        if held is None:
            return await make_request(bot, method)
        held.calls.append((bot, method))
        return NOT_SENT  # type: ignore[return-value]
