"""A village for report tests, set up directly in storage: two grids, a worker for each, an
admin, and approved residents."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from storage import org
from storage.models.org import (
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

_counter = itertools.count(1)


@dataclass
class ReportVillage:
    village: Village
    grid_a: Grid
    grid_b: Grid
    admin: Person
    worker_a: Person
    worker_b: Person
    resident: Person
    neighbour: Person  # a resident of grid A too

    @property
    def village_id(self) -> int:
        return self.village.id or 0


async def person(session: AsyncSession, telegram_id: int, name: str) -> Person:
    found = Person(telegram_id=telegram_id, full_name=name)
    session.add(found)
    await session.flush()
    return found


async def make_village(session: AsyncSession, now: datetime, base: int = 0) -> ReportVillage:
    """Telegram ids from `base` (unique per test in the shared end-to-end database)."""
    n = next(_counter)
    base = base or 700_000 + n * 100
    village = Village(name=f"报事村{base}")
    session.add(village)
    await session.flush()
    grid_a = Grid(village_id=village.id or 0, name="一网格")
    grid_b = Grid(village_id=village.id or 0, name="二网格")
    session.add_all([grid_a, grid_b])
    await session.flush()
    admin = await person(session, base + 1, "村管理员")
    worker_a = await person(session, base + 2, "王网格员")
    worker_b = await person(session, base + 3, "李网格员")
    resident = await person(session, base + 4, "张三")
    neighbour = await person(session, base + 5, "赵六")
    session.add(
        RoleAssignment(
            person_id=admin.id or 0, village_id=village.id or 0, role=Role.VILLAGE_ADMIN
        )
    )
    for worker, grid in ((worker_a, grid_a), (worker_b, grid_b)):
        session.add(
            RoleAssignment(
                person_id=worker.id or 0,
                village_id=village.id or 0,
                role=Role.GRID_WORKER,
                grid_id=grid.id,
                worker_kind=WorkerKind.FULL_TIME,
            )
        )
    household = Household(grid_id=grid_a.id or 0, label="3组 12号")
    session.add(household)
    await session.flush()
    for someone in (resident, neighbour):
        session.add(
            Membership(
                person_id=someone.id or 0,
                village_id=village.id or 0,
                grid_id=grid_a.id or 0,
                household_id=household.id or 0,
                status=MembershipStatus.APPROVED,
                requested_at=now,
                decided_at=now,
            )
        )
        someone.household_id = household.id
    await session.flush()
    return ReportVillage(village, grid_a, grid_b, admin, worker_a, worker_b, resident, neighbour)


async def actor_of(session: AsyncSession, someone: Person) -> Actor:
    return await org.load_actor(session, someone)
