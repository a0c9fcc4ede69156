"""The tables every feature shares: audit, outbox, job runs, handled updates, conversations,
heartbeats.

Times are aware datetimes stored in UTC (`utcnow()`); they are shown in the configured zone.
Statuses are StrEnums stored as short strings.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Column, Index, UniqueConstraint
from sqlmodel import JSON, Field, SQLModel


def utcnow() -> datetime:
    """The current time in UTC, the form every timestamp column holds."""
    return datetime.now(UTC)


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


class AuditEntry(SQLModel, table=True):
    """Who did what to whom: one row for every administrative change."""

    __tablename__ = "audit_entry"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, index=True)
    actor_id: int | None = Field(default=None, foreign_key="person.id")
    action: str = Field(max_length=48)
    village_id: int | None = Field(default=None, foreign_key="village.id", index=True)
    target_person_id: int | None = Field(default=None, foreign_key="person.id")
    detail: dict = Field(default_factory=dict, sa_type=JSON)


class OutboxMessage(SQLModel, table=True):
    """A message for a chat other than the one being answered, sent by the delivery loop."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "status", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True)
    chat_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    method: str = Field(default="sendMessage", max_length=32)
    payload: dict = Field(default_factory=dict, sa_type=JSON)
    status: OutboxStatus = Field(default=OutboxStatus.PENDING, max_length=16)
    attempts: int = 0
    created_at: datetime = Field(default_factory=utcnow)
    next_attempt_at: datetime | None = None  # None: as soon as the pace allows
    sent_at: datetime | None = None
    message_id: int | None = None
    last_error: str | None = Field(default=None, max_length=255)
    batch: str | None = Field(default=None, max_length=64, index=True)


class JobRun(SQLModel, table=True):
    """One row per job and period: the proof that a period's run happened (idempotency)."""

    __tablename__ = "job_run"
    __table_args__ = (UniqueConstraint("job", "period"),)

    id: int | None = Field(default=None, primary_key=True)
    job: str = Field(max_length=48)
    period: str = Field(max_length=32)
    ran_at: datetime = Field(default_factory=utcnow)
    as_of: datetime
    result: dict = Field(default_factory=dict, sa_type=JSON)


class HandledUpdate(SQLModel, table=True):
    """The id of each Telegram update whose changes are committed, written in the same
    transaction as those changes: an update delivered again changes nothing (storage.updates)."""

    __tablename__ = "handled_update"

    update_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    handled_at: datetime = Field(default_factory=utcnow, index=True)


class FsmRecord(SQLModel, table=True):
    """Conversation state of one chat and user, so a flow survives a restart."""

    __tablename__ = "fsm_record"

    key: str = Field(primary_key=True, max_length=200)
    state: str | None = Field(default=None, max_length=128)
    data: dict = Field(default_factory=dict, sa_type=JSON)
    updated_at: datetime = Field(default_factory=utcnow)


class Heartbeat(SQLModel, table=True):
    """When a loop (the delivery loop, in whichever process runs it) last made a pass: what a
    webhook worker's /healthz reads."""

    name: str = Field(primary_key=True, max_length=32)
    at: datetime
