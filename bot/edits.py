"""Editing the message a button sits on, when that message is gone or unchanged.

A person may delete the bot's message before pressing an old copy of its button, or press the
same button twice. The work is done by then; failing the edit would roll it back. So for the
bot that answers updates: an unchanged edit counts as done, and an edit of a message that can
no longer be edited is sent as a new message. (The delivery loop uses a bot without this.)
"""

from __future__ import annotations

from typing import Any

from aiogram import Bot
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.exceptions import TelegramBadRequest
from aiogram.methods import EditMessageReplyMarkup, EditMessageText, SendMessage, TelegramMethod
from aiogram.methods.base import Response, TelegramType

GONE = ("message to edit not found", "message can't be edited", "message_id_invalid")


class EditFallback(BaseRequestMiddleware):
    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        try:
            return await make_request(bot, method)
        except TelegramBadRequest as exc:
            reason = exc.message.lower()
            if not isinstance(method, EditMessageText | EditMessageReplyMarkup):
                raise
            if "message is not modified" in reason:
                return Response[Any](ok=True, result=True)  # type: ignore[return-value]
            if (
                isinstance(method, EditMessageText)
                and method.chat_id is not None
                and any(gone in reason for gone in GONE)
            ):
                resend = SendMessage(
                    chat_id=method.chat_id,
                    text=method.text,
                    parse_mode=method.parse_mode,
                    entities=method.entities,
                    reply_markup=method.reply_markup,
                )
                return await make_request(bot, resend)  # type: ignore[arg-type]
            if isinstance(method, EditMessageReplyMarkup) and any(g in reason for g in GONE):
                return Response[Any](ok=True, result=True)  # type: ignore[return-value]
            raise
