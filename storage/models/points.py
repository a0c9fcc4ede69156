"""The tables of the points system (积分制): catalogue, claims, the ledger, appeals, rewards.

The ledger (`point_entry`) is append-only: a correction is a new entry naming the one it
corrects. Balances, ranks and histories are sums over it. Every entry keeps the household and
grid it counted for when it was made, so a person who moves keeps their history and the old
household keeps the points of periods already closed.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from storage.models.common import utcnow


class ItemStatus(StrEnum):
    ACTIVE = "active"
    RETIRED = "retired"


class CapPeriod(StrEnum):
    WEEK = "week"
    MONTH = "month"


class ClaimStatus(StrEnum):
    """pending → approved | rejected | retracted; nothing leaves those three."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    RETRACTED = "retracted"


class EntryKind(StrEnum):
    CLAIM = "claim"  # an approved claim
    AWARD = "award"  # recorded directly by a reviewer, positive or negative
    CORRECTION = "correction"  # cancels another entry (an appeal upheld)


class AppealStatus(StrEnum):
    """pending → upheld (the entry is corrected) | dismissed (it stands)."""

    PENDING = "pending"
    UPHELD = "upheld"
    DISMISSED = "dismissed"


class RewardStatus(StrEnum):
    """owed → handed (the admin handed the reward over)."""

    OWED = "owed"
    HANDED = "handed"


class PointItem(SQLModel, table=True):
    """One line of a village's catalogue (正负积分事项清单)."""

    __tablename__ = "point_item"
    __table_args__ = (UniqueConstraint("village_id", "code"),)

    id: int | None = Field(default=None, primary_key=True)
    village_id: int = Field(foreign_key="village.id", index=True)
    code: str = Field(max_length=16)
    category: str = Field(max_length=32)  # a category code of the catalogue file
    name: str = Field(max_length=64)
    name_en: str = Field(default="", max_length=96)
    points: int
    evidence_required: bool = False
    cap_count: int | None = None
    cap_period: CapPeriod | None = Field(default=None, max_length=8)
    status: ItemStatus = Field(default=ItemStatus.ACTIVE, max_length=16)
    created_at: datetime = Field(default_factory=utcnow)
    changed_at: datetime | None = None
    retired_at: datetime | None = None


class PointClaim(SQLModel, table=True):
    """A resident's own declaration (主动申报), waiting for the points group."""

    __tablename__ = "point_claim"
    __table_args__ = (
        Index("ix_point_claim_village_status", "village_id", "status"),
        Index("ix_point_claim_person_item", "person_id", "item_id", "claimed_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    village_id: int = Field(foreign_key="village.id")
    person_id: int = Field(foreign_key="person.id")
    household_id: int = Field(foreign_key="household.id")
    item_id: int = Field(foreign_key="point_item.id")
    points: int  # the item's points when claimed
    note: str = Field(default="", max_length=500)
    photo_file_id: str | None = Field(default=None, max_length=200)
    status: ClaimStatus = Field(default=ClaimStatus.PENDING, max_length=16)
    claimed_at: datetime = Field(default_factory=utcnow)
    decided_at: datetime | None = None
    decided_by: int | None = Field(default=None, foreign_key="person.id")
    reason: str | None = Field(default=None, max_length=500)
    retracted_at: datetime | None = None


class PointEntry(SQLModel, table=True):
    """One line of the ledger. Never updated, never deleted."""

    __tablename__ = "point_entry"
    __table_args__ = (
        # Covering indexes: a village's period (/leaderboard), and every village's month.
        Index(
            "ix_point_entry_village_at", "village_id", "at", "household_id", "grid_id", "points"
        ),
        Index("ix_point_entry_at", "at", "village_id", "household_id", "grid_id", "points"),
        # The month's deductions (the exposure list) without a second scan of the month.
        Index(
            "ix_point_entry_negative",
            "at",
            "village_id",
            sqlite_where=text("points < 0"),
            postgresql_where=text("points < 0"),
        ),
        Index("ix_point_entry_household_at", "household_id", "at"),
        Index("ix_point_entry_person_at", "person_id", "at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    village_id: int = Field(foreign_key="village.id")
    grid_id: int = Field(foreign_key="grid.id")
    household_id: int = Field(foreign_key="household.id")
    person_id: int | None = Field(default=None, foreign_key="person.id")  # None: whole household
    item_id: int | None = Field(default=None, foreign_key="point_item.id")
    points: int
    kind: EntryKind = Field(max_length=16)
    reason: str = Field(default="", max_length=500)
    year: int  # the points year (local calendar year of `at`)
    at: datetime = Field(default_factory=utcnow)
    recorded_by: int | None = Field(default=None, foreign_key="person.id")
    claim_id: int | None = Field(default=None, foreign_key="point_claim.id", unique=True)
    corrects_id: int | None = Field(default=None, foreign_key="point_entry.id", unique=True)


class PointAppeal(SQLModel, table=True):
    """An appeal against a negative entry: one per entry, decided by another reviewer."""

    __tablename__ = "point_appeal"

    id: int | None = Field(default=None, primary_key=True)
    entry_id: int = Field(foreign_key="point_entry.id", unique=True)
    village_id: int = Field(foreign_key="village.id", index=True)
    person_id: int = Field(foreign_key="person.id")
    text: str = Field(max_length=500)
    status: AppealStatus = Field(default=AppealStatus.PENDING, max_length=16)
    created_at: datetime = Field(default_factory=utcnow)
    decided_at: datetime | None = None
    decided_by: int | None = Field(default=None, foreign_key="person.id")


class PointsSettings(SQLModel, table=True):
    """A village's schedule and choices; a village without a row uses the defaults."""

    __tablename__ = "points_settings"

    village_id: int = Field(foreign_key="village.id", primary_key=True)
    weekly_weekday: int = 6  # 0 = Monday … 6 = Sunday
    weekly_hour: int = 20
    weekly_minute: int = 0
    monthly_hour: int = 9
    exposure: bool = False  # publish the exposure list (反向曝光) with the monthly post
    top: int = 10  # households on the praise list
    changed_at: datetime | None = None


class RewardTier(SQLModel, table=True):
    """A quarterly reward: households with at least `threshold` points get `reward`."""

    __tablename__ = "reward_tier"

    id: int | None = Field(default=None, primary_key=True)
    village_id: int = Field(foreign_key="village.id", index=True)
    threshold: int
    reward: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow)
    retired_at: datetime | None = None


class RewardGrant(SQLModel, table=True):
    """A household's reward for one quarter (its highest tier reached)."""

    __tablename__ = "reward_grant"
    __table_args__ = (UniqueConstraint("household_id", "quarter"),)

    id: int | None = Field(default=None, primary_key=True)
    village_id: int = Field(foreign_key="village.id", index=True)
    household_id: int = Field(foreign_key="household.id")
    quarter: str = Field(max_length=8)  # 2026-Q4
    tier_id: int = Field(foreign_key="reward_tier.id")
    reward: str = Field(max_length=64)
    points: int
    status: RewardStatus = Field(default=RewardStatus.OWED, max_length=16)
    created_at: datetime = Field(default_factory=utcnow)
    handed_at: datetime | None = None
    handed_by: int | None = Field(default=None, foreign_key="person.id")


class PointsYear(SQLModel, table=True):
    """A closed points year of one household (一年一清零): its total and rank, kept for good."""

    __tablename__ = "points_year"
    __table_args__ = (UniqueConstraint("village_id", "year", "household_id"),)

    id: int | None = Field(default=None, primary_key=True)
    village_id: int = Field(foreign_key="village.id")
    year: int
    household_id: int = Field(foreign_key="household.id")
    grid_id: int = Field(foreign_key="grid.id")
    points: int
    rank: int
    closed_at: datetime = Field(default_factory=utcnow)
