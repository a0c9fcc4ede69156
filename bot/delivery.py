"""The delivery loop: sends the outbox at Telegram's pace and records each outcome.

Rows are taken oldest first. A chat gets one message at a time and never a later one before an
earlier due one; different chats are sent to concurrently, within the overall pace. A pass is one
short transaction: it records the outcomes of the sends that finished and claims what may go now.
When a chat has several due rows and its pace lets them go one after another (a group's burst,
or no pace at all), one claim takes a train of them, sent in order, and their outcomes are
recorded together when the train ends: a pass a train, not a pass a message. A row claimed but
never finished (a crash mid-send) becomes due again when its lease runs out, so delivery is at
least once (a crash mid-train may send again the rows of that train already sent). On `stop()`
the send in flight gets a few seconds to finish and record its outcome; the claims left after
that are given back.
"""

from __future__ import annotations

import asyncio
import base64
import bisect
import contextlib
import logging
import math
from collections import deque
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import aiogram.methods
import aiohttp
from aiogram import Bot
from aiogram.exceptions import (
    AiogramError,
    ClientDecodeError,
    TelegramAPIError,
    TelegramBadRequest,
    TelegramEntityTooLarge,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.methods.base import TelegramMethod
from aiogram.types import BufferedInputFile
from pydantic import ValidationError
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.logs import describe
from storage import health, outbox
from storage.clock import Clock
from storage.db import (
    SessionFactory,
    for_update,
    in_turn,
    is_write_conflict,
    reading,
    unit_of_work,
)
from storage.models.common import OutboxMessage, OutboxStatus

log = logging.getLogger("linli.delivery")

# The loop records that it is alive (storage.health, read by /healthz) at most this often.
HEARTBEAT_EVERY = 10.0

FILE_METHODS = {"sendPhoto", "sendDocument", "sendVoice"}
# Payload keys that are ours, not Telegram's (aiogram methods would pass unknown keys through).
LOCAL_KEYS = ("filename", "fallback_text")


@dataclass(frozen=True)
class Limits:
    """Telegram's sending limits (Bot FAQ); tests pass smaller windows to run fast."""

    per_second: int = 30
    per_group_per_minute: int = 20
    private_interval: float = 1.0
    group_window: float = 60.0  # seconds over which per_group_per_minute counts


@dataclass(frozen=True)
class Outcome:
    """What became of one send, recorded by the delivery loop's next pass."""

    row_id: int
    chat_id: int
    status: OutboxStatus
    message_id: int | None = None
    error: str = ""
    after: timedelta | None = None  # a retry's wait; None: the backoff

    @classmethod
    def sent(cls, row: OutboxMessage, message_id: int | None) -> Outcome:
        return cls(row.id or 0, row.chat_id, OutboxStatus.SENT, message_id=message_id)

    @classmethod
    def retry(cls, row: OutboxMessage, error: str, after: timedelta | None) -> Outcome:
        return cls(row.id or 0, row.chat_id, OutboxStatus.PENDING, error=error, after=after)


class Pace:
    """When the next message to a chat may go, by Telegram's limits.

    Pure bookkeeping over a monotonic clock passed in as `now` (seconds). A send is announced
    with `start` and recorded with `record` when its answer arrives: the server saw it no later
    than that, so windows counted from answer times are never too short, and a send in flight
    already counts against the limits.
    """

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self._recent: list[float] = []  # answer times of all sends within the last second
        self._groups: dict[int, deque[float]] = {}  # per group: answer times within the window
        self._private: dict[int, float] = {}  # per private chat: last answer time
        self._held: dict[int, float] = {}  # per chat: no send before this (a 429's retry_after)
        self._in_flight: dict[int, int] = {}
        self._in_flight_total = 0

    def ready_at(self, chat_id: int, now: float) -> float:
        """The earliest moment a send to `chat_id` is allowed (`math.inf`: after sends in
        flight answer). A value <= now means: now."""
        self._prune(now)
        limits = self.limits
        at = max(now, self._held.get(chat_id, now))
        at = max(
            at,
            self._window_ready(self._recent, 1.0, limits.per_second, self._in_flight_total, now),
        )
        in_chat = self._in_flight.get(chat_id, 0)
        if chat_id < 0:
            sent = self._groups.get(chat_id, ())
            at = max(
                at,
                self._window_ready(
                    sent, limits.group_window, limits.per_group_per_minute, in_chat, now
                ),
            )
        elif in_chat:
            return math.inf
        elif chat_id in self._private:
            at = max(at, self._private[chat_id] + limits.private_interval)
        return at

    def room(self, chat_id: int, most: int) -> int:
        """How many more sends to `chat_id` may go now one after another, at most `most`: a
        private chat's interval allows one; a group's window and the overall second allow
        what is left of them (sends in flight count as made)."""
        limits = self.limits
        room = min(most, limits.per_second - len(self._recent) - self._in_flight_total)
        if chat_id < 0:
            sent = len(self._groups.get(chat_id, ()))
            room = min(room, limits.per_group_per_minute - sent - self._in_flight.get(chat_id, 0))
        elif limits.private_interval > 0:
            room = min(room, 0 if self._in_flight.get(chat_id) else 1)
        return max(0, room)

    def start(self, chat_id: int) -> None:
        """A send to `chat_id` begins; it counts against the limits until `record`/`release`."""
        self._in_flight[chat_id] = self._in_flight.get(chat_id, 0) + 1
        self._in_flight_total += 1

    def release(self, chat_id: int) -> None:
        """A started send did not happen after all."""
        count = self._in_flight.get(chat_id, 0)
        if count:
            self._in_flight_total -= 1
            if count == 1:
                del self._in_flight[chat_id]
            else:
                self._in_flight[chat_id] = count - 1

    def record(self, chat_id: int, now: float) -> None:
        """A send to `chat_id` happened (its answer arrived) at `now`."""
        self.release(chat_id)
        bisect.insort(self._recent, now)
        if chat_id < 0:
            self._groups.setdefault(chat_id, deque()).append(now)
        else:
            self._private[chat_id] = max(now, self._private.get(chat_id, now))

    def hold(self, chat_id: int, until: float) -> None:
        """No send to `chat_id` before `until` (Telegram answered 429 with retry_after)."""
        self._held[chat_id] = max(until, self._held.get(chat_id, until))

    @staticmethod
    def _window_ready(times: Any, window: float, limit: int, in_flight: int, now: float) -> float:
        """When fewer than `limit` sends fall in the last `window` seconds (in-flight ones
        count as happening now)."""
        excess = len(times) + in_flight - limit + 1  # how many must leave the window first
        if excess <= 0:
            return now
        if excess > len(times):
            return math.inf
        return times[excess - 1] + window

    def _prune(self, now: float) -> None:
        cut = bisect.bisect_right(self._recent, now - 1.0)
        del self._recent[:cut]
        window = self.limits.group_window
        for chat_id, times in list(self._groups.items()):
            while times and times[0] <= now - window:
                times.popleft()
            if not times:
                del self._groups[chat_id]
        if len(self._private) > 1000:  # forget quiet chats now and then
            interval = self.limits.private_interval
            self._private = {c: t for c, t in self._private.items() if t + interval > now}
        if self._held:
            self._held = {c: t for c, t in self._held.items() if t > now}


class Delivery:
    """Sends due outbox rows through `bot` at Telegram's pace until `stop()`.

    `wake()` makes it look at the outbox now (call it after a transaction that wrote outbox rows
    commits); otherwise it looks every `poll_interval` seconds.
    """

    def __init__(
        self,
        bot: Bot,
        sessions: SessionFactory,
        clock: Clock,
        *,
        limits: Limits | None = None,
        poll_interval: float = 1.0,
        concurrency: int = 8,
        train: int = 10,
        scan_limit: int = 500,
        stop_grace: float = 5.0,
    ) -> None:
        self.bot = bot
        self.sessions = sessions
        self.readers = reading(sessions)  # scans of the outbox do not lock SQLite
        self.writers = for_update(sessions)  # a pass: reads take no lock, see _pass
        self.clock = clock
        self.pace = Pace(limits)
        self.poll_interval = poll_interval
        self.concurrency = concurrency  # chats sent to at once
        self.train = train  # rows of one chat a claim may take, sent one after another
        self.scan_limit = scan_limit
        self.stop_grace = stop_grace  # seconds the sends in flight get after stop()
        self._wake = asyncio.Event()
        self._progress = asyncio.Event()
        self._stopping = False
        self._tasks: dict[int, asyncio.Task[None]] = {}  # chat_id -> its train in flight
        self._claimed: set[int] = set()  # rows claimed whose outcome is not recorded yet
        self._outcomes: list[Outcome] = []  # sends done, to be recorded by the next pass
        self._give_back: list[int] = []  # claimed rows a train left unsent, for the next pass
        self._passing = False  # a pass is recording outcomes or claiming rows right now
        # chat_id -> when its earlier row, put back for a retry, becomes due again; later rows
        # of that chat wait until then so that they cannot overtake it.
        self._retry_due: dict[int, datetime] = {}
        self.last_pass_at: datetime | None = None  # the clock's time of the last good pass
        self._beat_at: float | None = None  # the loop's time of the last heartbeat recorded

    def wake(self, chats: Collection[int] = ()) -> None:
        """Look at the outbox now; with `chats`, the chats new rows were written for. A row for
        a chat whose send is in flight needs no look now: that send's end brings a pass, which
        finds it (a pass for nothing was a transaction a push, under a burst to one worker)."""
        if chats and all(chat_id in self._tasks for chat_id in chats):
            return
        self._wake.set()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        """Send until `stop()` (rather than cancelling the task: sends in flight finish and
        record their outcome, within `stop_grace`, before it returns)."""
        loop = asyncio.get_running_loop()
        log.info("delivery started")
        try:
            while not self._stopping:
                self._wake.clear()
                try:
                    next_at = await self._pass()
                except Exception:
                    log.exception(
                        "delivery pass failed (%d outcome(s) to record, %d send(s) in flight)",
                        len(self._outcomes),
                        len(self._tasks),
                    )
                    next_at = None
                else:
                    await self._heartbeat(loop.time())
                delay = self.poll_interval
                if next_at is not None:
                    delay = min(delay, max(0.0, next_at - loop.time()))
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await self._wake.wait()
        finally:
            await self._finish_in_flight()
            log.info("delivery stopped")

    async def _heartbeat(self, loop_now: float) -> None:
        """After a good pass: remember it, and tell the database now and then (/healthz)."""
        self.last_pass_at = self.clock.now()
        if self._beat_at is not None and loop_now - self._beat_at < HEARTBEAT_EVERY:
            return
        try:
            async with unit_of_work(self.sessions) as session:
                await health.beat(session, health.DELIVERY, self.last_pass_at)
            self._beat_at = loop_now
        except Exception as error:
            log.warning("delivery heartbeat not recorded: %s", type(error).__name__)

    async def _finish_in_flight(self) -> None:
        """Let the sends in flight finish (for `stop_grace` seconds), cancel the rest and give
        back their claims: those rows are due again at once, not when their lease runs out."""
        if self._tasks:
            _done, late = await asyncio.wait(self._tasks.values(), timeout=self.stop_grace)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        if self._outcomes:
            outcomes, self._outcomes = self._outcomes, []
            try:
                async with unit_of_work(self.sessions) as session:
                    await self._record(session, outcomes)
                self._claimed.difference_update(o.row_id for o in outcomes)
            except Exception:
                log.exception("could not record the outcome of %d send(s)", len(outcomes))
        self._give_back.clear()  # still claimed: given back with the rest below
        if not self._claimed:
            return
        try:
            async with unit_of_work(self.sessions) as session:
                released = await outbox.release(session, self._claimed, self.clock.now())
            log.info("delivery gave back %d unfinished claim(s)", released)
        except Exception:
            log.exception("could not give back the claims of rows %s", sorted(self._claimed))
        self._claimed.clear()

    async def drain(self, timeout: float, *, everything: bool = False) -> bool:
        """Wait until no due pending row is left and nothing is in flight (with `everything`,
        no pending row at all, retries included). False if `timeout` passed first. Needs
        `run()` going."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        self.wake()
        while True:
            self._progress.clear()
            idle = not (self._tasks or self._outcomes or self._give_back or self._passing)
            if idle:
                horizon = self.clock.now() + (timedelta(days=36500) if everything else timedelta())
                async with self.readers() as session:
                    if not await outbox.due(session, horizon, limit=1):
                        return True
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(remaining, 0.05)):
                    await self._progress.wait()

    async def _pass(self) -> float | None:
        """Record the outcomes of the sends that finished, give back what trains left unsent,
        and claim and start trains for the chats that may have one now, in one transaction;
        the moment another one may go.

        On SQLite a pass with nothing to record reads without the write lock and takes its
        turn at its first write (a claim); if that still meets a writer (another process, past
        the busy timeout) it is run again at once, in turn. A pass with outcomes takes its turn
        at once (storage.db)."""
        outcomes, self._outcomes = self._outcomes, []
        give_back, self._give_back = self._give_back, []
        self._passing = True
        try:
            if outcomes or give_back:  # it writes for sure: it takes its turn at once
                trains, next_at = await self._claim_and_record_in_turn(outcomes, give_back)
            else:
                try:
                    trains, next_at = await self._claim_and_record(self.writers, [], [])
                except Exception as error:
                    if not is_write_conflict(error):
                        raise
                    trains, next_at = await self._claim_and_record_in_turn([], [])
        except BaseException:
            self._outcomes[:0] = outcomes  # recorded by the next pass
            self._give_back[:0] = give_back
            raise
        finally:
            self._passing = False
        if outcomes or give_back:
            self._claimed.difference_update(o.row_id for o in outcomes)
            self._claimed.difference_update(give_back)
            self._progress.set()
        for train in trains:
            self._claimed.update(row.id or 0 for row in train)
            self._tasks[train[0].chat_id] = asyncio.create_task(self._deliver(train))
        return next_at

    async def _claim_and_record_in_turn(
        self, outcomes: list[Outcome], give_back: list[int]
    ) -> tuple[list[list[OutboxMessage]], float | None]:
        async with in_turn(self.sessions):
            return await self._claim_and_record(self.sessions, outcomes, give_back)

    async def _claim_and_record(
        self, sessions: SessionFactory, outcomes: list[Outcome], give_back: list[int]
    ) -> tuple[list[list[OutboxMessage]], float | None]:
        """One transaction: record `outcomes`, give back `give_back`, then claim the trains
        that may go now. A train is cut before its first row another sender took (the rows
        after it are given back in the same transaction: they must not overtake it)."""
        trains: list[list[OutboxMessage]] = []
        kept: list[list[OutboxMessage]] = []
        try:
            async with unit_of_work(sessions) as session:
                await self._record(session, outcomes)
                wall = self.clock.now()
                await outbox.release(session, give_back, wall)
                rows = await outbox.due(session, wall, limit=self.scan_limit)
                trains, next_at = self._candidates(rows)
                ids = [row.id or 0 for train in trains for row in train]
                claimed = await outbox.claim_due(session, ids, wall)
                cut = [cut_train(train, claimed) for train in trains]
                behind_a_gap = [row.id or 0 for _, rest in cut for row in rest]
                await outbox.release(session, behind_a_gap, wall)
                candidates = [train for train, _ in cut if train]
            kept = candidates  # committed
        finally:  # the pace of every row that will not be sent after all
            kept_length = {train[0].chat_id: len(train) for train in kept}
            for train in trains:
                for _ in train[kept_length.get(train[0].chat_id, 0) :]:
                    self.pace.release(train[0].chat_id)
        return kept, next_at

    def _candidates(
        self, rows: list[OutboxMessage]
    ) -> tuple[list[list[OutboxMessage]], float | None]:
        """The trains to send now: per chat that is idle and whose pace allows, its oldest due
        rows, as many as the pace lets go one after another (at most `train`); and the moment
        the next one may go."""
        now = asyncio.get_running_loop().time()
        wall = self.clock.now()
        self._retry_due = {c: t for c, t in self._retry_due.items() if t > wall}
        # a chat whose last send is not recorded yet waits: it may have to be tried again first
        seen: set[int] = {outcome.chat_id for outcome in self._outcomes}
        trains: dict[int, list[OutboxMessage]] = {}
        next_at: float | None = None
        for row in rows:
            chat_id = row.chat_id
            train = trains.get(chat_id)
            if train is not None:  # a later row of a chat with a train: it joins if there is room
                # (the pace counts the train's rows as in flight already)
                if len(train) < self.train and self.pace.room(chat_id, 1):
                    self.pace.start(chat_id)
                    train.append(row)
                continue
            # Only a chat's oldest due row may start a train, and only if the chat is idle.
            if chat_id in seen or chat_id in self._tasks or chat_id in self._retry_due:
                seen.add(chat_id)
                continue
            seen.add(chat_id)
            if len(self._tasks) + len(trains) >= self.concurrency:
                continue  # a finishing train wakes the loop; the trains taken may still grow
            ready = self.pace.ready_at(chat_id, now)
            if ready > now:
                if ready != math.inf:
                    next_at = ready if next_at is None else min(next_at, ready)
                continue
            self.pace.start(chat_id)  # counts against the limits from now on
            trains[chat_id] = [row]
        return list(trains.values()), next_at

    async def _record(self, session: AsyncSession, outcomes: list[Outcome]) -> None:
        now = self.clock.now()
        for outcome in outcomes:
            if outcome.status == OutboxStatus.SENT:
                await outbox.mark_sent(session, outcome.row_id, now, outcome.message_id)
            elif outcome.status == OutboxStatus.FAILED:
                await outbox.mark_failed(session, outcome.row_id, now, error=outcome.error)
            else:
                status = await outbox.mark_retry(
                    session, outcome.row_id, now, error=outcome.error, after=outcome.after
                )
                retry_row = await session.get(OutboxMessage, outcome.row_id)
                next_at = retry_row.next_attempt_at if retry_row else None
                if status == OutboxStatus.PENDING and next_at is not None:
                    self._retry_due[outcome.chat_id] = next_at

    async def _deliver(self, train: list[OutboxMessage]) -> None:
        """Send one chat's claimed rows in order; their outcomes are recorded by the pass the
        train's end brings. A row to be tried again ends the train (the rows after it are given
        back: they must not overtake it), and so does `stop()` (after the send in flight)."""
        chat_id = train[0].chat_id
        loop = asyncio.get_running_loop()
        ended = 0  # rows of the train whose send ended, with an outcome or not
        give_back = True
        try:
            for row in train:
                if ended and self._stopping:
                    break
                try:
                    outcome = await self._attempt(row)
                except Exception:
                    # Its lease decides when it is tried again; the rows after it keep theirs,
                    # so that they become due after it.
                    self._claimed.difference_update(r.id or 0 for r in train[ended:])
                    give_back = False
                    log.exception(
                        "delivery of outbox row %s (%s to chat %s) failed",
                        row.id,
                        row.method,
                        chat_id,
                    )
                    break
                finally:  # also when cancelled by a stop: then the claims are given back
                    ended += 1
                    self.pace.record(chat_id, loop.time())
                self._outcomes.append(outcome)
                if outcome.status == OutboxStatus.PENDING:  # to be tried again
                    break
        finally:
            unsent = train[ended:]
            for _ in unsent:
                self.pace.release(chat_id)
            if give_back and not self._stopping:  # on a stop, all claims left are given back
                self._give_back.extend(row.id or 0 for row in unsent)
            del self._tasks[chat_id]
            self._wake.set()
            self._progress.set()

    async def _attempt(self, row: OutboxMessage) -> Outcome:
        """Send one claimed row; what became of it."""
        assert row.id is not None
        try:
            result = await self._send(row)
        except TelegramRetryAfter as error:
            loop = asyncio.get_running_loop()
            self.pace.hold(row.chat_id, loop.time() + error.retry_after)
            log.warning("429 for chat %s: retry in %s s", row.chat_id, error.retry_after)
            return Outcome.retry(row, str(error), timedelta(seconds=error.retry_after))
        except TelegramUnauthorizedError as error:
            # A bad token fails every row alike: keep the outbox for the right token.
            log.error("the bot token is not accepted (%s); delivery stops", error.message)
            self.stop()
            return Outcome.retry(row, str(error), timedelta())
        except TelegramBadRequest as error:
            if "message is not modified" in error.message:
                return Outcome.sent(row, None)
            return self._failed(row, error)
        except ClientDecodeError as error:
            if row.method in FILE_METHODS:  # an extra, and its text (if any) failed too
                return self._failed(row, error)
            log.warning("chat %s: %s; will retry", row.chat_id, describe(error))
            return Outcome.retry(row, describe(error), None)
        except (
            TelegramForbiddenError,
            TelegramNotFound,
            TelegramMigrateToChat,
            TelegramEntityTooLarge,
            ValidationError,
            TypeError,
            ValueError,
            AttributeError,
        ) as error:
            return self._failed(row, error)
        except (
            TelegramServerError,
            TelegramNetworkError,
            TelegramAPIError,
            AiogramError,
            aiohttp.ClientError,
            TimeoutError,
        ) as error:
            log.warning("chat %s: %s; will retry", row.chat_id, error)
            return Outcome.retry(row, str(error) or type(error).__name__, None)
        except Exception as error:
            log.exception(
                "chat %s: unexpected error sending outbox row %s (%s); will retry",
                row.chat_id,
                row.id,
                row.method,
            )
            return Outcome.retry(row, repr(error), None)
        return Outcome.sent(row, getattr(result, "message_id", None))

    @staticmethod
    def _failed(row: OutboxMessage, error: Exception) -> Outcome:
        if isinstance(error, ClientDecodeError):
            text = describe(error)
        else:
            text = getattr(error, "message", None) or str(error)
        log.warning("chat %s: %s; not retried", row.chat_id, text)
        return Outcome(row.id or 0, row.chat_id, OutboxStatus.FAILED, error=text)

    async def _send(self, row: OutboxMessage) -> Any:
        try:
            return await self.bot(build_method(row))
        except ClientDecodeError as error:
            # An answer outside the Bot API's shape fails that call alone: a photo is an extra,
            # so it is not tried again (which would hold the chat's later rows back).
            if row.method not in FILE_METHODS or not row.payload.get("fallback_text"):
                raise
            log.warning("%s to chat %s: %s; text only", row.method, row.chat_id, describe(error))
            return await self._send_text_instead(row)
        except (TelegramNotFound, TelegramBadRequest) as error:
            if row.method not in FILE_METHODS or not method_missing(error):
                raise
            # Photos are extras: a server without the method gets the text alone.
            if not row.payload.get("fallback_text"):
                raise
            log.warning("%s is not available; sending chat %s text only", row.method, row.chat_id)
            return await self._send_text_instead(row)

    async def _send_text_instead(self, row: OutboxMessage) -> Any:
        params = {k: row.payload[k] for k in ("parse_mode", "reply_markup") if k in row.payload}
        text = row.payload["fallback_text"]
        method = aiogram.methods.SendMessage(chat_id=row.chat_id, text=text, **params)
        return await self.bot(method)


def cut_train(
    train: list[OutboxMessage], claimed: set[int]
) -> tuple[list[OutboxMessage], list[OutboxMessage]]:
    """`train` up to its first row not in `claimed`, and the claimed rows after that."""
    for index, row in enumerate(train):
        if row.id not in claimed:
            return train[:index], [later for later in train[index + 1 :] if later.id in claimed]
    return train, []


def build_method(row: OutboxMessage) -> TelegramMethod[Any]:
    """The aiogram method object for an outbox row: `sendMessage` -> `SendMessage(...)`."""
    name = row.method[0].upper() + row.method[1:]
    method_class = getattr(aiogram.methods, name)
    payload = dict(row.payload)
    filename = payload.get("filename") or "file"
    for key in list(payload):
        if key.endswith("_b64"):
            data = base64.b64decode(payload.pop(key))
            payload[key.removesuffix("_b64")] = BufferedInputFile(data, filename=filename)
    for key in LOCAL_KEYS:
        payload.pop(key, None)
    return method_class(chat_id=row.chat_id, **payload)


def method_missing(error: TelegramAPIError) -> bool:
    """The server does not implement the method (Telegram answers 404 "Not Found")."""
    text = error.message.lower()
    if isinstance(error, TelegramNotFound):
        return "chat" not in text
    return "method" in text and "not found" in text
