"""Each person's "/" menu lists what their roles allow, in their language: set for their
private chat (BotCommandScopeChat) when they write and their roles or language differ from
what this process last set for them. The call is held until the update commits, like a reply
(bot.after_commit), and fails soft: a failure is logged and the update stands."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware, Bot
from aiogram.types import BotCommandScopeChat, Chat, TelegramObject, User

from storage.permissions.home import menu_key
from storage.permissions.org import Actor
from views.home import menu

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class CommandMenus(BaseMiddleware):
    """Placed after the person middleware: it needs the actor and the locale."""

    def __init__(self, capacity: int = 50_000) -> None:
        self.capacity = capacity
        self._set: OrderedDict[int, tuple[str, ...]] = OrderedDict()

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        user: User | None = data.get("event_from_user")
        chat: Chat | None = data.get("event_chat")
        bot: Bot | None = data.get("bot")
        if user is None or user.is_bot or chat is None or chat.type != "private" or bot is None:
            return await handler(event, data)
        actor: Actor | None = data.get("actor")
        locale: str = data.get("locale") or "zh"
        key = menu_key(actor, locale)
        if self._set.get(user.id) == key:
            return await handler(event, data)
        try:
            result = await handler(event, data)
        except BaseException:
            self._set.pop(user.id, None)
            raise
        # the roles or language this update itself changed are seen at the next update
        await bot.set_my_commands(menu(actor, locale), scope=BotCommandScopeChat(chat_id=chat.id))
        self._set[user.id] = key
        self._set.move_to_end(user.id)
        while len(self._set) > self.capacity:
            self._set.popitem(last=False)
        return result

    def forget(self, user_id: int) -> None:
        self._set.pop(user_id, None)
