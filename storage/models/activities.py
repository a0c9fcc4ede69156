"""Tables of activities (组织群众活动): the activity, its cards in the groups, sign-ups with the
waiting list, attendance, and the tags a village keeps on residents (老年人, 青少年家庭, 新居民).

`Activity.taken` counts the seats given; a seat is taken by one conditional UPDATE
(`taken < capacity`), so concurrent presses never give more seats than the capacity. A sign-up
is unique per activity and person; attendance is unique per activity and person, and the points
entry of a check-in is written with it, so a check-in credits once.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Column, Index, UniqueConstraint
from sqlmodel import JSON, Field, SQLModel

from storage.models.common import utcnow


class ActivityStatus(StrEnum):
    """open → closed (by the organiser, with a note) | cancelled."""

    OPEN = "open"
    CLOSED = "closed"
    CANCELLED = "cancelled"


class Audience(StrEnum):
    VILLAGE = "village"  # every approved resident of the village
    GRIDS = "grids"  # residents of the grids listed
    TAG = "tag"  # residents the village tagged (老年人, 青少年家庭, 新居民, …)


class SignupStatus(StrEnum):
    """waiting → signed (a seat) → cancelled; cancelled → waiting when signing up again."""

    SIGNED = "signed"
    WAITING = "waiting"
    CANCELLED = "cancelled"


class CheckinWay(StrEnum):
    CODE = "code"  # the resident opened the link or typed the code
    LIST = "list"  # the organiser tapped the name


class Activity(SQLModel, table=True):
    __table_args__ = (Index("ix_activity_status_starts", "status", "starts_at"),)

    id: int | None = Field(default=None, primary_key=True)
    village_id: int = Field(foreign_key="village.id", index=True)
    title: str = Field(max_length=60)
    description: str = Field(default="", max_length=500)
    place: str = Field(default="", max_length=60)
    starts_at: datetime
    ends_at: datetime
    signup_deadline: datetime
    capacity: int | None = None  # None: no limit
    taken: int = 0  # seats given (signed up)
    audience: Audience = Field(default=Audience.VILLAGE, max_length=16)
    grid_ids: list = Field(default_factory=list, sa_type=JSON)
    tag: str | None = Field(default=None, max_length=16)
    item_id: int | None = Field(default=None, foreign_key="point_item.id")
    points: int = 0  # the item's points when the activity was made
    secret: str = Field(max_length=32)  # the seed of the rotating check-in code
    status: ActivityStatus = Field(default=ActivityStatus.OPEN, max_length=16)
    created_by: int | None = Field(default=None, foreign_key="person.id")
    created_at: datetime = Field(default_factory=utcnow)
    reminded_at: datetime | None = None
    closed_at: datetime | None = None
    closed_by: int | None = Field(default=None, foreign_key="person.id")
    note: str | None = Field(default=None, max_length=500)
    photos: list = Field(default_factory=list, sa_type=JSON)  # Telegram file ids


class ActivityCard(SQLModel, table=True):
    """The activity's message in one group, edited when the count changes."""

    __tablename__ = "activity_card"

    id: int | None = Field(default=None, primary_key=True)
    activity_id: int = Field(foreign_key="activity.id", index=True)
    chat_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    outbox_id: int = Field(foreign_key="outbox.id")
    shown: str = Field(default="", max_length=64)
    edited_at: datetime | None = None


class Signup(SQLModel, table=True):
    __table_args__ = (
        UniqueConstraint("activity_id", "person_id"),
        Index("ix_signup_activity_status", "activity_id", "status", "queued_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    activity_id: int = Field(foreign_key="activity.id")
    person_id: int = Field(foreign_key="person.id", index=True)
    household_id: int = Field(foreign_key="household.id")
    status: SignupStatus = Field(default=SignupStatus.WAITING, max_length=16)
    queued_at: datetime = Field(default_factory=utcnow)  # the place in the waiting list
    signed_at: datetime | None = None
    cancelled_at: datetime | None = None


class Attendance(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("activity_id", "person_id"),)

    id: int | None = Field(default=None, primary_key=True)
    activity_id: int = Field(foreign_key="activity.id", index=True)
    person_id: int = Field(foreign_key="person.id")
    household_id: int = Field(foreign_key="household.id")
    grid_id: int = Field(foreign_key="grid.id")
    way: CheckinWay = Field(max_length=8)
    by: int | None = Field(default=None, foreign_key="person.id")
    at: datetime = Field(default_factory=utcnow)
    entry_id: int | None = Field(default=None, foreign_key="point_entry.id", unique=True)


class ResidentTag(SQLModel, table=True):
    """A group a village keeps (老年人, 青少年家庭, 新居民): who may sign up for a tagged
    activity."""

    __tablename__ = "resident_tag"
    __table_args__ = (UniqueConstraint("village_id", "person_id", "tag"),)

    id: int | None = Field(default=None, primary_key=True)
    village_id: int = Field(foreign_key="village.id", index=True)
    person_id: int = Field(foreign_key="person.id")
    tag: str = Field(max_length=16)
    added_at: datetime = Field(default_factory=utcnow)
    added_by: int | None = Field(default=None, foreign_key="person.id")
