"""Conversation state that survives a restart: Redis when configured, else the database."""

from __future__ import annotations

import json
from collections.abc import Mapping
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
from aiogram.fsm.storage.redis import RedisEventIsolation, RedisStorage
from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.db import SessionFactory, active_session, after_commit, before_commit, unit_of_work
from storage.models import FsmRecord, utcnow

_KEEP: Any = object()
_PENDING = "fsm_pending"  # session.info: key -> state and data written during this update
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

    Inside an update, what a step writes is gathered and saved once, in the update's own
    transaction, just before it commits (so it commits or rolls back with what the step
    changed). What has been committed is also kept in memory: most updates then read no row.
    Only this process writes these rows while it serves updates (several webhook workers need
    REDIS_URL, and then RedisStorage is used instead), so memory cannot go stale.
    Outside an update each call is one short transaction.
    """

    def __init__(
        self,
        sessions: SessionFactory,
        *,
        key_builder: KeyBuilder | None = None,
        cache_limit: int = CACHE_LIMIT,
    ) -> None:
        self.sessions = sessions
        self.key_builder = key_builder or DefaultKeyBuilder(
            with_destiny=True, with_business_connection_id=True
        )
        self.cache_limit = cache_limit
        self._committed: dict[str, Record] = {}

    async def set_state(self, key: StorageKey, state: str | State | None = None) -> None:
        await self._write(self.key_builder.build(key), state=_state_name(state))

    async def get_state(self, key: StorageKey) -> str | None:
        return (await self._read(self.key_builder.build(key)))[0]

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        await self._write(self.key_builder.build(key), data=json.dumps(dict(data)))

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        return dict(json.loads((await self._read(self.key_builder.build(key)))[1]))

    async def close(self) -> None:
        """Nothing to close: the engine belongs to the application."""

    async def _read(self, key: str) -> Record:
        session = active_session.get()
        if session is not None:
            pending = session.info.get(_PENDING)
            if pending and key in pending:
                return pending[key]
        if key in self._committed:
            return self._committed[key]
        if session is not None:  # a plain read in the update's transaction
            record = await session.get(FsmRecord, key, populate_existing=True)
        else:
            async with self.sessions() as own:
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
                await self._save(own, {key: new})
            self._remember({key: new})
            return
        pending = session.info.get(_PENDING)
        if pending is None:
            pending = session.info[_PENDING] = {}
            before_commit(session, self._flush)
        pending[key] = new

    async def _flush(self, session: AsyncSession) -> None:
        pending: dict[str, Record] = session.info.pop(_PENDING, {})
        await self._save(session, pending)
        after_commit(session, lambda: self._remember(pending))

    @staticmethod
    async def _save(session: AsyncSession, records: dict[str, Record]) -> None:
        """Upsert each record; a record with no state and no data is deleted."""
        dialect = session.get_bind().dialect.name
        insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
        for key, (state, data) in records.items():
            values = json.loads(data)
            if state is None and not values:
                await session.exec(delete(FsmRecord).where(col(FsmRecord.key) == key))
                continue
            row = {"state": state, "data": values, "updated_at": utcnow()}
            await session.exec(
                insert(FsmRecord)
                .values(key=key, **row)
                .on_conflict_do_update(index_elements=[FsmRecord.key], set_=row)
            )

    def _remember(self, records: dict[str, Record]) -> None:
        if len(self._committed) + len(records) > self.cache_limit:
            for old in list(self._committed)[: max(len(self._committed) // 4, len(records))]:
                del self._committed[old]
        self._committed.update(records)


def create_isolation(redis_url: str | None) -> BaseEventIsolation:
    """Per-person locks: in this process, or across processes (webhook workers) via Redis."""
    if redis_url:
        return RedisEventIsolation.from_url(redis_url)
    return SimpleEventIsolation()


def create_fsm_storage(settings_redis_url: str | None, sessions: SessionFactory) -> BaseStorage:
    """RedisStorage when a Redis URL is configured, else the database."""
    if settings_redis_url:
        return RedisStorage.from_url(
            settings_redis_url,
            key_builder=DefaultKeyBuilder(with_destiny=True, with_business_connection_id=True),
        )
    return DatabaseStorage(sessions)
