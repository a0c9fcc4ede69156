"""The update ledger: each update's changes happen once.

The id of an update is written in the same transaction as its changes, and only when it
changed something (an update that only read, like /me, leaves no row and may be answered
again if it is delivered again). A second delivery of the same update (polling after a
kill -9, a webhook retry, a second worker) finds its id taken: its transaction is rolled back
and it says nothing. Telegram resends an update for at most a day, so rows older than
`KEEP` are pruned by a job.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models.common import HandledUpdate

KEEP = timedelta(days=3)


class AlreadyHandled(Exception):
    """This update's changes were committed before: roll back, say nothing."""


async def record(session: AsyncSession, update_id: int, now: datetime) -> None:
    """Claim `update_id` in this transaction; AlreadyHandled when it is taken."""
    dialect = session.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    result = await session.exec(  # type: ignore[call-overload]
        insert(HandledUpdate)
        .values(update_id=update_id, handled_at=now)
        .on_conflict_do_nothing(index_elements=[HandledUpdate.update_id])
    )
    if not result.rowcount:
        raise AlreadyHandled(update_id)


async def was_handled(session: AsyncSession, update_id: int) -> bool:
    return await session.get(HandledUpdate, update_id) is not None


async def prune(session: AsyncSession, now: datetime) -> int:
    """Forget ids older than KEEP; how many were removed."""
    result = await session.exec(  # type: ignore[call-overload]
        delete(HandledUpdate).where(col(HandledUpdate.handled_at) < now - KEEP)
    )
    return int(result.rowcount or 0)
