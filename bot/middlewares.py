"""The middleware chain, in one place: throttling -> session -> person -> locale."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware, Dispatcher
from aiogram.types import Chat, TelegramObject, User
from aiogram.utils.i18n import I18n

from storage import org
from storage.clock import Clock
from storage.db import SessionFactory, active_session

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class ThrottlingMiddleware(BaseMiddleware):
    """Drops a person's updates past `burst` within `window` seconds (a stuck key, a flood)."""

    def __init__(self, *, burst: int = 20, window: float = 10.0) -> None:
        self.burst = burst
        self.window = window
        self._seen: dict[int, list[float]] = {}

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        user: User | None = data.get("event_from_user")
        if user is None:
            return await handler(event, data)
        now = time.monotonic()
        recent = [t for t in self._seen.get(user.id, []) if now - t < self.window]
        recent.append(now)
        self._seen[user.id] = recent
        if len(recent) > self.burst:
            return None
        if len(self._seen) > 10_000:  # forget quiet people now and then
            self._seen = {k: v for k, v in self._seen.items() if now - v[-1] < self.window}
        return await handler(event, data)


class SerialPerUserMiddleware(BaseMiddleware):
    """One update at a time per user and chat, in arrival order.

    Polling handles updates concurrently, and a handler answers before its transaction (and the
    FSM state in it) commits: a quick second message could otherwise read the old state.
    """

    def __init__(self) -> None:
        self._locks: dict[tuple[int, int], asyncio.Lock] = {}
        self._waiting: dict[tuple[int, int], int] = {}

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        user: User | None = data.get("event_from_user")
        if user is None:
            return await handler(event, data)
        chat: Chat | None = data.get("event_chat")
        key = (chat.id if chat else 0, user.id)
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._waiting[key] = self._waiting.get(key, 0) + 1
        try:
            async with lock:
                # aiogram's FSM middleware read the state before this lock; read it again now
                # that the previous update of this user has committed.
                state = data.get("state")
                if state is not None:
                    data["raw_state"] = await state.get_state()
                return await handler(event, data)
        finally:
            self._waiting[key] -= 1
            if not self._waiting[key]:
                del self._waiting[key], self._locks[key]


class DatabaseMiddleware(BaseMiddleware):
    """One session per update, the unit of work: commit after the handler, roll back on error.

    Handlers never commit. When the transaction wrote to the outbox, the delivery loop is woken.
    """

    def __init__(
        self, sessions: SessionFactory, clock: Clock, on_outbox: Callable[[], None] | None = None
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self.on_outbox = on_outbox

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        async with self.sessions() as session:
            data["session"] = session
            data["now"] = self.clock.now()
            token = active_session.set(session)
            try:
                result = await handler(event, data)
                await session.commit()
            except BaseException:
                await session.rollback()
                raise
            finally:
                active_session.reset(token)
            if session.info.pop("outbox_touched", False) and self.on_outbox:
                self.on_outbox()
            return result


class PersonMiddleware(BaseMiddleware):
    """Loads the person behind the update (created on first private contact) and their roles."""

    def __init__(self, district_admins: tuple[int, ...]) -> None:
        self.district_admins = district_admins

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        user: User | None = data.get("event_from_user")
        chat: Chat | None = data.get("event_chat")
        data["person"] = data["actor"] = None
        if user is not None and not user.is_bot:
            session = data["session"]
            if (
                chat is None
                or chat.type == "private"
                or data.get("event_update_type") != "message"
            ):
                person = await org.get_or_create_person(
                    session, user.id, full_name=user.full_name, username=user.username
                )
            else:  # a message in a group: no row for every member who talks there
                person = await org.person_by_telegram_id(session, user.id)
            if person is not None:
                data["person"] = person
                data["actor"] = await org.load_actor(
                    session, person, district_admins=self.district_admins
                )
        return await handler(event, data)


class LocaleMiddleware(BaseMiddleware):
    """Speaks the person's chosen language, else the configured default."""

    def __init__(self, i18n: I18n) -> None:
        self.i18n = i18n

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        person = data.get("person")
        locale = (person.locale if person is not None else None) or self.i18n.default_locale
        data["locale"] = locale
        data["i18n"] = self.i18n
        with self.i18n.context(), self.i18n.use_locale(locale):
            return await handler(event, data)


class UpdateTypeMiddleware(BaseMiddleware):
    """Remembers the update's type, so later middlewares can tell a message from a press."""

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        data["event_update_type"] = getattr(event, "event_type", None)
        return await handler(event, data)


def setup_middlewares(
    dp: Dispatcher,
    *,
    sessions: SessionFactory,
    clock: Clock,
    i18n: I18n,
    district_admins: tuple[int, ...],
    on_outbox: Callable[[], None] | None = None,
) -> None:
    for middleware in (
        UpdateTypeMiddleware(),
        ThrottlingMiddleware(),
        SerialPerUserMiddleware(),
        DatabaseMiddleware(sessions, clock, on_outbox),
        PersonMiddleware(district_admins),
        LocaleMiddleware(i18n),
    ):
        dp.update.outer_middleware(middleware)
