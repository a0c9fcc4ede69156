"""Filing on someone's behalf (代报): who may, for whom, and how the report is kept.

A grid worker files for the residents of their grids, a village admin for their village's. For
a resident in the bot, the report is theirs (they hear of every change and are asked "is it
fixed?") and the cadre follows it. For a visitor not in the bot, the cadre stands in as the
reporter: they hear of every change and answer "is it fixed?" for the visitor. Either way the
card says who filed it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import audit, org, reports
from storage.errors import N_, NotAllowed, NotFound
from storage.models.behalf import OnBehalf
from storage.models.org import Grid, Household, Membership, MembershipStatus, Person
from storage.permissions.org import Actor, Residence
from storage.voice import Voice

VISITOR_PHONE_MAX = 32


def can_file_for_others(actor: Actor | None) -> bool:
    return actor is not None and (bool(actor.worker_grids()) or bool(actor.admin_villages()))


def _may_file_for(actor: Actor) -> object:
    """The approved memberships a cadre may file for: in their grids, or their villages."""
    return (Membership.status == MembershipStatus.APPROVED) & (
        col(Membership.village_id).in_(sorted(actor.admin_villages()))
        | col(Membership.grid_id).in_(sorted(actor.worker_grids()))
    )


@dataclass(frozen=True)
class Found:
    person: Person
    household: str


async def find_residents(
    session: AsyncSession, actor: Actor, name: str, limit: int = 8
) -> list[Found]:
    """Residents the cadre may file for whose name holds `name`."""
    if not can_file_for_others(actor):
        raise NotAllowed(N_("Only grid workers and village admins can file for someone else."))
    text = org.require_text(name, org.NAME_MAX)
    query = (
        select(Person, Household.label)
        .join(Membership, col(Membership.person_id) == col(Person.id))
        .join(Household, col(Household.id) == col(Membership.household_id))
        .where(_may_file_for(actor), col(Person.full_name).contains(text, autoescape=True))
        .order_by(col(Person.full_name), col(Person.id))
        .limit(limit)
    )
    return [Found(person, label) for person, label in (await session.exec(query)).all()]


async def home_village(session: AsyncSession, actor: Actor) -> tuple[int, int]:
    """(village, grid) a cadre files in: their grid, else their village's first grid."""
    grids = sorted(actor.worker_grids())
    if grids:
        grid = await org.get_grid(session, grids[0])
        return grid.village_id, grid.id or 0
    villages = sorted(actor.admin_villages())
    if not villages:
        raise NotAllowed(N_("Only grid workers and village admins can file for someone else."))
    first = (
        await session.exec(
            select(Grid).where(Grid.village_id == villages[0]).order_by(col(Grid.id)).limit(1)
        )
    ).first()
    if first is None:
        raise NotFound(N_("This village has no grid yet."))
    return villages[0], first.id or 0


async def file_report_for(
    session: AsyncSession,
    cadre: Actor,
    *,
    for_person_id: int | None,
    visitor: tuple[str, str, str] | None,
    category_id: int,
    description: str,
    spoken: Voice | None,
    now: datetime,
) -> reports.TaskView:
    """A report filed by a cadre for a resident (`for_person_id`) or a visitor (name,
    household, phone), marked with who filed it."""
    if not can_file_for_others(cadre):
        raise NotAllowed(N_("Only grid workers and village admins can file for someone else."))
    if for_person_id is not None:
        membership = (
            await session.exec(
                select(Membership).where(
                    _may_file_for(cadre), Membership.person_id == for_person_id
                )
            )
        ).first()
        if membership is None:
            raise NotAllowed(N_("You can file only for residents of your grids or village."))
        person = await session.get(Person, for_person_id)
        assert person is not None
        reporter = await org.load_actor(session, person)
        view = await reports.file_report(
            session,
            reporter,
            category_id=category_id,
            description=description,
            spoken=spoken,
            now=now,
        )
        await reports.add_follower(session, view.id, cadre.person_id, now)
    else:
        if visitor is None:
            raise NotFound(N_("Please say whom this is for."))
        village_id, grid_id = await home_village(session, cadre)
        stand_in = Actor(
            person_id=cadre.person_id,
            telegram_id=cadre.telegram_id,
            residence=Residence(0, village_id, grid_id, 0, MembershipStatus.APPROVED),
        )
        view = await reports.file_report(
            session,
            stand_in,
            category_id=category_id,
            description=description,
            spoken=spoken,
            now=now,
        )
    name, household, phone = visitor or ("", "", "")
    session.add(
        OnBehalf(
            kind="report",
            object_id=view.id,
            filed_by=cadre.person_id,
            for_person_id=for_person_id,
            visitor_name=org.clean_text(name, org.NAME_MAX),
            visitor_household=org.clean_text(household, org.HOUSEHOLD_LABEL_MAX),
            visitor_phone=org.clean_text(phone, VISITOR_PHONE_MAX),
            created_at=now,
        )
    )
    audit.record(
        session,
        "task.report_for",
        actor_id=cadre.person_id,
        village_id=view.task.village_id,
        task_id=view.id,
        for_person_id=for_person_id,
        visitor=bool(visitor),
    )
    await session.flush()
    return await reports.task_view(session, view.id)
