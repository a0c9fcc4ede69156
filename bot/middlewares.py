"""The middleware chain, in one place:
throttling -> one person at a time -> session -> conversation state -> person and locale
(-> the person as a row of the session, once the handler is chosen and only if it takes it)."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware, Dispatcher
from aiogram.dispatcher.event.handler import HandlerObject
from aiogram.fsm.middleware import FSMContextMiddleware
from aiogram.fsm.storage.base import BaseEventIsolation
from aiogram.types import Chat, TelegramObject, Update, User
from aiogram.utils.i18n import I18n
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.after_commit import HeldCalls
from storage import updates
from storage.clock import Clock
from storage.db import (
    SessionFactory,
    active_session,
    commit,
    for_update,
    in_turn,
    is_write_conflict,
    rollback,
)
from storage.profiles import Profile, Profiles
from storage.updates import AlreadyHandled

log = logging.getLogger("linli.updates")
# An update whose writes met another writer's is run again; past this, it fails (apology).
MAX_ATTEMPTS = 5

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


class IsolationMiddleware(BaseMiddleware):
    """One update at a time per person and chat, from before the session opens until after it
    commits: a quick second tap or message then sees what the first one saved."""

    def __init__(self, fsm: FSMContextMiddleware, isolation: BaseEventIsolation) -> None:
        self.fsm = fsm
        self.isolation = isolation

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        context = self.fsm.resolve_event_context(data["bot"], data)
        if context is None:
            return await handler(event, data)
        async with self.isolation.lock(key=context.key):
            return await handler(event, data)


class DatabaseMiddleware(BaseMiddleware):
    """One transaction per update, the unit of work; what the update says waits for it.

    Handlers never commit. The handler's calls to Telegram are held (bot.after_commit) and
    made once the transaction has committed; after a rollback they are dropped and the error
    goes on to the errors handler, which apologises. An update that changed something records
    its id in the same transaction (storage.updates): delivered again, it changes nothing and
    says nothing. On SQLite an update whose writes meet another writer's is rolled back and
    run again in turn (storage.db). When the transaction wrote to the outbox, the delivery
    loop is woken.
    """

    def __init__(
        self, sessions: SessionFactory, clock: Clock, on_outbox: Callable[[], None] | None = None
    ) -> None:
        self.sessions = sessions
        self.first_attempt = for_update(sessions)
        self.clock = clock
        self.on_outbox = on_outbox

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        update_id = event.update_id if isinstance(event, Update) else None
        bot = data.get("bot")
        if bot is not None:  # who the bot is, asked (once) before any transaction opens
            await bot.me()
        for attempt in range(1, MAX_ATTEMPTS + 1):
            held = HeldCalls()
            try:
                if attempt == 1:
                    async with self.first_attempt() as session:
                        result = await self._handle(handler, event, data, session, held, update_id)
                else:
                    async with in_turn(self.sessions), self.sessions() as session:
                        result = await self._handle(handler, event, data, session, held, update_id)
            except AlreadyHandled:
                log.info("update %s was handled before: skipped", update_id)
                return None
            except Exception as error:
                if attempt < MAX_ATTEMPTS and is_write_conflict(error):
                    continue
                # A repeat whose rules now refuse it ("already reviewed") says nothing either.
                if update_id is not None and await self._handled_before(update_id):
                    log.info("update %s was handled before: skipped", update_id)
                    return None
                raise
            if session.info.pop("outbox_touched", False) and self.on_outbox:
                self.on_outbox()
            await held.send()
            return result
        raise AssertionError("unreachable")  # pragma: no cover

    async def _handled_before(self, update_id: int) -> bool:
        async with self.sessions() as session:
            return await updates.was_handled(session, update_id)

    async def _handle(
        self,
        handler: Handler,
        event: TelegramObject,
        data: dict[str, Any],
        session: AsyncSession,
        held: HeldCalls,
        update_id: int | None,
    ) -> Any:
        data["session"] = session
        data["now"] = now = self.clock.now()
        session.info["update_id"] = update_id
        token = active_session.set(session)
        try:
            with held.collecting():
                result = await handler(event, data)
            await commit(
                session,
                on_write=None
                if update_id is None
                else lambda s: updates.record(s, update_id, now),
            )
        except BaseException:
            await rollback(session)
            raise
        finally:
            active_session.reset(token)
        return result


class PersonMiddleware(BaseMiddleware):
    """Loads the person behind the update (created on first private contact), their roles and
    home, from the process's memory of them when it has it (see storage.profiles), and speaks
    their chosen language, else the configured default."""

    def __init__(self, profiles: Profiles, i18n: I18n) -> None:
        self.profiles = profiles
        self.i18n = i18n

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        user: User | None = data.get("event_from_user")
        chat: Chat | None = data.get("event_chat")
        profile = None
        if user is not None and not user.is_bot:
            # a message in a group makes no row for every member who talks there
            create = (
                chat is None
                or chat.type == "private"
                or getattr(event, "event_type", None) != "message"
            )
            profile = await self.profiles.get(
                data["session"],
                user.id,
                create=create,
                full_name=user.full_name,
                username=user.username,
            )
        data["profile"] = profile
        data["actor"] = profile.actor if profile is not None else None
        data["person"] = None  # a row of the session, for handlers that take it: see below
        locale = (profile.person.locale if profile is not None else None) or (
            self.i18n.default_locale
        )
        data["locale"] = locale
        data["i18n"] = self.i18n
        with self.i18n.context(), self.i18n.use_locale(locale):
            return await handler(event, data)


class AttachPersonMiddleware(BaseMiddleware):
    """Gives the handler the person as a row of the update's session, when it asks for one.

    An inner middleware: it runs once the handler is chosen, so updates whose handler only
    reads the profile (most of them) skip the work.
    """

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        profile: Profile | None = data.get("profile")
        chosen: HandlerObject | None = data.get("handler")
        if profile is not None and (chosen is None or chosen.varkw or "person" in chosen.params):
            data["person"] = await profile.attach(data["session"])
        return await handler(event, data)


def setup_middlewares(
    dp: Dispatcher,
    *,
    sessions: SessionFactory,
    clock: Clock,
    i18n: I18n,
    isolation: BaseEventIsolation,
    profiles: Profiles,
    on_outbox: Callable[[], None] | None = None,
) -> None:
    """The dispatcher must be built with `disable_fsm=True`: its FSM middleware is placed here,
    inside the session, so reading the state joins the update's transaction."""
    for middleware in (
        ThrottlingMiddleware(),
        IsolationMiddleware(dp.fsm, isolation),
        DatabaseMiddleware(sessions, clock, on_outbox),
        dp.fsm,
        PersonMiddleware(profiles, i18n),
    ):
        dp.update.outer_middleware(middleware)
    attach = AttachPersonMiddleware()
    for observer in dp.observers.values():  # inner middlewares of the root reach every router
        if observer.event_name not in ("update", "error"):
            observer.middleware(attach)
