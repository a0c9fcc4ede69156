"""Tables of the points shop (积分超市): goods, orders, keepers, and the spending ledger.

The earned ledger (`point_entry`) is what rankings sum; what a household spends is kept in its
own append-only ledger (`point_spend`), so no ranking can count a purchase. An order writes a
`hold` (points reserved); handing it over writes `redeem` (spent), cancelling writes `release`.
Each kind is unique per order, so a hold is released or redeemed once. A household's balance
for the year = earned − redeemed − held (see docs/points.md).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.models.common import utcnow


class GoodStatus(StrEnum):
    ACTIVE = "active"
    RETIRED = "retired"


class OrderStatus(StrEnum):
    """held → handed (the keeper handed it over) | cancelled (the hold released)."""

    HELD = "held"
    HANDED = "handed"
    CANCELLED = "cancelled"


class SpendKind(StrEnum):
    HOLD = "hold"
    RELEASE = "release"
    REDEEM = "redeem"


class ShopGood(SQLModel, table=True):
    __tablename__ = "shop_good"

    id: int | None = Field(default=None, primary_key=True)
    village_id: int = Field(foreign_key="village.id", index=True)
    name: str = Field(max_length=40)
    photo_file_id: str | None = Field(default=None, max_length=255)
    price: int  # points
    stock: int = 0
    monthly_limit: int | None = None  # per household and month; None: no limit
    status: GoodStatus = Field(default=GoodStatus.ACTIVE, max_length=16)
    created_at: datetime = Field(default_factory=utcnow)
    changed_at: datetime | None = None


class ShopOrder(SQLModel, table=True):
    __tablename__ = "shop_order"
    __table_args__ = (
        Index("ix_shop_order_village_status", "village_id", "status"),
        Index("ix_shop_order_household_month", "household_id", "month"),
    )

    id: int | None = Field(default=None, primary_key=True)
    village_id: int = Field(foreign_key="village.id")
    household_id: int = Field(foreign_key="household.id")
    person_id: int = Field(foreign_key="person.id")
    good_id: int = Field(foreign_key="shop_good.id")
    points: int  # the price when ordered
    year: int  # the points year the points come from
    month: str = Field(max_length=8)  # 2026-12, for the monthly limit and the export
    status: OrderStatus = Field(default=OrderStatus.HELD, max_length=16)
    created_at: datetime = Field(default_factory=utcnow)
    handed_at: datetime | None = None
    handed_by: int | None = Field(default=None, foreign_key="person.id")
    cancelled_at: datetime | None = None
    cancelled_by: int | None = Field(default=None, foreign_key="person.id")


class PointSpend(SQLModel, table=True):
    """One line of the spending ledger. Never updated, never deleted."""

    __tablename__ = "point_spend"
    __table_args__ = (
        UniqueConstraint("order_id", "kind"),
        Index("ix_point_spend_household_year", "household_id", "year"),
    )

    id: int | None = Field(default=None, primary_key=True)
    village_id: int = Field(foreign_key="village.id", index=True)
    household_id: int = Field(foreign_key="household.id")
    order_id: int = Field(foreign_key="shop_order.id")
    kind: SpendKind = Field(max_length=8)
    points: int  # positive
    year: int
    at: datetime = Field(default_factory=utcnow)


class ShopKeeper(SQLModel, table=True):
    """A person a village admin appointed to hand goods over (a row per village)."""

    __tablename__ = "shop_keeper"
    __table_args__ = (UniqueConstraint("village_id", "person_id"),)

    id: int | None = Field(default=None, primary_key=True)
    village_id: int = Field(foreign_key="village.id", index=True)
    person_id: int = Field(foreign_key="person.id")
    appointed_by: int | None = Field(default=None, foreign_key="person.id")
    appointed_at: datetime = Field(default_factory=utcnow)
