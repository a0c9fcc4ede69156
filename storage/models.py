"""The tables of the foundation: organisation, roles, audit, group bindings, outbox, jobs, FSM.

Times are aware datetimes stored in UTC (`utcnow()`); they are shown in the configured zone.
Statuses are StrEnums stored as short strings.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Column, Index, UniqueConstraint
from sqlmodel import JSON, Field, SQLModel

from storage.text import label_key_default


def utcnow() -> datetime:
    """The current time in UTC, the form every timestamp column holds."""
    return datetime.now(UTC)


class MembershipStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    LEFT = "left"


class Role(StrEnum):
    GRID_WORKER = "grid_worker"
    REVIEWER = "reviewer"
    VILLAGE_ADMIN = "village_admin"


class WorkerKind(StrEnum):
    FULL_TIME = "full_time"
    PART_TIME = "part_time"


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


class Village(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(default_factory=utcnow)
    created_by: int | None = None  # a person id; no foreign key, to keep the tables acyclic


class Grid(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("village_id", "name"),)

    id: int | None = Field(default=None, primary_key=True)
    village_id: int = Field(foreign_key="village.id", index=True)
    name: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow)


class Household(SQLModel, table=True):
    """`label` as first typed; `label_key` (storage.org.label_key) is what makes two labels one
    household ("3组12号" and "3组 12号")."""

    __table_args__ = (
        UniqueConstraint("grid_id", "label"),
        UniqueConstraint("grid_id", "label_key", name="uq_household_grid_id_label_key"),
    )

    id: int | None = Field(default=None, primary_key=True)
    grid_id: int = Field(foreign_key="grid.id", index=True)
    label: str = Field(max_length=64)
    label_key: str = Field(max_length=64, sa_column_kwargs={"default": label_key_default})
    created_at: datetime = Field(default_factory=utcnow)


class Person(SQLModel, table=True):
    """Someone who has talked to the bot. `household_id` is where their points count."""

    id: int | None = Field(default=None, primary_key=True)
    telegram_id: int = Field(sa_column=Column(BigInteger, unique=True, nullable=False))
    full_name: str = Field(default="", max_length=64)
    username: str | None = Field(default=None, max_length=64)
    phone: str | None = Field(default=None, max_length=32)
    locale: str | None = Field(default=None, max_length=8)
    household_id: int | None = Field(default=None, foreign_key="household.id", index=True)
    created_at: datetime = Field(default_factory=utcnow)


class Membership(SQLModel, table=True):
    """A resident's place in a village: asked for through a grid invite, decided by a worker."""

    __table_args__ = (Index("ix_membership_grid_status", "grid_id", "status"),)

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    village_id: int = Field(foreign_key="village.id", index=True)
    grid_id: int = Field(foreign_key="grid.id")
    household_id: int = Field(foreign_key="household.id")
    status: MembershipStatus = Field(default=MembershipStatus.PENDING, max_length=16)
    requested_at: datetime = Field(default_factory=utcnow)
    decided_at: datetime | None = None
    decided_by: int | None = Field(default=None, foreign_key="person.id")
    left_at: datetime | None = None


class RoleAssignment(SQLModel, table=True):
    """A role held in a village; grid workers hold it for one grid (a row per grid)."""

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    village_id: int = Field(foreign_key="village.id", index=True)
    role: Role = Field(max_length=16)
    grid_id: int | None = Field(default=None, foreign_key="grid.id", index=True)
    worker_kind: WorkerKind | None = Field(default=None, max_length=16)
    granted_at: datetime = Field(default_factory=utcnow)
    granted_by: int | None = Field(default=None, foreign_key="person.id")
    revoked_at: datetime | None = None


class Invite(SQLModel, table=True):
    """A deep-link code: a grid invite for residents, or a one-time link that grants a role."""

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=32, unique=True)
    village_id: int = Field(foreign_key="village.id")
    grid_id: int | None = Field(default=None, foreign_key="grid.id")
    role: Role | None = Field(default=None, max_length=16)
    worker_kind: WorkerKind | None = Field(default=None, max_length=16)
    created_by: int | None = Field(default=None, foreign_key="person.id")
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    used_by: int | None = Field(default=None, foreign_key="person.id")
    used_at: datetime | None = None


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


class BoundChat(SQLModel, table=True):
    """A group chat bound to a village (grid_id empty) or one grid, for automatic posts."""

    __tablename__ = "bound_chat"

    id: int | None = Field(default=None, primary_key=True)
    chat_id: int = Field(sa_column=Column(BigInteger, nullable=False, index=True))
    title: str = Field(default="", max_length=128)
    village_id: int = Field(foreign_key="village.id", index=True)
    grid_id: int | None = Field(default=None, foreign_key="grid.id")
    bound_by: int | None = Field(default=None, foreign_key="person.id")
    bound_at: datetime = Field(default_factory=utcnow)
    unbound_at: datetime | None = None


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
