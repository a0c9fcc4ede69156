"""The one builder of a village with its people, for every test that needs one.

A plan says what the village holds: named grids, households, people with their roles (village
admin, grid worker of a grid, full or part time, reviewer) and homes (approved or pending
residents), bound groups. `build` writes it in one session, as the organisation flows would
leave it, and returns handles by name:

    plan = (
        VillagePlan("报事村{base}", now=now)
        .grid("一网格")
        .household("3组 12号", grid="一网格")
        .admin("村管理员")
        .worker("王网格员", grid="一网格")
        .resident("张三", home="3组 12号")
    )
    v = await plan.build(session)
    v.village, v.village_id, v.grid("一网格"), v.person("王网格员"), v.actor("张三")

Telegram ids (and group chat ids, negative) come from the plan's `base`: the i-th person
declared gets base + i. Without a base each plan takes the next range of a counter kept for
the whole run, so tests sharing one end-to-end database never meet each other's people; a
person may also be given a `telegram_id` of its own where a test asserts one. The village's
name may hold "{base}" for the same reason (names are unique).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import org
from storage.db import SessionFactory, unit_of_work
from storage.models.common import OutboxMessage
from storage.models.org import (
    BoundChat,
    Grid,
    Household,
    Membership,
    MembershipStatus,
    Person,
    Role,
    RoleAssignment,
    Village,
    WorkerKind,
)
from storage.permissions.org import Actor

# Telegram ids of built villages: far from the ids tests pick by hand (all below 10⁹), and
# inside 32 bits. Each plan without a base of its own takes the next SPAN of them.
FIRST_BASE = 1_200_000_000
SPAN = 1_000
_ranges = itertools.count(1)


def next_base() -> int:
    """The start of a range of Telegram ids no other plan of this run uses."""
    return FIRST_BASE + next(_ranges) * SPAN


@dataclass
class _Role:
    role: Role
    grid: str | None = None
    kind: WorkerKind | None = None
    revoked_at: datetime | None = None


@dataclass
class _Someone:
    name: str
    telegram_id: int
    locale: str | None = None
    home: str | None = None
    status: MembershipStatus = MembershipStatus.APPROVED
    requested_at: datetime | None = None
    roles: list[_Role] = field(default_factory=list)


@dataclass
class _Group:
    chat_id: int
    title: str
    grid: str | None


class VillagePlan:
    """What a village holds; each method adds to it and returns the plan."""

    def __init__(
        self, name: str = "村{base}", *, base: int | None = None, now: datetime | None = None
    ) -> None:
        self.base = next_base() if base is None else base
        self.name = name.format(base=self.base)
        self.now = now  # when memberships were asked for and decided; the tables' default if None
        self._grids: list[str] = []
        self._households: dict[str, str] = {}  # label -> grid name
        self._people: dict[str, _Someone] = {}
        self._groups: list[_Group] = []

    # --- places ------------------------------------------------------------------------------

    def grid(self, *names: str) -> VillagePlan:
        for name in names:
            assert name not in self._grids, f"grid {name} twice"
            self._grids.append(name)
        return self

    def household(self, label: str, *, grid: str) -> VillagePlan:
        assert grid in self._grids, f"no grid {grid}"
        assert label not in self._households, f"household {label} twice"
        self._households[label] = grid
        return self

    def group(
        self, title: str = "", *, grid: str | None = None, chat_id: int | None = None
    ) -> VillagePlan:
        """A group chat bound to the village (or to one of its grids)."""
        assert grid is None or grid in self._grids, f"no grid {grid}"
        chat_id = -(self.base + len(self._groups) + 1) if chat_id is None else chat_id
        self._groups.append(_Group(chat_id, title, grid))
        return self

    # --- people ------------------------------------------------------------------------------

    def _someone(self, name: str, telegram_id: int | None, locale: str | None) -> _Someone:
        found = self._people.get(name)
        if found is None:
            number = self.base + len(self._people) + 1 if telegram_id is None else telegram_id
            found = self._people[name] = _Someone(name, number)
        else:
            assert telegram_id in (None, found.telegram_id), f"{name} has another id"
        if locale is not None:
            found.locale = locale
        return found

    def person(
        self, name: str, *, telegram_id: int | None = None, locale: str | None = None
    ) -> VillagePlan:
        """Someone with no role and no home (yet): a Telegram user the bot knows."""
        self._someone(name, telegram_id, locale)
        return self

    def resident(
        self,
        name: str,
        *,
        home: str,
        status: MembershipStatus = MembershipStatus.APPROVED,
        requested_at: datetime | None = None,
        telegram_id: int | None = None,
        locale: str | None = None,
    ) -> VillagePlan:
        """A member of the household `home`: approved (then it is their home) or pending."""
        assert home in self._households, f"no household {home}"
        someone = self._someone(name, telegram_id, locale)
        someone.home, someone.status, someone.requested_at = home, status, requested_at
        return self

    def admin(
        self, name: str, *, telegram_id: int | None = None, locale: str | None = None
    ) -> VillagePlan:
        self._someone(name, telegram_id, locale).roles.append(_Role(Role.VILLAGE_ADMIN))
        return self

    def reviewer(
        self, name: str, *, telegram_id: int | None = None, locale: str | None = None
    ) -> VillagePlan:
        self._someone(name, telegram_id, locale).roles.append(_Role(Role.REVIEWER))
        return self

    def worker(
        self,
        name: str,
        *,
        grid: str,
        kind: WorkerKind = WorkerKind.FULL_TIME,
        revoked_at: datetime | None = None,
        telegram_id: int | None = None,
        locale: str | None = None,
    ) -> VillagePlan:
        """A grid worker of `grid` (a role revoked at `revoked_at`, if given)."""
        assert grid in self._grids, f"no grid {grid}"
        role = _Role(Role.GRID_WORKER, grid, kind, revoked_at)
        self._someone(name, telegram_id, locale).roles.append(role)
        return self

    # --- writing it --------------------------------------------------------------------------

    async def build(self, session: AsyncSession) -> BuiltVillage:
        """Write the village in `session` (flushed, not committed)."""
        village = Village(name=self.name)
        session.add(village)
        await session.flush()
        village_id = village.id or 0
        grids = {name: Grid(village_id=village_id, name=name) for name in self._grids}
        session.add_all(grids.values())
        await session.flush()
        households = {
            label: Household(grid_id=grids[grid].id or 0, label=label)
            for label, grid in self._households.items()
        }
        session.add_all(households.values())
        await session.flush()
        people = {
            s.name: Person(telegram_id=s.telegram_id, full_name=s.name, locale=s.locale)
            for s in self._people.values()
        }
        session.add_all(people.values())
        await session.flush()
        memberships: dict[str, Membership] = {}
        for someone in self._people.values():
            person = people[someone.name]
            if someone.home is not None:
                home = households[someone.home]
                approved = someone.status == MembershipStatus.APPROVED
                asked = someone.requested_at or self.now
                membership = Membership(
                    person_id=person.id or 0,
                    village_id=village_id,
                    grid_id=home.grid_id,
                    household_id=home.id or 0,
                    status=someone.status,
                    decided_at=self.now if approved else None,
                )
                if asked is not None:
                    membership.requested_at = asked
                if approved:  # as an approval leaves it
                    person.household_id = home.id
                session.add(membership)
                memberships[someone.name] = membership
            for role in someone.roles:
                session.add(
                    RoleAssignment(
                        person_id=person.id or 0,
                        village_id=village_id,
                        role=role.role,
                        grid_id=grids[role.grid].id if role.grid else None,
                        worker_kind=role.kind,
                        revoked_at=role.revoked_at,
                    )
                )
        groups = {
            g.title: BoundChat(
                chat_id=g.chat_id,
                title=g.title,
                village_id=village_id,
                grid_id=grids[g.grid].id if g.grid else None,
            )
            for g in self._groups
        }
        session.add_all(groups.values())
        await session.flush()
        actors = {name: await org.load_actor(session, person) for name, person in people.items()}
        return BuiltVillage(
            village, self.base, grids, households, people, memberships, actors, groups
        )

    async def build_in(self, sessions: SessionFactory) -> BuiltVillage:
        """Write the village in a transaction of its own."""
        async with unit_of_work(sessions) as session:
            return await self.build(session)


@dataclass
class BuiltVillage:
    """Handles on what a plan wrote (detached rows: read them, reload to change them)."""

    village: Village
    base: int
    grids: dict[str, Grid]
    households: dict[str, Household]
    people: dict[str, Person]
    memberships: dict[str, Membership]
    actors: dict[str, Actor]  # as storage loaded them once the village was written
    groups: dict[str, BoundChat]

    @property
    def village_id(self) -> int:
        return self.village.id or 0

    def grid(self, name: str) -> Grid:
        return self.grids[name]

    def household(self, label: str) -> Household:
        return self.households[label]

    def person(self, name: str) -> Person:
        return self.people[name]

    def _named(self, who: str | Person) -> str:
        if isinstance(who, str):
            return who
        return next(name for name, person in self.people.items() if person.id == who.id)

    def actor(self, who: str | Person) -> Actor:
        """The person's Actor, loaded by storage (org.load_actor) when the village was built."""
        return self.actors[self._named(who)]

    async def load_actor(self, session: AsyncSession, who: str | Person) -> Actor:
        """The person's Actor as storage loads it now (roles or homes may have changed)."""
        return await org.load_actor(session, self.person(self._named(who)))

    def residents(self, status: MembershipStatus = MembershipStatus.APPROVED) -> list[Person]:
        """The people with a membership of `status`, in the plan's order."""
        return [self.people[n] for n, m in self.memberships.items() if m.status == status]

    def group(self, title: str | None = None) -> int:
        """The chat id of the group titled `title` (of the first group bound, if None)."""
        if title is None:
            return next(iter(self.groups.values())).chat_id
        return self.groups[title].chat_id

    @property
    def group_id(self) -> int:
        return self.group()


def report_plan(now: datetime | None = None, base: int | None = None) -> VillagePlan:
    """The village of the report tests: two grids with a full-time worker each, an admin, and
    two approved residents of one household in grid A."""
    return (
        VillagePlan("报事村{base}", base=base, now=now)
        .grid("一网格", "二网格")
        .household("3组 12号", grid="一网格")
        .admin("村管理员")
        .worker("王网格员", grid="一网格")
        .worker("李网格员", grid="二网格")
        .resident("张三", home="3组 12号")
        .resident("赵六", home="3组 12号")  # a neighbour: grid A too
    )


async def report_village(
    session: AsyncSession, now: datetime, base: int | None = None
) -> BuiltVillage:
    return await report_plan(now, base).build(session)


async def lone_person(session: AsyncSession, telegram_id: int, name: str) -> Person:
    """Someone known to the bot with no place in any village yet (who joins, or is appointed,
    later in a test)."""
    found = Person(telegram_id=telegram_id, full_name=name)
    session.add(found)
    await session.flush()
    return found


async def outbox_rows(sessions: SessionFactory, chat_id: int) -> list[OutboxMessage]:
    """What the outbox holds for a chat, oldest first."""
    async with sessions() as session:
        query = select(OutboxMessage).where(OutboxMessage.chat_id == chat_id)
        return list((await session.exec(query.order_by(col(OutboxMessage.id)))).all())


async def outbox_texts(sessions: SessionFactory, chat_id: int) -> list[str]:
    """The texts of what the outbox holds for a chat, oldest first."""
    return [str(row.payload.get("text", "")) for row in await outbox_rows(sessions, chat_id)]
