"""The audit trail: one row for every administrative change."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models.common import AuditEntry, utcnow


def record(
    session: AsyncSession,
    action: str,
    *,
    actor_id: int | None,
    village_id: int | None = None,
    target_person_id: int | None = None,
    when: datetime | None = None,
    **detail: Any,
) -> AuditEntry:
    """`when`: the time of the change when the caller has it (the update's clock); otherwise
    now. (`at` may be a detail, e.g. a council's time of day.)"""
    entry = AuditEntry(
        at=when or utcnow(),
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


# The kinds /audit filters by: each is a set of action prefixes.
KINDS: dict[str, tuple[str, ...]] = {
    "roles": ("role.",),
    "membership": ("membership.", "household.", "grid.invite", "village.", "tenants."),
    "points": ("points.",),
    "reports": ("task.", "report.", "notice."),
    "votes": ("vote.", "proposal.", "council.", "project."),
}


async def page(
    session: AsyncSession,
    village_id: int,
    *,
    person_id: int | None = None,
    kind: str | None = None,
    offset: int = 0,
    limit: int = 10,
) -> tuple[list[AuditEntry], bool]:
    """A village's trail, newest first: `limit` rows from `offset`, by or about `person_id`,
    of one `kind` (see KINDS). Also whether more follow."""
    query = select(AuditEntry).where(AuditEntry.village_id == village_id)
    if person_id is not None:
        query = query.where(
            (col(AuditEntry.actor_id) == person_id)
            | (col(AuditEntry.target_person_id) == person_id)
        )
    if kind is not None:
        prefixes = KINDS.get(kind, ())
        query = query.where(or_(*(col(AuditEntry.action).startswith(p) for p in prefixes)))
    query = query.order_by(col(AuditEntry.id).desc()).offset(max(0, offset)).limit(limit + 1)
    rows = list((await session.exec(query)).all())
    return rows[:limit], len(rows) > limit
