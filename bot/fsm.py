"""Conversation state that survives a restart: Redis when configured, else the database."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

from aiogram.fsm.state import State
from aiogram.fsm.storage.base import (
    BaseEventIsolation,
    BaseStorage,
    DefaultKeyBuilder,
    KeyBuilder,
    StorageKey,
)
from aiogram.fsm.storage.memory import SimpleEventIsolation
from aiogram.fsm.storage.redis import RedisStorage
from redis.asyncio import Redis
from redis.asyncio.lock import Lock
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import LockNotOwnedError, RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy import String, cast, delete
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.db import (
    SessionFactory,
    active_session,
    after_commit,
    before_commit,
    reading,
    unit_of_work,
    wrote,
)
from storage.models.common import FsmRecord, utcnow
from storage.settings import SettingsError

_KEEP: Any = object()
_PENDING = "fsm_pending"  # session.info: key -> state and data written during this update
log = logging.getLogger("linli.fsm")
# Seconds a step's conversation state may wait in memory before it is written (see below)
FLUSH_INTERVAL = 0.5
# Ended conversations stay as empty rows this long, so that no older write can outlive them
EMPTY_ROWS_KEPT = timedelta(minutes=10)
# Conversations remembered in memory (idle people included); past this, the oldest quarter goes
CACHE_LIMIT = 50_000

# A conversation as stored: state and the data as JSON text (so what comes back from memory is
# a fresh copy, exactly as it would come back from the database).
Record = tuple[str | None, str]
_EMPTY: Record = (None, "{}")


def _state_name(state: str | State | None) -> str | None:
    return state.state if isinstance(state, State) else state


class DatabaseStorage(BaseStorage):
    """aiogram FSM storage over the `fsm_record` table.

    Inside an update, what a step writes is gathered and saved once, just before the update's
    transaction commits. When that transaction changes something else too (the last step of
    a wizard files the report), the state is saved in it, so the two commit or roll back
    together. When the conversation state is all the step changed, the step commits nothing:
    the state is kept in memory at once and written behind, every `flush_interval` seconds,
    for everyone at once in one transaction (and at close). So a wizard's steps cost no
    transaction of their own; a kill -9 can lose the steps of the last `flush_interval`
    seconds (the person is asked that question again), a clean stop loses none.

    Rows are never deleted by a step (an ended conversation is an empty row) and a row is
    written only over an older one (`updated_at`), so a late write-behind cannot bring back
    a state that a later transaction replaced. Empty rows are removed by the writer later.

    What has been committed is kept in memory too, and at the first read every stored
    conversation is loaded (if they fit): most updates then read no row. Only this
    process writes these rows while it serves updates (several webhook workers need
    REDIS_URL, and then RedisStorage is used instead), so memory cannot go stale.
    Outside an update each call is one short transaction.
    """

    def __init__(
        self,
        sessions: SessionFactory,
        *,
        key_builder: KeyBuilder | None = None,
        cache_limit: int = CACHE_LIMIT,
        flush_interval: float = FLUSH_INTERVAL,
    ) -> None:
        self.sessions = sessions
        self.readers = reading(sessions)  # reads outside an update take no write lock
        self.key_builder = key_builder or DefaultKeyBuilder(
            with_destiny=True, with_business_connection_id=True
        )
        self.cache_limit = cache_limit
        self.flush_interval = flush_interval
        self._committed: dict[str, Record] = {}
        # True once every stored conversation is in memory (then a key not there has none);
        # None until that has been tried, False when they do not fit
        self._complete: bool | None = None
        self._behind: dict[str, tuple[Record, datetime]] = {}  # to write, with when it was set
        self._writer: asyncio.Task[None] | None = None
        self._closing = asyncio.Event()

    async def set_state(self, key: StorageKey, state: str | State | None = None) -> None:
        await self._write(self.key_builder.build(key), state=_state_name(state))

    async def get_state(self, key: StorageKey) -> str | None:
        return (await self._read(self.key_builder.build(key)))[0]

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        await self._write(self.key_builder.build(key), data=json.dumps(dict(data)))

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        return dict(json.loads((await self._read(self.key_builder.build(key)))[1]))

    async def close(self) -> None:
        """Write what is still behind (the engine belongs to the application). A write in
        progress finishes first: cancelling it could strand its connection."""
        self._closing.set()
        if self._writer is not None:
            await asyncio.gather(self._writer, return_exceptions=True)
            self._writer = None
        await self.write_behind()

    async def write_behind(self) -> int:
        """Write every state kept only in memory, in one transaction, and remove the rows of
        conversations that ended long enough ago; how many states were written."""
        batch, self._behind = self._behind, {}
        try:
            async with unit_of_work(self.sessions) as session:
                if batch:
                    await self._save(session, {k: r for k, (r, _at) in batch.items()}, batch)
                await session.exec(  # type: ignore[call-overload]
                    delete(FsmRecord).where(
                        col(FsmRecord.state).is_(None),
                        cast(FsmRecord.data, String) == "{}",
                        col(FsmRecord.updated_at) < utcnow() - EMPTY_ROWS_KEPT,
                    )
                )
        except BaseException:
            for key, entry in batch.items():  # not written: keep them, newer ones first
                self._behind.setdefault(key, entry)
            raise
        return len(batch)

    async def _read(self, key: str) -> Record:
        session = active_session.get()
        if session is not None:
            pending = session.info.get(_PENDING)
            if pending and key in pending:
                return pending[key][0]
        if key in self._committed:
            return self._committed[key]
        if self._complete is None:
            await self._load_all(session)
            if key in self._committed:
                return self._committed[key]
        if self._complete:  # every stored conversation is in memory: this one has none
            return _EMPTY
        if session is not None:  # a plain read in the update's transaction
            record = await session.get(FsmRecord, key, populate_existing=True)
        else:
            async with self.readers() as own:
                record = await own.get(FsmRecord, key)
        found = (record.state, json.dumps(record.data or {})) if record is not None else _EMPTY
        self._remember({key: found})
        return found

    async def _write(self, key: str, *, state: Any = _KEEP, data: Any = _KEEP) -> None:
        old_state, old_data = await self._read(key)
        new = (old_state if state is _KEEP else state, old_data if data is _KEEP else data)
        session = active_session.get()
        if session is None:
            async with unit_of_work(self.sessions) as own:
                await self._save(own, {key: new}, {key: (new, utcnow())})
            self._behind.pop(key, None)
            self._remember({key: new})
            return
        pending = session.info.get(_PENDING)
        if pending is None:
            pending = session.info[_PENDING] = {}
            before_commit(session, self._flush)
        pending[key] = (new, utcnow())

    async def _flush(self, session: AsyncSession) -> None:
        pending: dict[str, tuple[Record, datetime]] = session.info.pop(_PENDING, {})
        records = {key: record for key, (record, _at) in pending.items()}
        if wrote(session):  # with the step's other changes
            await self._save(session, records, pending)

            def saved() -> None:
                for key in pending:
                    self._behind.pop(key, None)
                self._remember(records)

            after_commit(session, saved)
            return

        def keep() -> None:  # the step changed nothing else: write it behind
            self._behind.update(pending)
            self._remember(records)
            self._start_writer()

        after_commit(session, keep)

    def _start_writer(self) -> None:
        if self._closing.is_set():
            return
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_behind_loop(), name="fsm-writer")

    async def _write_behind_loop(self) -> None:
        while self._behind and not self._closing.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), self.flush_interval)
            if self._closing.is_set():
                return  # close() writes the rest
            try:
                await self.write_behind()
            except Exception:
                log.exception("could not write conversation states; trying again")

    @staticmethod
    async def _save(
        session: AsyncSession,
        records: dict[str, Record],
        stamps: Mapping[str, tuple[Record, datetime]],
    ) -> None:
        """Upsert each record over an older one; an ended conversation is an empty row (see
        `write_behind`, which removes old ones)."""
        dialect = session.get_bind().dialect.name
        insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
        rows = [
            {
                "key": key,
                "state": state,
                "data": json.loads(data),
                "updated_at": stamps[key][1],
            }
            for key, (state, data) in records.items()
        ]
        if not rows:
            return
        statement = insert(FsmRecord)
        await session.exec(
            statement.on_conflict_do_update(
                index_elements=[FsmRecord.key],
                set_={
                    "state": statement.excluded.state,
                    "data": statement.excluded.data,
                    "updated_at": statement.excluded.updated_at,
                },
                where=col(FsmRecord.updated_at) <= statement.excluded.updated_at,
            ),
            params=rows,
        )

    async def _load_all(self, session: AsyncSession | None) -> None:
        """Read every stored conversation once, if they fit in memory: a person's first
        update after start-up then reads no row (most people have none). Inside an update
        the read joins its transaction (a second one could wait for that one's write lock)."""
        query = select(FsmRecord).limit(self.cache_limit // 2 + 1)
        if session is not None:
            rows = (await session.exec(query)).all()
        else:
            async with self.readers() as own:
                rows = (await own.exec(query)).all()
        if len(rows) > self.cache_limit // 2:
            self._complete = False
            return
        loaded = {row.key: (row.state, json.dumps(row.data or {})) for row in rows}
        self._committed = {**loaded, **self._committed}  # what this process knows is newer
        self._complete = True

    def _remember(self, records: dict[str, Record]) -> None:
        if len(self._committed) + len(records) > self.cache_limit:
            self._complete = False  # some are forgotten: read them from the table again
            for old in list(self._committed)[: max(len(self._committed) // 4, len(records))]:
                if old not in self._behind:
                    del self._committed[old]
        self._committed.update(records)


# Seconds a per-person lock lives in Redis unless its holder renews it (every third of it).
# A holder that lost Redis (or died) cannot renew, so the person waits this long at most;
# an update takes well under a second, and its effects stay right without the lock anyway
# (the update ledger, the rules' conditional writes): the lock only keeps one person's quick
# taps in order. Short enough that nobody notices a stranded lock, long enough that a
# renewal missed in a blip of Redis does not let it go.
LOCK_TTL = 5.0
# Redis that does not answer is a failure of that call, soon, never a hang
REDIS_CONNECT_TIMEOUT = 2.0
REDIS_TIMEOUT = 5.0


def redis_client(url: str) -> Redis:
    """A client that fails soon when Redis does not answer, and tries a command again on a
    fresh connection when the one it had was cut (after Redis was away, every pooled
    connection is dead: without this, each one's next command would fail)."""
    return Redis.from_url(
        url,
        socket_connect_timeout=REDIS_CONNECT_TIMEOUT,
        socket_timeout=REDIS_TIMEOUT,
        retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), retries=2),
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
    )


def redacted(url: str) -> str:
    """The URL without its password, for a log line."""
    scheme, sep, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not at or ":" not in credentials:
        return url
    return f"{scheme}{sep}{credentials.split(':', 1)[0]}:***@{host}"


async def check_redis(url: str) -> None:
    """Start-up: Redis answers, else one clear line (SettingsError)."""
    redis = Redis.from_url(url, socket_connect_timeout=REDIS_CONNECT_TIMEOUT, retry=None)
    try:
        await asyncio.wait_for(redis.ping(), REDIS_TIMEOUT)
    except (RedisError, OSError, TimeoutError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SettingsError(
            f"Bad setting REDIS_URL: Redis at {redacted(url)} does not answer ({reason})"
        ) from None
    finally:
        await redis.aclose()


class RedisIsolation(BaseEventIsolation):
    """Per-person locks in Redis, shared by every process: held for LOCK_TTL seconds and
    renewed while the update runs. When Redis is cut, a lock that cannot be released is left
    to expire (the update's outcome stands), and that is logged once until Redis answers."""

    def __init__(
        self, redis: Redis, *, key_builder: KeyBuilder | None = None, ttl: float = LOCK_TTL
    ) -> None:
        self.redis = redis
        self.key_builder = key_builder or DefaultKeyBuilder()
        self.ttl = ttl
        self.lost = False  # Redis failed and has not answered since (logged once)

    @asynccontextmanager
    async def lock(self, key: StorageKey) -> AsyncIterator[None]:
        lock = Lock(self.redis, self.key_builder.build(key, "lock"), timeout=self.ttl)
        try:
            await lock.acquire()
        except (RedisError, OSError) as exc:
            self._lost(exc)
            raise
        self._back()
        renewing = asyncio.create_task(self._renew(lock), name="lock-renewal")
        try:
            yield None
        finally:
            renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewing
            try:
                await lock.release()
            except LockNotOwnedError:  # Redis answered: the lock expired while it was cut
                log.info("per-person lock %s had expired before its release", lock.name)
            except (RedisError, OSError) as exc:  # it expires by itself within the TTL
                self._lost(exc)

    async def _renew(self, lock: Lock) -> None:
        while True:
            await asyncio.sleep(self.ttl / 3)
            try:
                await lock.reacquire()
            except LockNotOwnedError:  # Redis answered: the lock expired while it was cut
                return
            except (RedisError, OSError) as exc:
                self._lost(exc)
                return

    def _lost(self, error: BaseException) -> None:
        if not self.lost:
            self.lost = True
            log.warning(
                "per-person locks: Redis lost (%s); locks left expire in %s s", error, self.ttl
            )

    def _back(self) -> None:
        if self.lost:
            self.lost = False
            log.warning("per-person locks: Redis is back")

    async def close(self) -> None:
        await self.redis.aclose()


def create_isolation(redis_url: str | None) -> BaseEventIsolation:
    """Per-person locks: in this process, or across processes (webhook workers) via Redis."""
    if redis_url:
        return RedisIsolation(redis_client(redis_url))
    return SimpleEventIsolation()


def create_fsm_storage(settings_redis_url: str | None, sessions: SessionFactory) -> BaseStorage:
    """RedisStorage when a Redis URL is configured, else the database."""
    if settings_redis_url:
        return RedisStorage(
            redis_client(settings_redis_url),
            key_builder=DefaultKeyBuilder(with_destiny=True, with_business_connection_id=True),
        )
    return DatabaseStorage(sessions)
