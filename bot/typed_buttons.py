"""Typed text that matches a button counts as the press: the answering bot remembers the last
inline keyboard it showed in each private chat (views.home.ShownButtons), and the press made
from typed text (its query id starts with TYPED) needs no answer from Telegram."""

from __future__ import annotations

from aiogram import Bot
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.methods import (
    AnswerCallbackQuery,
    EditMessageReplyMarkup,
    EditMessageText,
    SendMessage,
    TelegramMethod,
)
from aiogram.methods.base import Response, TelegramType
from aiogram.types import InlineKeyboardMarkup

from views.home import TYPED, ShownButtons


class RememberButtons(BaseRequestMiddleware):
    def __init__(self, shown: ShownButtons) -> None:
        self.shown = shown

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        if isinstance(method, AnswerCallbackQuery) and method.callback_query_id.startswith(TYPED):
            return True  # type: ignore[return-value]
        response = await make_request(bot, method)
        if isinstance(method, SendMessage | EditMessageText | EditMessageReplyMarkup):
            chat_id = method.chat_id
            markup = method.reply_markup
            if (
                isinstance(chat_id, int)
                and chat_id > 0
                and isinstance(markup, InlineKeyboardMarkup)
            ):
                message_id = getattr(response, "message_id", None) or getattr(
                    method, "message_id", None
                )
                if message_id:
                    self.shown.remember(chat_id, message_id, markup.model_dump(exclude_none=True))
        return response
