"""Conversation state that survives a restart: Redis when configured, else the database."""

from __future__ import annotations

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
from sqlalchemy.exc import IntegrityError

from storage.db import SessionFactory, active_session, joined_or_own
from storage.models import FsmRecord, utcnow

_KEEP: Any = object()
_ATTEMPTS = 3


def _state_name(state: str | State | None) -> str | None:
    return state.state if isinstance(state, State) else state


class DatabaseStorage(BaseStorage):
    """aiogram FSM storage over the `fsm_record` table.

    Inside an update it joins the update's transaction, so a flow's state commits (or rolls
    back) together with what the step changed; elsewhere each call is one short transaction.
    """

    def __init__(self, sessions: SessionFactory, *, key_builder: KeyBuilder | None = None) -> None:
        self.sessions = sessions
        self.key_builder = key_builder or DefaultKeyBuilder(
            with_destiny=True, with_business_connection_id=True
        )

    async def set_state(self, key: StorageKey, state: str | State | None = None) -> None:
        await self._write(self.key_builder.build(key), state=_state_name(state))

    async def get_state(self, key: StorageKey) -> str | None:
        record = await self._read(self.key_builder.build(key))
        return record.state if record is not None else None

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        await self._write(self.key_builder.build(key), data=dict(data))

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        record = await self._read(self.key_builder.build(key))
        return dict(record.data or {}) if record is not None else {}

    async def close(self) -> None:
        """Nothing to close: the engine belongs to the application."""

    async def _read(self, key: str) -> FsmRecord | None:
        session = active_session.get()
        if session is not None:  # a plain read in the update's transaction (no savepoint)
            return await session.get(FsmRecord, key, populate_existing=True)
        async with self.sessions() as own:
            return await own.get(FsmRecord, key)

    async def _write(self, key: str, *, state: Any = _KEEP, data: Any = _KEEP) -> None:
        """Upsert one record (a row with no state and no data is deleted)."""
        for attempt in range(_ATTEMPTS):
            try:
                async with joined_or_own(self.sessions) as session:
                    record = await session.get(FsmRecord, key, with_for_update=True)
                    new_state = (record.state if record else None) if state is _KEEP else state
                    new_data = (record.data if record else {}) if data is _KEEP else data
                    if new_state is None and not new_data:
                        if record is not None:
                            await session.delete(record)
                        return
                    if record is None:
                        record = FsmRecord(key=key)
                    record.state = new_state
                    record.data = dict(new_data or {})
                    record.updated_at = utcnow()
                    session.add(record)
                return
            except IntegrityError:  # a concurrent first write of the same key; read it again
                if attempt == _ATTEMPTS - 1:
                    raise


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
