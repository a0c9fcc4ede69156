"""Long polling that tells Telegram an update is done only once it has been handled.

aiogram's `start_polling` confirms a batch (the `offset` of the next getUpdates) as soon as it
has handed the updates to tasks: a crash then loses the ones still being handled, and a stop
leaves them to be cancelled. Here the offset never passes an update in hand. After a crash
Telegram sends again whatever was not finished (the update ledger makes a second delivery change
nothing); a stop takes no new update, lets those in hand finish for `grace` seconds, and confirms
the finished ones before the process exits, so a clean restart gets nothing twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable
from typing import Any, TypeVar

from aiogram import Bot, Dispatcher
from aiogram.methods import GetUpdates, TelegramMethod
from aiogram.types import Update
from aiogram.utils.backoff import Backoff, BackoffConfig

log = logging.getLogger("linli.polling")

T = TypeVar("T")
BACKOFF = BackoffConfig(min_delay=1.0, max_delay=5.0, factor=1.3, jitter=0.1)  # aiogram's
# A poll answered at once with nothing new (the updates in hand are still unconfirmed, so
# Telegram returns them again): wait this long, or until one of them finishes, before the next.
REPOLL_PAUSE = 0.2
CONFIRM_TIMEOUT = 1.0


class Stopping(Exception):
    """A stop came while waiting."""


class Polling:
    """Reads updates with getUpdates and hands each to the dispatcher in its own task, at most
    `concurrency` at a time, until `stop()`."""

    def __init__(
        self,
        dp: Dispatcher,
        bot: Bot,
        *,
        concurrency: int,
        timeout: int = 10,
        grace: float = 4.0,
    ) -> None:
        self.dp = dp
        self.bot = bot
        self.concurrency = concurrency
        self.timeout = timeout  # seconds a getUpdates waits for an update
        self.grace = grace  # seconds the updates in hand get after stop()
        self._in_hand: dict[int, asyncio.Task[None]] = {}
        self._last = 0  # the highest update_id taken in hand
        self._confirmed = 0  # the highest offset Telegram was sent
        self._stopping = asyncio.Event()

    @property
    def offset(self) -> int | None:
        """Every update below it has been handled: the next getUpdates confirms them."""
        if self._in_hand:
            return min(self._in_hand)
        return self._last + 1 if self._last else None

    def stop(self) -> None:
        """Take no new update; `run` returns once those in hand are finished (or cut off)."""
        self._stopping.set()

    async def run(self) -> None:
        if self._stopping.is_set():
            return
        data: dict[str, Any] = {"bots": (self.bot,), **self.dp.workflow_data}
        await self.dp.emit_startup(bot=self.bot, **data)
        log.info("polling started")
        try:
            with contextlib.suppress(Stopping):
                await self._poll()
        finally:
            offset = await self._finish_in_hand()
            await self._confirm(offset)
            log.info("polling stopped")
            await self.dp.emit_shutdown(bot=self.bot, **data)

    async def _poll(self) -> None:
        backoff = Backoff(config=BACKOFF)
        allowed = self.dp.resolve_used_update_types()
        # As aiogram does: the request may take the long poll's time on top of the usual.
        request_timeout = int((self.bot.session.timeout or 60) + self.timeout)
        while not self._stopping.is_set():
            request = GetUpdates(offset=self.offset, timeout=self.timeout, allowed_updates=allowed)
            try:
                updates = await self._unless_stopping(
                    self.bot(request, request_timeout=request_timeout)
                )
            except Stopping:
                raise
            except Exception as error:  # the server is away: try again, as aiogram does
                log.error("could not fetch updates (%s: %s)", type(error).__name__, error)
                await self._unless_stopping(backoff.asleep())
                continue
            backoff.reset()
            self._confirmed = max(self._confirmed, request.offset or 0)
            new = [update for update in updates if update.update_id > self._last]
            for update in new:
                await self._room()
                self._take(update)
            if not new and self._in_hand:
                await self._unless_stopping(
                    asyncio.wait(
                        list(self._in_hand.values()),
                        timeout=REPOLL_PAUSE,
                        return_when=asyncio.FIRST_COMPLETED,
                    )
                )

    async def _room(self) -> None:
        """Until fewer than `concurrency` updates are in hand."""
        while len(self._in_hand) >= self.concurrency:
            await self._unless_stopping(
                asyncio.wait(list(self._in_hand.values()), return_when=asyncio.FIRST_COMPLETED)
            )
        if self._stopping.is_set():
            raise Stopping

    def _take(self, update: Update) -> None:
        self._last = update.update_id
        self._in_hand[update.update_id] = asyncio.create_task(
            self._handle(update), name=f"update {update.update_id}"
        )

    async def _handle(self, update: Update) -> None:
        try:
            result = await self.dp.feed_update(self.bot, update, bots=(self.bot,))
            if isinstance(result, TelegramMethod):
                await self.dp.silent_call_request(self.bot, result)
        except Exception:
            log.exception("update %s failed", update.update_id)
        finally:
            self._in_hand.pop(update.update_id, None)

    async def _finish_in_hand(self) -> int | None:
        """Give the updates in hand `grace` seconds, then cut off the rest (each rolls back and
        stays with Telegram). Returns the offset that confirms exactly the finished ones."""
        tasks = list(self._in_hand.values())
        if not tasks:
            return self.offset
        log.info("finishing %d update(s) in hand", len(tasks))
        _done, late = await asyncio.wait(tasks, timeout=self.grace)
        offset = self.offset
        if late:
            log.warning("%d update(s) unfinished after %s s: cut off", len(late), self.grace)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        return offset

    async def _confirm(self, offset: int | None) -> None:
        """Tell Telegram the updates below `offset` are done (else it sends them again)."""
        if offset is None or offset <= self._confirmed:
            return
        try:
            async with asyncio.timeout(CONFIRM_TIMEOUT):
                await self.bot(GetUpdates(offset=offset, limit=1, timeout=0))
        except Exception as error:  # they come again and change nothing the second time
            log.warning("could not confirm updates below %s: %s", offset, error)
        else:
            self._confirmed = offset

    async def _unless_stopping(self, work: Awaitable[T]) -> T:
        """Await `work` unless a stop comes first: then it is cancelled and Stopping raised."""
        task = asyncio.ensure_future(work)
        stopping = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if task.cancelled():
            raise Stopping
        return task.result()
