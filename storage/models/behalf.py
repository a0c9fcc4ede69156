"""Filing on someone's behalf (代报 / 代办): a grid worker or village admin files a report for
a resident, or for a visitor at the counter who is not in the bot (name, household, phone)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from storage.models.common import utcnow


class OnBehalf(SQLModel, table=True):
    __tablename__ = "on_behalf"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16)  # what was filed: "report"
    object_id: int = Field(index=True)  # the task
    filed_by: int = Field(foreign_key="person.id")
    for_person_id: int | None = Field(default=None, foreign_key="person.id")
    visitor_name: str = Field(default="", max_length=64)
    visitor_household: str = Field(default="", max_length=64)
    visitor_phone: str = Field(default="", max_length=32)
    created_at: datetime = Field(default_factory=utcnow)
