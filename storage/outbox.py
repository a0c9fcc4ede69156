"""The outbox: messages for other chats, written in the same transaction as the change behind them.

The delivery loop (bot/delivery.py) claims due rows, sends them at Telegram's pace and records
the outcome here. A claim pushes `next_attempt_at` forward by a lease, so a crash mid-send means
the row is tried again once the lease runs out (at-least-once delivery); a sender that stops gives
back the claims it will not finish (`release`), so they need not wait for the lease.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models.common import OutboxMessage, OutboxStatus

CLAIM_LEASE = timedelta(seconds=60)
MAX_ATTEMPTS = 8
MAX_BACKOFF = timedelta(minutes=10)
TEXT_METHODS = frozenset({"sendMessage", "editMessageText"})


# session.info: the chats this transaction wrote outbox rows for (the delivery loop is woken
# for them once it commits).
OUTBOX_CHATS = "outbox_chats"


def enqueue(
    session: AsyncSession,
    chat_id: int,
    text: str,
    *,
    reply_markup: dict[str, Any] | None = None,
    method: str = "sendMessage",
    batch: str | None = None,
    **params: Any,
) -> OutboxMessage:
    """Add a message to the outbox (HTML parse mode). Sent after the transaction commits."""
    # sendMessage and editMessageText carry `text`; media methods carry it as the `caption`.
    key = "text" if method in TEXT_METHODS else "caption"
    payload: dict[str, Any] = {key: text, "parse_mode": "HTML", **params} if text else dict(params)
    if reply_markup is not None:
        payload["reply_markup"] = reply_markup
    message = OutboxMessage(chat_id=chat_id, method=method, payload=payload, batch=batch)
    session.add(message)
    session.info.setdefault(OUTBOX_CHATS, set()).add(chat_id)
    return message


async def due(session: AsyncSession, now: datetime, limit: int = 200) -> list[OutboxMessage]:
    """Pending messages whose time has come, oldest first."""
    query = (
        select(OutboxMessage)
        .where(OutboxMessage.status == OutboxStatus.PENDING)
        .where(
            or_(
                col(OutboxMessage.next_attempt_at).is_(None),
                col(OutboxMessage.next_attempt_at) <= now,
            )
        )
        .order_by(col(OutboxMessage.id))
        .limit(limit)
    )
    return list((await session.exec(query)).all())


async def claim(session: AsyncSession, message: OutboxMessage, now: datetime) -> bool:
    """Take a row for sending; False if another sender took it first."""
    lease_until = now + CLAIM_LEASE
    condition = (
        col(OutboxMessage.next_attempt_at).is_(None)
        if message.next_attempt_at is None
        else col(OutboxMessage.next_attempt_at) == message.next_attempt_at
    )
    result = await session.exec(  # type: ignore[call-overload]
        update(OutboxMessage)
        .where(
            col(OutboxMessage.id) == message.id,
            condition,
            col(OutboxMessage.status) == OutboxStatus.PENDING,
        )
        .values(next_attempt_at=lease_until, attempts=OutboxMessage.attempts + 1)
    )
    return bool(result.rowcount)


async def claim_due(session: AsyncSession, ids: Collection[int], now: datetime) -> set[int]:
    """Take the rows among `ids` that are still due, in one statement; the ids taken. A row
    another sender took first (its lease is in the future now) is not among them."""
    if not ids:
        return set()
    result = await session.exec(  # type: ignore[call-overload]
        update(OutboxMessage)
        .where(
            col(OutboxMessage.id).in_(list(ids)),
            col(OutboxMessage.status) == OutboxStatus.PENDING,
            or_(
                col(OutboxMessage.next_attempt_at).is_(None),
                col(OutboxMessage.next_attempt_at) <= now,
            ),
        )
        .values(next_attempt_at=now + CLAIM_LEASE, attempts=OutboxMessage.attempts + 1)
        .returning(col(OutboxMessage.id))
    )
    return {row[0] for row in result.all()}


async def release(session: AsyncSession, ids: Collection[int], now: datetime) -> int:
    """Give back claims that will not be finished (the sender is stopping): each row still pending
    and under a lease is due again now, its attempt not counted. Returns how many."""
    if not ids:
        return 0
    result = await session.exec(  # type: ignore[call-overload]
        update(OutboxMessage)
        .where(
            col(OutboxMessage.id).in_(list(ids)),
            col(OutboxMessage.status) == OutboxStatus.PENDING,
            col(OutboxMessage.next_attempt_at) > now,
        )
        .values(
            next_attempt_at=now,
            attempts=case((OutboxMessage.attempts > 0, OutboxMessage.attempts - 1), else_=0),
        )
    )
    return int(result.rowcount or 0)


async def mark_sent(
    session: AsyncSession, message_id: int, now: datetime, telegram_message_id: int | None
) -> None:
    await session.exec(  # type: ignore[call-overload]
        update(OutboxMessage)
        .where(col(OutboxMessage.id) == message_id)
        .values(
            status=OutboxStatus.SENT, sent_at=now, message_id=telegram_message_id, last_error=None
        )
    )


async def mark_retry(
    session: AsyncSession,
    message_id: int,
    now: datetime,
    *,
    error: str,
    after: timedelta | None = None,
) -> OutboxStatus:
    """Schedule another attempt (after `after`, or an exponential backoff); give up at last."""
    row = await session.get(OutboxMessage, message_id)
    if row is None:
        return OutboxStatus.FAILED
    if after is None:
        if row.attempts >= MAX_ATTEMPTS:
            return await mark_failed(session, message_id, now, error=error)
        after = min(timedelta(seconds=2**row.attempts), MAX_BACKOFF)
    row.next_attempt_at = now + after
    row.last_error = error[:255]
    session.add(row)
    return OutboxStatus.PENDING


async def mark_failed(
    session: AsyncSession, message_id: int, now: datetime, *, error: str
) -> OutboxStatus:
    await session.exec(  # type: ignore[call-overload]
        update(OutboxMessage)
        .where(col(OutboxMessage.id) == message_id)
        .values(status=OutboxStatus.FAILED, last_error=error[:255], sent_at=None)
    )
    return OutboxStatus.FAILED


async def batch_counts(session: AsyncSession, batch: str) -> dict[OutboxStatus, int]:
    """How many messages of a batch (a broadcast, say) are pending, sent and failed."""
    rows = (
        await session.exec(select(OutboxMessage.status).where(OutboxMessage.batch == batch))
    ).all()
    counts = dict.fromkeys(OutboxStatus, 0)
    for status in rows:
        counts[OutboxStatus(status)] += 1
    return counts
