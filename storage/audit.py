"""The audit trail: one row for every administrative change."""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models.common import AuditEntry


def record(
    session: AsyncSession,
    action: str,
    *,
    actor_id: int | None,
    village_id: int | None = None,
    target_person_id: int | None = None,
    **detail: Any,
) -> AuditEntry:
    entry = AuditEntry(
        action=action,
        actor_id=actor_id,
        village_id=village_id,
        target_person_id=target_person_id,
        detail=detail,
    )
    session.add(entry)
    return entry


async def entries(
    session: AsyncSession, *, village_id: int | None = None, action: str | None = None
) -> list[AuditEntry]:
    query = select(AuditEntry).order_by(col(AuditEntry.id))
    if village_id is not None:
        query = query.where(AuditEntry.village_id == village_id)
    if action is not None:
        query = query.where(AuditEntry.action == action)
    return list((await session.exec(query)).all())
