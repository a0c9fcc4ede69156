"""The middleware chain, in one place:
throttling -> one person at a time -> session -> conversation state -> person and locale ->
their "/" menu
(-> the person as a row of the session, once the handler is chosen and only if it takes it)."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware, Bot, Dispatcher
from aiogram.dispatcher.event.handler import HandlerObject
from aiogram.exceptions import TelegramAPIError
from aiogram.fsm.middleware import FSMContextMiddleware
from aiogram.fsm.storage.base import BaseEventIsolation
from aiogram.types import Chat, TelegramObject, Update, User
from aiogram.utils.i18n import I18n
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.after_commit import HeldCalls
from bot.menus import CommandMenus
from storage import outbox, updates
from storage.clock import Clock
from storage.db import (
    SessionFactory,
    active_session,
    commit,
    for_update,
    in_turn,
    is_write_conflict,
    reading,
    rollback,
    update_slot,
)
from storage.errors import N_
from storage.profiles import Profile, Profiles
from storage.updates import AlreadyHandled

log = logging.getLogger("linli.updates")
# An update whose write still met another writer (on SQLite: another process past the busy
# timeout) is run again, in turn; past this, it fails (apology).
MAX_ATTEMPTS = 5

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


# Counts one person's updates across every process sharing the Redis: a sliding window
# (ms) in a sorted set, capped at burst + 1 entries. Returns the count in the window.
_THROTTLE_SCRIPT = """
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local window, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ms - window)
redis.call('ZADD', KEYS[1], ms, ARGV[3])
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(burst + 2))
redis.call('PEXPIRE', KEYS[1], window)
return redis.call('ZCARD', KEYS[1])
"""
TOO_FAST = N_("Too fast: please wait a moment.")


class ThrottlingMiddleware(BaseMiddleware):
    """Drops a person's updates past `burst` within `window` seconds (a stuck key, a flood);
    a dropped button press is still answered ("too fast"), so that the button stops spinning.

    With `redis` the count is shared by every process (webhook workers); while Redis does
    not answer, each process counts on its own."""

    def __init__(
        self,
        *,
        burst: int = 20,
        window: float = 10.0,
        redis: Redis | None = None,
        i18n: I18n | None = None,
        profiles: Profiles | None = None,
    ) -> None:
        self.burst = burst
        self.window = window
        self.redis = redis
        self.i18n = i18n
        self.profiles = profiles
        self._script = redis.register_script(_THROTTLE_SCRIPT) if redis is not None else None
        self._redis_failing = False
        self._seen: dict[int, list[float]] = {}

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        user: User | None = data.get("event_from_user")
        if user is None:
            return await handler(event, data)
        if await self._count(user.id) > self.burst:
            await self._answer_press(event, user, data.get("bot"))
            return None
        return await handler(event, data)

    async def _count(self, user_id: int) -> int:
        """This update and the person's others within the window."""
        if self._script is not None:
            try:
                count = await self._script(
                    keys=[f"linli:throttle:{user_id}"],
                    args=[int(self.window * 1000), self.burst, uuid.uuid4().hex],
                )
            except (RedisError, OSError) as exc:
                if not self._redis_failing:
                    log.warning("throttling: Redis lost (%s); counting in this process", exc)
                    self._redis_failing = True
            else:
                if self._redis_failing:
                    log.warning("throttling: Redis is back")
                    self._redis_failing = False
                return int(count)
        now = time.monotonic()
        recent = [t for t in self._seen.get(user_id, []) if now - t < self.window]
        recent.append(now)
        self._seen[user_id] = recent
        if len(self._seen) > 10_000:  # forget quiet people now and then
            self._seen = {k: v for k, v in self._seen.items() if now - v[-1] < self.window}
        return len(recent)

    async def _answer_press(self, event: TelegramObject, user: User, bot: Bot | None) -> None:
        query = event.callback_query if isinstance(event, Update) else None
        if query is None or self.i18n is None:
            return
        kept = self.profiles.kept(user.id) if self.profiles is not None else None
        locale = (kept.person.locale if kept is not None else None) or self.i18n.default_locale
        text = self.i18n.gettext(TOO_FAST, locale=locale)
        bot = bot or query.bot
        if bot is None:
            return
        try:
            await bot.answer_callback_query(query.id, text=text)
        except (TelegramAPIError, OSError) as exc:  # an extra: the press is dropped anyway
            log.debug("could not answer a throttled press: %s", exc)


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
    says nothing. On SQLite an update's first write waits its turn in this process
    (storage.db); one that still meets a writer (another process, past SQLite's busy timeout)
    is rolled back and run again in turn. When the transaction wrote to the outbox, the
    delivery loop is woken for those chats.
    """

    def __init__(
        self,
        sessions: SessionFactory,
        clock: Clock,
        on_outbox: Callable[[set[int]], None] | None = None,
    ) -> None:
        self.sessions = sessions
        self.first_attempt = for_update(sessions)
        self.readers = reading(sessions)
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
                    async with update_slot(self.sessions), self.first_attempt() as session:
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
            chats = session.info.pop(outbox.OUTBOX_CHATS, None)
            if chats and self.on_outbox:
                self.on_outbox(chats)
            await held.send()
            return result
        raise AssertionError("unreachable")  # pragma: no cover

    async def _handled_before(self, update_id: int) -> bool:
        async with self.readers() as session:  # a read: no write lock on SQLite
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
    on_outbox: Callable[[set[int]], None] | None = None,
    redis: Redis | None = None,
) -> None:
    """The dispatcher must be built with `disable_fsm=True`: its FSM middleware is placed here,
    inside the session, so reading the state joins the update's transaction. With `redis`,
    the flood limit holds across processes."""
    for middleware in (
        ThrottlingMiddleware(redis=redis, i18n=i18n, profiles=profiles),
        IsolationMiddleware(dp.fsm, isolation),
        DatabaseMiddleware(sessions, clock, on_outbox),
        dp.fsm,
        PersonMiddleware(profiles, i18n),
        CommandMenus(),
    ):
        dp.update.outer_middleware(middleware)
    attach = AttachPersonMiddleware()
    for observer in dp.observers.values():  # inner middlewares of the root reach every router
        if observer.event_name not in ("update", "error"):
            observer.middleware(attach)
