"""The organisation's tables: villages, grids, households, people, memberships, roles,
invites and the group chats bound to them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.models.common import utcnow
from storage.text import label_key_default


class MembershipStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    LEFT = "left"


class LeftReason(StrEnum):
    """Why a membership ended: the resident left, or was marked moved away (迁出) or deceased
    (已故) by a grid worker or admin."""

    LEFT = "left"
    MOVED_AWAY = "moved_away"
    DECEASED = "deceased"


class Role(StrEnum):
    GRID_WORKER = "grid_worker"
    REVIEWER = "reviewer"
    VILLAGE_ADMIN = "village_admin"


class WorkerKind(StrEnum):
    FULL_TIME = "full_time"
    PART_TIME = "part_time"


class Village(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(default_factory=utcnow)
    created_by: int | None = None  # a person id; no foreign key, to keep the tables acyclic
    # Tenants (租户): do they share their landlord household's one vote in per-household votes,
    # and do their points count for that household? By default neither: they take part as
    # residents (their own vote in per-person votes, their own points), not as its members.
    tenants_vote: bool = Field(default=False, sa_column_kwargs={"server_default": "0"})
    tenants_earn: bool = Field(default=False, sa_column_kwargs={"server_default": "0"})


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
    # The household head's name (户主), optional: the notice board names a household by it
    # (王秀英户) and by its label when there is none.
    head_name: str | None = Field(default=None, max_length=32)
    created_at: datetime = Field(default_factory=utcnow)
    # Merged into another household (a duplicate typed differently): its rows now point there;
    # this row stays for the record and is no longer offered.
    merged_into_id: int | None = None  # a household id (no foreign key: a plain column add)
    merged_at: datetime | None = None


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
    # they hid the keyboard under the text box: it is not sent again until they ask for it
    keys_hidden: bool = Field(default=False, sa_column_kwargs={"server_default": "0"})


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
    left_reason: str | None = Field(default=None, max_length=16)  # LeftReason
    left_by: int | None = None  # a person id
    tenant: bool = Field(default=False, sa_column_kwargs={"server_default": "0"})  # 租户


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
    revoked_by: int | None = None  # a person id
    revoke_reason: str | None = Field(default=None, max_length=200)


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
