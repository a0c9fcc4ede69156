"""Tables of the monthly council (阳光议事会) and of implementing its decisions.

A village holds its council on a fixed day and time of each month (`CouncilSettings`; the 15th
at 19:00 by default) with the participants its admins chose (`CouncilMember`). Ahead of it the
notice job makes the month's `Meeting` (unique per village and month) with one `MeetingItem`
per agenda item; after it an admin records each item's outcome. A decided item becomes a
`Project` followed to done; `ProposalFollower` rows are the residents who hear of each change.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.models.common import utcnow

DEFAULT_DAY = 15
DEFAULT_HOUR = 19
DEFAULT_MINUTE = 0
DEFAULT_NOTICE_DAYS = 3


class MemberCategory(StrEnum):
    COMMITTEE = "committee"  # 村"两委"成员
    BOARD = "board"  # 集体经济组织理事会成员
    PARTY_REP = "party_rep"  # 党员代表
    RESIDENT_REP = "resident_rep"  # 群众代表


class ItemOutcome(StrEnum):
    PENDING = "pending"
    DECIDED = "decided"
    DEFERRED = "deferred"  # to the next meeting: the proposal stays on the agenda
    DROPPED = "dropped"

    def can_become(self, other: ItemOutcome) -> bool:
        return self == ItemOutcome.PENDING and other != ItemOutcome.PENDING


class ProjectStatus(StrEnum):
    PLANNED = "planned"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    DROPPED = "dropped"

    def can_become(self, other: ProjectStatus) -> bool:
        return other in PROJECT_TRANSITIONS[self]


PROJECT_TRANSITIONS: dict[ProjectStatus, frozenset[ProjectStatus]] = {
    ProjectStatus.PLANNED: frozenset({ProjectStatus.IN_PROGRESS, ProjectStatus.DROPPED}),
    ProjectStatus.IN_PROGRESS: frozenset({ProjectStatus.DONE, ProjectStatus.DROPPED}),
    ProjectStatus.DONE: frozenset(),
    ProjectStatus.DROPPED: frozenset(),
}


class CouncilSettings(SQLModel, table=True):
    """When a village's council meets each month, and how many days ahead the notice goes."""

    __tablename__ = "council_settings"

    village_id: int = Field(foreign_key="village.id", primary_key=True)
    day: int = DEFAULT_DAY  # of the month; a shorter month meets on its last day
    hour: int = DEFAULT_HOUR
    minute: int = DEFAULT_MINUTE
    notice_days: int = DEFAULT_NOTICE_DAYS
    updated_at: datetime = Field(default_factory=utcnow)
    updated_by: int | None = Field(default=None, foreign_key="person.id")


class CouncilMember(SQLModel, table=True):
    """A participant of the village's council, chosen by its admins."""

    __tablename__ = "council_member"
    __table_args__ = (UniqueConstraint("village_id", "person_id"),)

    id: int | None = Field(default=None, primary_key=True)
    village_id: int = Field(foreign_key="village.id", index=True)
    person_id: int = Field(foreign_key="person.id")
    category: MemberCategory = Field(max_length=16)
    added_at: datetime = Field(default_factory=utcnow)
    added_by: int | None = Field(default=None, foreign_key="person.id")


class Meeting(SQLModel, table=True):
    """One month's council of a village, made when its notice is sent (once)."""

    __table_args__ = (UniqueConstraint("village_id", "period"),)

    id: int | None = Field(default=None, primary_key=True)
    village_id: int = Field(foreign_key="village.id", index=True)
    period: str = Field(max_length=8)  # the month, "2026-12"
    starts_at: datetime
    noticed_at: datetime = Field(default_factory=utcnow)


class MeetingItem(SQLModel, table=True):
    """An agenda item of a meeting and the decision recorded for it."""

    __tablename__ = "meeting_item"
    __table_args__ = (UniqueConstraint("meeting_id", "proposal_id"),)

    id: int | None = Field(default=None, primary_key=True)
    meeting_id: int = Field(foreign_key="meeting.id", index=True)
    proposal_id: int = Field(foreign_key="proposal.id", index=True)
    outcome: ItemOutcome = Field(default=ItemOutcome.PENDING, max_length=16)
    decision: str | None = Field(default=None, max_length=500)
    recorded_at: datetime | None = None
    recorded_by: int | None = Field(default=None, foreign_key="person.id")


class Project(SQLModel, table=True):
    """A decided agenda item being carried out, from planned to done (or dropped)."""

    id: int | None = Field(default=None, primary_key=True)
    village_id: int = Field(foreign_key="village.id", index=True)
    proposal_id: int = Field(foreign_key="proposal.id", unique=True)
    vote_id: int | None = Field(default=None, foreign_key="vote.id")
    decision: str = Field(max_length=500)
    status: ProjectStatus = Field(default=ProjectStatus.PLANNED, max_length=16)
    created_at: datetime = Field(default_factory=utcnow)
    started_at: datetime | None = None
    done_at: datetime | None = None
    dropped_at: datetime | None = None
    updated_at: datetime = Field(default_factory=utcnow)


class ProjectNote(SQLModel, table=True):
    """A progress note, or the note of a status change."""

    __tablename__ = "project_note"

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id", index=True)
    status: ProjectStatus | None = Field(default=None, max_length=16)  # set on a change
    text: str = Field(default="", max_length=500)
    at: datetime = Field(default_factory=utcnow)
    by: int | None = Field(default=None, foreign_key="person.id")


class ProposalFollower(SQLModel, table=True):
    """A resident who hears of every change of a proposal and its project (besides its author)."""

    __tablename__ = "proposal_follower"
    __table_args__ = (UniqueConstraint("proposal_id", "person_id"),)

    id: int | None = Field(default=None, primary_key=True)
    proposal_id: int = Field(foreign_key="proposal.id", index=True)
    person_id: int = Field(foreign_key="person.id")
    followed_at: datetime = Field(default_factory=utcnow)
