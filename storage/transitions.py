"""One shape for every status change, in every feature: a named transition from the statuses it
may start from, as one conditional UPDATE, with its `*_at` stamp among the values.

    changed = await transitions.move(session, PointClaim, claim_id, ClaimStatus.PENDING,
                                     status=ClaimStatus.APPROVED, decided_at=now, ...)

The row changes once or not at all: a second press, a second reviewer or a racing process finds
nothing left to change (False; `move_once` raises AlreadyDone with the feature's words). The
caller writes the audit row in the same transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Any

from sqlalchemy import update
from sqlmodel import SQLModel, col
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.errors import AlreadyDone


async def move(
    session: AsyncSession,
    model: type[SQLModel],
    row_id: int | None,
    allowed_from: StrEnum | Iterable[StrEnum],
    *,
    where: Iterable[Any] = (),
    **values: Any,
) -> bool:
    """Set `values` on the row if its status is still one of `allowed_from` (and `where`
    holds); True when it changed."""
    starts = [allowed_from] if isinstance(allowed_from, StrEnum) else list(allowed_from)
    status = model.status  # type: ignore[attr-defined]
    changed = await session.exec(  # type: ignore[call-overload]
        update(model)
        .where(col(model.id) == row_id, col(status).in_(starts), *where)  # type: ignore[attr-defined]
        .values(**values)
    )
    return bool(changed.rowcount)


async def move_once(
    session: AsyncSession,
    model: type[SQLModel],
    row_id: int | None,
    allowed_from: StrEnum | Iterable[StrEnum],
    already: str,
    *,
    where: Iterable[Any] = (),
    **values: Any,
) -> None:
    """`move`, where finding it changed already is the person's answer (`already`, N_-marked)."""
    if not await move(session, model, row_id, allowed_from, where=where, **values):
        raise AlreadyDone(already)


async def stamp_once(
    session: AsyncSession,
    model: type[SQLModel],
    row_id: int | None,
    stamp: str,
    *,
    where: Iterable[Any] = (),
    **values: Any,
) -> bool:
    """For rows whose life is one stamp (a role's `revoked_at`, an invite's `used_at`): set
    `values` if `stamp` is still empty (and `where` holds); True when it changed."""
    changed = await session.exec(  # type: ignore[call-overload]
        update(model)
        .where(col(model.id) == row_id, col(getattr(model, stamp)).is_(None), *where)  # type: ignore[attr-defined]
        .values(**values)
    )
    return bool(changed.rowcount)
