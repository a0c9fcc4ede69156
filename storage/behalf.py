"""Filing on someone's behalf (代报): who may, for whom, and how what was filed is kept.

A grid worker files for the residents of their grids, a village admin for their village's: a
report, a proposal (书记信箱) or a points claim. For a resident in the bot, the report, proposal
or claim is theirs (they hear of every change; a report asks them "is it fixed?") and the cadre
who filed it hears of every change too. For a visitor not in the bot (a report or a proposal),
the cadre stands in as the reporter or author: they hear of every change and answer for the
visitor. A claim is for a resident only: points belong to a person and count for their
household. Either way every card says who filed it, and a reviewer never decides a claim they
filed themselves (storage/permissions/points.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import audit, council, org, points, reports, votes
from storage.errors import N_, NotAllowed, NotFound, RuleError
from storage.models.behalf import OnBehalf
from storage.models.org import Grid, Household, Membership, MembershipStatus, Person
from storage.models.points import PointClaim
from storage.models.votes import Proposal
from storage.permissions.org import Actor, Residence
from storage.voice import Voice

VISITOR_PHONE_MAX = 32
KINDS = ("report", "proposal", "claim")  # what a cadre can file for someone
Visitor = tuple[str, str, str]  # name, household, phone
CLAIM_FOR_VISITOR = N_(
    "Points belong to a person and count for their household, so a claim can be filed only "
    "for a resident of the village. Please type the resident's name; someone not in the bot "
    "yet can join first with your grid's invite link."
)


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


def check_visitor(kind: str) -> None:
    """A visitor not in the bot can have a report or a proposal filed for them, not a claim."""
    if kind not in KINDS:
        raise NotFound(N_("Please choose what to file."))
    if kind == "claim":
        raise RuleError(CLAIM_FOR_VISITOR)


async def resident_for(session: AsyncSession, cadre: Actor, person_id: int) -> Actor:
    """The resident a cadre files for, checked again: an approved resident of their grids or
    village, and not the cadre themselves."""
    if not can_file_for_others(cadre):
        raise NotAllowed(N_("Only grid workers and village admins can file for someone else."))
    if person_id == cadre.person_id:
        raise RuleError(N_("This is you: please file it yourself from your home screen."))
    membership = (
        await session.exec(
            select(Membership).where(_may_file_for(cadre), Membership.person_id == person_id)
        )
    ).first()
    person = await session.get(Person, person_id)
    if membership is None or person is None:
        raise NotAllowed(N_("You can file only for residents of your grids or village."))
    return await org.load_actor(session, person)


async def stand_in(session: AsyncSession, cadre: Actor) -> Actor:
    """The cadre as the reporter or author for a visitor, at home in the grid they file in."""
    village_id, grid_id = await home_village(session, cadre)
    return Actor(
        person_id=cadre.person_id,
        telegram_id=cadre.telegram_id,
        residence=Residence(0, village_id, grid_id, 0, MembershipStatus.APPROVED),
    )


def _record(
    session: AsyncSession,
    kind: str,
    object_id: int,
    cadre: Actor,
    for_person_id: int | None,
    visitor: Visitor | None,
    now: datetime,
) -> None:
    name, household, phone = visitor or ("", "", "")
    session.add(
        OnBehalf(
            kind=kind,
            object_id=object_id,
            filed_by=cadre.person_id,
            for_person_id=for_person_id,
            visitor_name=org.clean_text(name, org.NAME_MAX),
            visitor_household=org.clean_text(household, org.HOUSEHOLD_LABEL_MAX),
            visitor_phone=org.clean_text(phone, VISITOR_PHONE_MAX),
            created_at=now,
        )
    )


@dataclass(frozen=True)
class Filed:
    """Who filed something for whom: the cadre (told of every change) and the person it is
    for, as cards name them (a resident's name, or the visitor's name, household and phone)."""

    record: OnBehalf
    filer: Person
    for_person: Person | None

    @property
    def who(self) -> str:
        if self.for_person is not None:
            return self.for_person.full_name
        return self.record.visitor_name

    @property
    def stands_in(self) -> bool:
        """For a visitor: the cadre is the reporter or author, told in their stead."""
        return self.for_person is None

    @property
    def visitor_details(self) -> str:
        found = (self.record.visitor_household, self.record.visitor_phone)
        return ", ".join(d for d in found if d)


async def filed(session: AsyncSession, kind: str, object_id: int) -> Filed | None:
    """Whether this report, proposal or claim was filed on someone's behalf, and by whom."""
    record = (
        await session.exec(
            select(OnBehalf).where(OnBehalf.kind == kind, OnBehalf.object_id == object_id)
        )
    ).first()
    if record is None:
        return None
    filer = await session.get(Person, record.filed_by)
    if filer is None:
        return None
    for_person = await session.get(Person, record.for_person_id) if record.for_person_id else None
    return Filed(record, filer, for_person)


async def filer_for(
    session: AsyncSession, cadre: Actor, for_person_id: int | None, visitor: Visitor | None
) -> Actor:
    """Who a cadre's filing is in the name of: the resident (checked again), or for a
    visitor the cadre standing in."""
    if for_person_id is not None:
        return await resident_for(session, cadre, for_person_id)
    if visitor is not None:
        return await stand_in(session, cadre)
    raise NotFound(N_("Please say whom this is for."))


async def file_report_for(
    session: AsyncSession,
    cadre: Actor,
    *,
    for_person_id: int | None,
    visitor: Visitor | None,
    category_id: int,
    description: str,
    spoken: Voice | None,
    now: datetime,
) -> reports.TaskView:
    """A report filed by a cadre for a resident (`for_person_id`) or a visitor (name,
    household, phone), marked with who filed it."""
    reporter = await filer_for(session, cadre, for_person_id, visitor)
    view = await reports.file_report(
        session,
        reporter,
        category_id=category_id,
        description=description,
        spoken=spoken,
        now=now,
    )
    if for_person_id is not None:
        await reports.add_follower(session, view.id, cadre.person_id, now)
    _record(session, "report", view.id, cadre, for_person_id, visitor, now)
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


async def file_proposal_for(
    session: AsyncSession,
    cadre: Actor,
    *,
    for_person_id: int | None,
    visitor: Visitor | None,
    title: str,
    body: str,
    anonymous: bool,
    year: int,
    now: datetime,
    photo_file_id: str | None = None,
) -> Proposal:
    """A proposal (书记信箱) filed by a cadre for a resident, who is its author (the cadre
    follows it), or for a visitor, for whom the cadre stands in as its author."""
    author = await filer_for(session, cadre, for_person_id, visitor)
    proposal = await votes.submit_proposal(
        session,
        author,
        title=title,
        body=body,
        anonymous=anonymous,
        year=year,
        now=now,
        photo_file_id=photo_file_id,
    )
    await session.flush()
    if for_person_id is not None:
        await council.add_follower(session, proposal.id or 0, cadre.person_id, now)
    _record(session, "proposal", proposal.id or 0, cadre, for_person_id, visitor, now)
    audit.record(
        session,
        "proposal.submit_for",
        actor_id=cadre.person_id,
        village_id=proposal.village_id,
        proposal_id=proposal.id,
        for_person_id=for_person_id,
        visitor=bool(visitor),
    )
    await session.flush()
    return proposal


async def file_claim_for(
    session: AsyncSession,
    cadre: Actor,
    *,
    for_person_id: int | None,
    item_id: int,
    note: str | None,
    photo_file_id: str | None,
    now: datetime,
    tz: ZoneInfo,
    spoken: Voice | None = None,
) -> PointClaim:
    """A points claim filed by a cadre for a resident of their grids or village: the claim is
    the resident's (the same items, caps and evidence as their own), waiting for the points
    group, who never include the cadre who filed it."""
    if for_person_id is None:
        raise RuleError(CLAIM_FOR_VISITOR)
    claimant = await resident_for(session, cadre, for_person_id)
    claim = await points.make_claim(
        session,
        claimant,
        item_id,
        note=note,
        photo_file_id=photo_file_id,
        now=now,
        tz=tz,
        spoken=spoken,
    )
    _record(session, "claim", claim.id or 0, cadre, for_person_id, None, now)
    audit.record(
        session,
        "points.claim_for",
        actor_id=cadre.person_id,
        village_id=claim.village_id,
        claim_id=claim.id,
        for_person_id=for_person_id,
    )
    await session.flush()
    return claim
