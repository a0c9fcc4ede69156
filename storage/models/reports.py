"""Tables of reports and grid tasks (网格化): a resident's report, or a duty task, is a task of
one grid until it is closed.

A report (`kind = report`) carries its reporter, category and place; a duty task
(`kind = duty`) one of the five duties of grid workers and a due date. Both share the task's
life: status, owner, deadlines and the `*_at` stamps the figures are computed from.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.models.common import utcnow


class TaskKind(StrEnum):
    REPORT = "report"
    DUTY = "duty"


class TaskStatus(StrEnum):
    """new → accepted → in_progress → resolved → closed, plus reopened, duplicate, rejected."""

    NEW = "new"
    ACCEPTED = "accepted"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    CLOSED = "closed"
    REOPENED = "reopened"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"


WAITING = (TaskStatus.NEW, TaskStatus.REOPENED)  # nobody owns it: the grid's to accept
WORKING = (TaskStatus.ACCEPTED, TaskStatus.IN_PROGRESS)  # its owner works on it
OPEN = (*WAITING, *WORKING)
FINISHED = (TaskStatus.CLOSED, TaskStatus.DUPLICATE, TaskStatus.REJECTED)


class Duty(StrEnum):
    """The five duties of grid workers."""

    POLICY = "policy"  # 宣传政策
    INFORMATION = "information"  # 收集信息
    HAZARDS = "hazards"  # 排查隐患
    DISPUTES = "disputes"  # 调解纠纷
    ACTIVITIES = "activities"  # 组织活动


class ReportCategory(SQLModel, table=True):
    """A village's list of report categories, each with its time to accept and to resolve."""

    __tablename__ = "report_category"
    __table_args__ = (UniqueConstraint("village_id", "code"),)

    id: int | None = Field(default=None, primary_key=True)
    village_id: int = Field(foreign_key="village.id", index=True)
    code: str = Field(max_length=24)  # the default ones are translated by code
    name: str = Field(max_length=32)
    accept_hours: int = 24
    resolve_hours: int = 168
    position: int = 0
    removed_at: datetime | None = None


class ReportSettings(SQLModel, table=True):
    """A village's choices: the points item a valid report earns, the digest hour."""

    __tablename__ = "report_settings"

    village_id: int = Field(foreign_key="village.id", primary_key=True)
    reward_item_code: str | None = Field(default=None, max_length=32)
    digest_hour: int = 8
    updated_at: datetime = Field(default_factory=utcnow)
    updated_by: int | None = Field(default=None, foreign_key="person.id")


class Task(SQLModel, table=True):
    """A report or a duty task of one grid. `number` is what people quote: R-2026-00042."""

    __tablename__ = "task"
    __table_args__ = (
        UniqueConstraint("village_id", "number"),
        Index("ix_task_grid_status", "grid_id", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    village_id: int = Field(foreign_key="village.id", index=True)
    grid_id: int = Field(foreign_key="grid.id")
    kind: TaskKind = Field(default=TaskKind.REPORT, max_length=8)
    number: str = Field(max_length=16)
    status: TaskStatus = Field(default=TaskStatus.NEW, max_length=16)
    # a report
    reporter_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    category_id: int | None = Field(default=None, foreign_key="report_category.id")
    anonymous: bool = False
    location: str = Field(default="", max_length=64)
    latitude: float | None = None
    longitude: float | None = None
    rating: int | None = None
    duplicate_of: int | None = Field(default=None, foreign_key="task.id")
    # a duty task
    duty: Duty | None = Field(default=None, max_length=16)
    due_at: datetime | None = None
    # both
    description: str = Field(default="", max_length=1000)
    created_by: int | None = Field(default=None, foreign_key="person.id")
    owner_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    with_admin: bool = False  # handed up to the village admins
    note: str = Field(default="", max_length=500)  # the last resolution note or reason
    created_at: datetime = Field(default_factory=utcnow)
    accept_due_at: datetime | None = None
    resolve_due_at: datetime | None = None
    accepted_at: datetime | None = None
    started_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    reopened_at: datetime | None = None
    reopen_count: int = 0
    handed_over_at: datetime | None = None
    rejected_at: datetime | None = None
    duplicate_at: datetime | None = None
    rated_at: datetime | None = None


class TaskPhoto(SQLModel, table=True):
    """A photo of a report, or of its resolution (Telegram keeps the file; we keep its id)."""

    __tablename__ = "task_photo"

    id: int | None = Field(default=None, primary_key=True)
    task_id: int = Field(foreign_key="task.id", index=True)
    file_id: str = Field(max_length=255)
    file_size: int | None = None
    resolution: bool = False
    added_by: int | None = Field(default=None, foreign_key="person.id")
    added_at: datetime = Field(default_factory=utcnow)


class TaskFollower(SQLModel, table=True):
    """A resident who saw the same problem and hears of every change, like the reporter."""

    __tablename__ = "task_follower"
    __table_args__ = (UniqueConstraint("task_id", "person_id"),)

    id: int | None = Field(default=None, primary_key=True)
    task_id: int = Field(foreign_key="task.id", index=True)
    person_id: int = Field(foreign_key="person.id")
    followed_at: datetime = Field(default_factory=utcnow)


class ReportReward(SQLModel, table=True):
    """A report confirmed valid earns its reporter the village's chosen item once."""

    __tablename__ = "report_reward"

    id: int | None = Field(default=None, primary_key=True)
    task_id: int = Field(foreign_key="task.id", unique=True)
    person_id: int = Field(foreign_key="person.id")
    item_code: str = Field(max_length=32)
    awarded_at: datetime = Field(default_factory=utcnow)
    ledger_ref: str | None = Field(default=None, max_length=64)  # the points ledger's entry


class GridReportPost(SQLModel, table=True):
    """A grid's weekly 报事进展 post to its bound group: off until someone turns it on."""

    __tablename__ = "grid_report_post"

    grid_id: int = Field(foreign_key="grid.id", primary_key=True)
    village_id: int = Field(foreign_key="village.id", index=True)
    enabled: bool = False
    changed_at: datetime = Field(default_factory=utcnow)  # on since then, when enabled
    changed_by: int | None = Field(default=None, foreign_key="person.id")


class FollowedInstead(SQLModel, table=True):
    """A resident about to file a report who followed a neighbour's open one instead (the
    duplicate hint): one row a person and report, counted as a duplicate avoided."""

    __tablename__ = "report_followed_instead"
    __table_args__ = (UniqueConstraint("task_id", "person_id"),)

    id: int | None = Field(default=None, primary_key=True)
    village_id: int = Field(foreign_key="village.id", index=True)
    grid_id: int = Field(foreign_key="grid.id")
    task_id: int = Field(foreign_key="task.id")
    person_id: int = Field(foreign_key="person.id")
    at: datetime = Field(default_factory=utcnow)
