"""The time the bot believes it is. Tests move it; production reads the wall clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import overload


class Clock:
    """Wall-clock UTC, optionally shifted: after `travel_to` time keeps flowing from there."""

    def __init__(self) -> None:
        self._offset = timedelta()

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset

    def travel_to(self, moment: datetime) -> None:
        if moment.tzinfo is None:
            raise ValueError("travel_to needs an aware datetime")
        self._offset = moment - datetime.now(UTC)

    def advance(self, delta: timedelta) -> None:
        self._offset += delta


@overload
def aware(moment: datetime) -> datetime: ...
@overload
def aware(moment: None) -> None: ...
def aware(moment: datetime | None) -> datetime | None:
    """A stored time as aware UTC: SQLite gives naive datetimes back, and every stored time is
    UTC."""
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment
