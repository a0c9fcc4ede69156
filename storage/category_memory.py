"""The villages' report categories, kept in memory between updates.

Every /report lists them and every category press checks one, but they change only when an
admin edits them. So a process keeps each village's list as last read, and forgets all of them
when any transaction of its own writes to the table (noticed on the session, as
storage.profiles does). Other processes (webhook workers) forget theirs after `TTL` seconds:
until then one may still offer a category just removed, and the filing itself, which reads the
category in its own transaction, refuses it. What is kept is read-only: plain copies that
belong to no session.
"""

from __future__ import annotations

import time
import weakref
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session

from storage.models.reports import ReportCategory

TTL = 30.0  # seconds
_TOUCHED = "report_categories_touched"


class CategoryMemory:
    """Per database (engine): village id -> when read, and the rows."""

    def __init__(self) -> None:
        self._kept: weakref.WeakKeyDictionary[Any, dict[int, tuple[float, list[ReportCategory]]]]
        self._kept = weakref.WeakKeyDictionary()
        self.generation = 0  # a read that raced with a write is not kept

    def get(self, session: Any, village_id: int) -> list[ReportCategory] | None:
        kept = self._kept.get(session.get_bind(), {}).get(village_id)
        if kept is None or time.monotonic() - kept[0] > TTL:
            return None
        return list(kept[1])

    def keep(
        self, session: Any, village_id: int, rows: list[ReportCategory], generation: int
    ) -> None:
        """Keep what `session` read, unless a write raced with it or the session wrote
        categories itself (not committed yet: another update must not see them)."""
        if generation != self.generation or session.info.get(_TOUCHED):
            return
        copies = [ReportCategory.model_validate(row.model_dump()) for row in rows]
        kept = self._kept.setdefault(session.get_bind(), {})
        kept[village_id] = (time.monotonic(), copies)

    def forget(self) -> None:
        self._kept.clear()
        self.generation += 1


memory = CategoryMemory()


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, _context: object) -> None:
    if any(
        isinstance(row, ReportCategory) for row in (*session.new, *session.dirty, *session.deleted)
    ):
        session.info[_TOUCHED] = True


@event.listens_for(Session, "do_orm_execute")
def _on_statement(state: ORMExecuteState) -> None:
    if state.is_update or state.is_delete or state.is_insert:
        table = getattr(state.statement, "table", None)
        if table is not None and table.name == ReportCategory.__tablename__:
            state.session.info[_TOUCHED] = True


@event.listens_for(Session, "after_transaction_end")
def _after_transaction(session: Session, transaction: Any) -> None:
    if transaction.parent is None and not transaction.nested and session.info.pop(_TOUCHED, None):
        memory.forget()
