"""Who is behind an update — the person, their roles and their home — kept between updates.

Nearly every update needs this, and it rarely changes, so each bot process keeps it in memory
(`Profiles`). It is never trusted past a change: every write to the rows it is built from
(people, memberships, role assignments, villages, grids, households) is noticed on the session
that makes it, and once that transaction ends the people it touched are forgotten in every
cache of the process (all of them, for a bulk UPDATE or DELETE, or a change to a village, grid
or household). A load that raced with such a change is not kept (the generation check).

Several bot processes (webhook workers) each keep their own, so they need REDIS_URL: each
process then publishes whom it forgot and forgets whom the others did (`bot/profile_sync.py`).
Jobs and command-line tools do not change these rows.
"""

from __future__ import annotations

import time
import weakref
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import org
from storage.models.org import Grid, Household, Membership, Person, RoleAssignment, Village
from storage.org import Profile

LIMIT = 50_000  # people remembered; past this, the oldest quarter is forgotten
TTL = 600.0  # seconds: a last line of defence, should a change ever go unnoticed
EVERYONE = -1  # in a set of touched telegram ids: forget everybody


class Profiles:
    """One process's memory of profiles, by Telegram user id."""

    def __init__(self, *, district_admins: tuple[int, ...] = (), limit: int = LIMIT) -> None:
        self.district_admins = district_admins
        self.limit = limit
        self._kept: dict[int, Profile] = {}
        self._person_ids: dict[int, int] = {}  # person id -> telegram id
        self.generation = 0
        _CACHES.add(self)

    async def get(
        self,
        session: AsyncSession,
        telegram_id: int,
        *,
        create: bool,
        full_name: str = "",
        username: str | None = None,
    ) -> Profile | None:
        """The profile of this Telegram user, from memory or the database. With `create`, a
        person row is made on first contact; without, None for someone the bot does not know."""
        kept = self._kept.get(telegram_id)
        if kept is not None and time.monotonic() - kept.loaded_at < TTL:
            return kept
        generation = self.generation
        found = await org.profile_by_telegram_id(
            session, telegram_id, district_admins=self.district_admins
        )
        if found is not None:
            person, profile = found
        elif create:
            person = await org.create_person(
                session, telegram_id, full_name=full_name, username=username
            )
            profile = await org.load_profile(session, person, district_admins=self.district_admins)
        else:
            return None
        if generation == self.generation and not session.new and person not in session.dirty:
            self._keep(profile)
        return profile

    def kept(self, telegram_id: int) -> Profile | None:
        """The profile in memory, if any (no database): for answers given before a session."""
        return self._kept.get(telegram_id)

    def forget(self, telegram_ids: set[int]) -> None:
        self.generation += 1
        if EVERYONE in telegram_ids:
            self._kept.clear()
            self._person_ids.clear()
            return
        for telegram_id in telegram_ids:
            self._kept.pop(telegram_id, None)

    def forget_people(self, person_ids: set[int]) -> None:
        self.forget({self._person_ids[p] for p in person_ids if p in self._person_ids})

    def _keep(self, profile: Profile) -> None:
        if len(self._kept) >= self.limit:
            for old in list(self._kept)[: self.limit // 4]:
                self._person_ids.pop(self._kept.pop(old).actor.person_id, None)
        self._kept[profile.actor.telegram_id] = profile
        self._person_ids[profile.actor.person_id] = profile.actor.telegram_id


# --- noticing changes ----------------------------------------------------------------------

_CACHES: weakref.WeakSet[Profiles] = weakref.WeakSet()
_TOUCHED = "profiles_touched"  # session.info: telegram ids (or EVERYONE) and person ids
_BY_PERSON = (Membership, RoleAssignment)
_SHARED = (Village, Grid, Household)
_TABLES = {m.__tablename__ for m in (Person, *_BY_PERSON, *_SHARED)}  # type: ignore[attr-defined]

# Called with (telegram ids, person ids) after this process forgot them: how other processes
# hear of it (set by bot.app when REDIS_URL is configured).
publish: list[Any] = []


def forget_everywhere(telegram_ids: set[int], person_ids: set[int]) -> None:
    """Forget these people in every cache of this process."""
    for cache in list(_CACHES):
        cache.forget(telegram_ids)
        cache.forget_people(person_ids)


def _touched(session: Session) -> tuple[set[int], set[int]]:
    return session.info.setdefault(_TOUCHED, (set(), set()))


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, _context: object) -> None:
    telegram_ids, person_ids = _touched(session)
    for row in (*session.new, *session.dirty, *session.deleted):
        if isinstance(row, Person):
            telegram_ids.add(row.telegram_id)
        elif isinstance(row, _BY_PERSON):
            person_ids.add(row.person_id)
        elif isinstance(row, _SHARED):
            telegram_ids.add(EVERYONE)


@event.listens_for(Session, "do_orm_execute")
def _on_statement(state: ORMExecuteState) -> None:
    if not (state.is_update or state.is_delete or state.is_insert):
        return
    table = getattr(state.statement, "table", None)
    if table is not None and table.name in _TABLES:
        _touched(state.session)[0].add(EVERYONE)


@event.listens_for(Session, "after_transaction_end")
def _after_transaction(session: Session, transaction: Any) -> None:
    """When the outermost transaction ends (committed or not: forgetting is always safe)."""
    if transaction.parent is not None or transaction.nested:
        return
    touched = session.info.pop(_TOUCHED, None)
    if not touched or not (touched[0] or touched[1]):
        return
    forget_everywhere(*touched)
    for send in publish:
        send(*touched)
