"""Organisation rules: villages, grids, households, people, memberships, roles, invites, groups.

Every operation that changes something checks the actor's permission first and raises a
`RuleError` (nothing changed) when the rules say no. State changes are conditional updates,
so two presses of the same button, or two workers at once, do the work once.
"""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, update
from sqlalchemy.orm import make_transient_to_detached
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import audit, transitions
from storage.db import add_unique, get_or_missing
from storage.errors import N_, AlreadyDone, NotAllowed, NotFound, RuleError
from storage.models.org import (
    BoundChat,
    Grid,
    Household,
    Invite,
    LeftReason,
    Membership,
    MembershipStatus,
    Person,
    Role,
    RoleAssignment,
    Village,
    WorkerKind,
)
from storage.permissions.org import Actor, OrgPermissions, Residence, RoleHeld
from storage.text import label_key, normalise_text

NAME_MAX = 32
PLACE_NAME_MAX = 32
HOUSEHOLD_LABEL_MAX = 32
GRIDS_MAX = 50
ROLE_INVITE_TTL = timedelta(days=7)
GRID_INVITE_TTL = timedelta(days=30)
PENDING_REMINDER_AFTER = timedelta(hours=24)


# --- people --------------------------------------------------------------------------------


async def person_by_telegram_id(session: AsyncSession, telegram_id: int) -> Person | None:
    return (await session.exec(select(Person).where(Person.telegram_id == telegram_id))).first()


async def get_or_create_person(
    session: AsyncSession, telegram_id: int, *, full_name: str = "", username: str | None = None
) -> Person:
    person = await person_by_telegram_id(session, telegram_id)
    if person is not None:
        return person
    return await create_person(session, telegram_id, full_name=full_name, username=username)


async def create_person(
    session: AsyncSession, telegram_id: int, *, full_name: str = "", username: str | None = None
) -> Person:
    """A row for someone the bot has not met (the one a concurrent update made, if it won)."""
    person = Person(
        telegram_id=telegram_id,
        full_name=clean_text(full_name, NAME_MAX),
        username=(username or None) and username[:64],
    )
    if not await add_unique(session, person):  # created by a concurrent update of this person
        person = await person_by_telegram_id(session, telegram_id)
        assert person is not None
    return person


async def load_actor(
    session: AsyncSession, person: Person, *, district_admins: tuple[int, ...] = ()
) -> Actor:
    """Everything the permission checks need about a person."""
    return (await load_profile(session, person, district_admins=district_admins)).actor


# --- who is behind an update (kept in memory between updates by storage.profiles) --------


@dataclass(frozen=True)
class Home:
    """Where the person lives in the bot, by name (for /me)."""

    village: str
    grid: str
    household: str
    status: MembershipStatus


@dataclass(frozen=True)
class RoleLine:
    role: Role
    worker_kind: WorkerKind | None
    village: str
    grid: str | None


@dataclass(frozen=True)
class Profile:
    """The person, what the permission checks need (`actor`), their home and roles by name."""

    person: Person  # detached, never attached itself: `attach` gives a session its own copy
    actor: Actor
    home: Home | None
    roles: tuple[RoleLine, ...]
    loaded_at: float

    async def attach(self, session: AsyncSession) -> Person:
        """The person as a row of this session (no query): changes to it are saved."""
        return await session.merge(self.person, load=False)


# Where a person lives, as a plain row: their newest current membership and its names.
_HOME_COLUMNS = (
    Membership.id,
    Membership.village_id,
    Membership.grid_id,
    Membership.household_id,
    Membership.status,
    Membership.tenant,
    Village.name,
    Grid.name,
    Household.label,
)


async def load_profile(
    session: AsyncSession, person: Person, *, district_admins: tuple[int, ...] = ()
) -> Profile:
    """A person's profile from the database: two queries (plain rows: nothing of them is
    kept as an object of the session)."""
    assert person.id is not None
    found = await _person_and_home(session, col(Person.id) == person.id)
    roles = await roles_of(session, person.id)
    return _profile(person, roles, found[1] if found else None, district_admins)


async def profile_by_telegram_id(
    session: AsyncSession, telegram_id: int, *, district_admins: tuple[int, ...] = ()
) -> tuple[Person, Profile] | None:
    """A known person's row and profile in two queries (the person with their home, then
    their roles); None when nobody has this Telegram id."""
    found = await _person_and_home(session, col(Person.telegram_id) == telegram_id)
    if found is None:
        return None
    person, home = found
    assert person.id is not None
    roles = await roles_of(session, person.id)
    return person, _profile(person, roles, home, district_admins)


async def _person_and_home(
    session: AsyncSession, which: Any
) -> tuple[Person, tuple[Any, ...] | None] | None:
    """In one statement, the person `which` picks and where they live: the _HOME_COLUMNS of
    their newest pending or approved membership (None: they have none). None: no such
    person."""
    found = (
        await session.exec(
            select(Person, *_HOME_COLUMNS)
            .outerjoin(
                Membership,
                and_(
                    col(Membership.person_id) == col(Person.id),
                    col(Membership.status).in_(
                        [MembershipStatus.PENDING, MembershipStatus.APPROVED]
                    ),
                ),
            )
            .outerjoin(Village, col(Village.id) == col(Membership.village_id))
            .outerjoin(Grid, col(Grid.id) == col(Membership.grid_id))
            .outerjoin(Household, col(Household.id) == col(Membership.household_id))
            .where(which)
            .order_by(col(Membership.id).desc())
            .limit(1)
        )
    ).first()
    if found is None:
        return None
    person, *home = found
    return person, tuple(home) if home[0] is not None else None


def _profile(
    person: Person, roles: list[Any], home_row: Any, district_admins: tuple[int, ...]
) -> Profile:
    assert person.id is not None
    residence = home = None
    if home_row is not None:
        membership_id, village_id, grid_id, household_id, status, tenant, *names = home_row
        residence = Residence(
            membership_id=membership_id,
            village_id=village_id,
            grid_id=grid_id,
            household_id=household_id,
            status=status,
            tenant=tenant,
        )
        village_name, grid_name, household_label = names
        home = Home(village_name, grid_name, household_label, status)
    actor = Actor(
        person_id=person.id,
        telegram_id=person.telegram_id,
        is_district_admin=person.telegram_id in district_admins,
        roles=frozenset(RoleHeld(r.role, r.village_id, r.grid_id) for r in roles),
        residence=residence,
    )
    row = Person.model_validate(person.model_dump())
    make_transient_to_detached(row)
    return Profile(
        person=row,
        actor=actor,
        home=home,
        roles=tuple(RoleLine(r.role, r.worker_kind, r.village, r.grid) for r in roles),
        loaded_at=time.monotonic(),
    )


def set_locale(person: Person, locale: str) -> None:
    if locale not in ("zh", "en"):
        raise RuleError(N_("That language is not available."))
    person.locale = locale


def set_keys_hidden(person: Person, hidden: bool) -> None:
    """Remember that the person hid the keyboard under the text box (or asked for it back)."""
    person.keys_hidden = hidden


def clean_text(text: str | None, limit: int, *, lines: bool = False) -> str:
    """Normalise (see `normalise_text`) and cap the length of a text typed by a person."""
    return normalise_text(text, lines=lines)[:limit].strip()


def require_text(text: str | None, limit: int, *, lines: bool = False) -> str:
    """A name, label or text: normalised (see `normalise_text`), then not empty and not over
    `limit` characters."""
    cleaned = normalise_text(text, lines=lines)
    if not cleaned:
        raise RuleError(N_("Please send some text."))
    if len(cleaned) > limit:
        raise RuleError(N_("That is too long: at most {limit} characters, please."), limit=limit)
    return cleaned


# --- villages and grids --------------------------------------------------------------------


async def create_village(
    session: AsyncSession, actor: Actor, name: str, grid_names: list[str]
) -> Village:
    if not OrgPermissions.can_create_village(actor):
        raise NotAllowed(N_("Only district admins can create villages."))
    name = require_text(name, PLACE_NAME_MAX)
    grids = unique_names(grid_names)
    if not grids:
        raise RuleError(N_("A village needs at least one grid."))
    if len(grids) > GRIDS_MAX:
        raise RuleError(N_("At most {limit} grids at once, please."), limit=GRIDS_MAX)
    if await village_by_name(session, name) is not None:
        raise AlreadyDone(N_("A village named {name} already exists."), name=name)
    village = Village(name=name, created_by=actor.person_id)
    session.add(village)
    await session.flush()
    assert village.id is not None
    for grid_name in grids:
        session.add(Grid(village_id=village.id, name=grid_name))
    audit.record(
        session,
        "village.create",
        actor_id=actor.person_id,
        village_id=village.id,
        name=name,
        grids=grids,
    )
    await session.flush()
    return village


def unique_names(names: list[str]) -> list[str]:
    """Grid names as typed: each checked, duplicates dropped, order kept."""
    seen: list[str] = []
    for raw in names:
        if not raw.strip():
            continue
        name = require_text(raw, PLACE_NAME_MAX)
        if name not in seen:
            seen.append(name)
    return seen


async def village_by_name(session: AsyncSession, name: str) -> Village | None:
    return (await session.exec(select(Village).where(Village.name == name))).first()


async def get_village(session: AsyncSession, village_id: int) -> Village:
    return await get_or_missing(session, Village, village_id, N_("That village no longer exists."))


async def get_grid(session: AsyncSession, grid_id: int) -> Grid:
    return await get_or_missing(session, Grid, grid_id, N_("That grid no longer exists."))


async def grids_of(session: AsyncSession, village_id: int) -> list[Grid]:
    query = select(Grid).where(Grid.village_id == village_id).order_by(col(Grid.id))
    return list((await session.exec(query)).all())


async def villages_for(session: AsyncSession, ids: set[int] | None) -> list[Village]:
    """The villages with these ids (all villages when `ids` is None), by name."""
    query = select(Village).order_by(col(Village.name))
    if ids is not None:
        if not ids:
            return []
        query = query.where(col(Village.id).in_(ids))
    return list((await session.exec(query)).all())


async def administered_villages(session: AsyncSession, actor: Actor) -> list[Village]:
    return await villages_for(session, None if actor.is_district_admin else actor.admin_villages())


async def invitable_grids(session: AsyncSession, actor: Actor) -> list[tuple[Village, Grid]]:
    """The grids an actor may invite residents to: all grids of their villages, and their own."""
    admin_of = None if actor.is_district_admin else actor.admin_villages()
    query = select(Village, Grid).join(Grid, col(Grid.village_id) == col(Village.id))
    if admin_of is not None:
        query = query.where(col(Village.id).in_(admin_of) | col(Grid.id).in_(actor.worker_grids()))
    query = query.order_by(col(Village.name), col(Grid.id))
    return [(village, grid) for village, grid in (await session.exec(query)).all()]


# --- households ----------------------------------------------------------------------------


def label_order(label: str) -> tuple[tuple[int, int | str], ...]:
    """How labels are listed: numbers by their value, so "1组 2号" comes before "1组 10号"."""
    parts = re.split(r"(\d+)", label_key(label))
    return tuple((0, int(part)) if part.isdigit() else (1, part) for part in parts if part)


async def households_of(
    session: AsyncSession, grid_id: int, limit: int = 30, *, fragment: str = ""
) -> list[Household]:
    """The grid's households a joining resident may pick: those with someone approved in them
    now or before (a rejected or never-approved applicant's label is not offered to others),
    whose label contains `fragment` (spaces, width and case aside), in numeric order."""
    approved = select(Membership.household_id).where(
        col(Membership.status).in_([MembershipStatus.APPROVED, MembershipStatus.LEFT])
    )
    query = select(Household).where(
        Household.grid_id == grid_id,
        col(Household.id).in_(approved),
        col(Household.merged_into_id).is_(None),
    )
    key = label_key(fragment)
    if key:
        query = query.where(col(Household.label_key).contains(key, autoescape=True))
    found = sorted((await session.exec(query)).all(), key=lambda h: label_order(h.label))
    return found[:limit]


async def household_in_grid(session: AsyncSession, grid_id: int, household_id: int) -> Household:
    household = await session.get(Household, household_id)
    if household is not None and household.merged_into_id is not None:
        household = await session.get(Household, household.merged_into_id)
    if household is None or household.grid_id != grid_id:
        raise NotFound(N_("That household is not in this grid."))
    return household


async def set_household_head(
    session: AsyncSession, actor: Actor, household_id: int, head_name: str | None
) -> Household:
    """Name the household's head (户主), or clear it with None or empty text: a village admin,
    or a worker of the household's grid. The notice board then names the household by it."""
    household = await get_or_missing(
        session, Household, household_id, N_("That household is not in this grid.")
    )
    grid = await get_grid(session, household.grid_id)
    if not (
        OrgPermissions.can_administer(actor, grid.village_id)
        or OrgPermissions.can_decide_membership(actor, grid.village_id, grid.id or 0)
    ):
        raise NotAllowed(N_("Only this grid's workers and the village admins can decide."))
    name = require_text(head_name, NAME_MAX) if normalise_text(head_name) else None
    household.head_name = name
    session.add(household)
    audit.record(
        session,
        "household.head",
        actor_id=actor.person_id,
        village_id=grid.village_id,
        household_id=household_id,
        head_name=name,
    )
    await session.flush()
    return household


async def find_or_create_household(session: AsyncSession, grid_id: int, label: str) -> Household:
    """The grid's household whose label is this one after normalisation (spaces and case
    aside), or a new one; a concurrent join with the same label gets the same household."""
    label = require_text(label, HOUSEHOLD_LABEL_MAX)
    key = label_key(label)
    query = select(Household).where(Household.grid_id == grid_id, Household.label_key == key)
    household = (await session.exec(query)).first()
    if household is None:
        household = Household(grid_id=grid_id, label=label, label_key=key)
        if not await add_unique(session, household):
            household = (await session.exec(query)).one()
    return household


# --- roles and invites ---------------------------------------------------------------------


def new_code() -> str:
    return secrets.token_urlsafe(12)  # 16 characters, fits a deep link's 64


async def create_role_invite(
    session: AsyncSession,
    actor: Actor,
    *,
    village_id: int,
    role: Role,
    now: datetime,
    grid_id: int | None = None,
    worker_kind: WorkerKind | None = None,
) -> Invite:
    """A one-time link that grants `role` in the village to whoever opens it first."""
    if not OrgPermissions.can_appoint(actor, village_id):
        raise NotAllowed(N_("Only this village's admins can appoint people."))
    await get_village(session, village_id)
    if role == Role.GRID_WORKER:
        if grid_id is None or worker_kind is None:
            raise RuleError(N_("A grid worker needs a grid and a kind of post."))
        grid = await get_grid(session, grid_id)
        if grid.village_id != village_id:
            raise NotFound(N_("That grid no longer exists."))
    else:
        grid_id, worker_kind = None, None
    invite = Invite(
        code=new_code(),
        village_id=village_id,
        grid_id=grid_id,
        role=role,
        worker_kind=worker_kind,
        created_by=actor.person_id,
        expires_at=now + ROLE_INVITE_TTL,
    )
    session.add(invite)
    audit.record(
        session,
        "role.invite",
        actor_id=actor.person_id,
        village_id=village_id,
        role=role.value,
        grid_id=grid_id,
    )
    await session.flush()
    return invite


async def valid_invite(session: AsyncSession, code: str, now: datetime) -> Invite:
    invite = (await session.exec(select(Invite).where(Invite.code == code[:32]))).first()
    if invite is None:
        raise NotFound(N_("This link is not valid. Please ask for a new one."))
    if invite.expires_at <= now:
        raise NotFound(N_("This link has expired. Please ask for a new one."))
    if invite.role is not None and invite.used_by is not None:
        raise AlreadyDone(N_("This link has already been used. Please ask for a new one."))
    return invite


@dataclass(frozen=True)
class Appointment:
    assignment: RoleAssignment
    village: Village
    grid: Grid | None
    appointed_by: Person | None


async def redeem_role_invite(
    session: AsyncSession, person: Person, code: str, now: datetime
) -> Appointment:
    """Use a one-time role link. The conditional update makes a second use fail."""
    invite = await valid_invite(session, code, now)
    if invite.role is None:
        raise NotFound(N_("This link is not valid. Please ask for a new one."))
    assert person.id is not None
    taken = await session.exec(  # type: ignore[call-overload]
        update(Invite)
        .where(col(Invite.id) == invite.id, col(Invite.used_by).is_(None))
        .values(used_by=person.id, used_at=now)
    )
    if not taken.rowcount:
        raise AlreadyDone(N_("This link has already been used. Please ask for a new one."))
    existing = (
        await session.exec(
            select(RoleAssignment).where(
                RoleAssignment.person_id == person.id,
                RoleAssignment.village_id == invite.village_id,
                RoleAssignment.role == invite.role,
                RoleAssignment.grid_id == invite.grid_id,
                col(RoleAssignment.revoked_at).is_(None),
            )
        )
    ).first()
    if existing is None:
        existing = RoleAssignment(
            person_id=person.id,
            village_id=invite.village_id,
            role=invite.role,
            grid_id=invite.grid_id,
            worker_kind=invite.worker_kind,
            granted_by=invite.created_by,
            granted_at=now,
        )
        session.add(existing)
    audit.record(
        session,
        "role.grant",
        actor_id=invite.created_by,
        village_id=invite.village_id,
        target_person_id=person.id,
        role=invite.role.value,
        grid_id=invite.grid_id,
        worker_kind=invite.worker_kind and invite.worker_kind.value,
    )
    await session.flush()
    village = await get_village(session, invite.village_id)
    grid = await get_grid(session, invite.grid_id) if invite.grid_id else None
    by = await session.get(Person, invite.created_by) if invite.created_by else None
    return Appointment(existing, village, grid, by)


async def create_grid_invite(
    session: AsyncSession, actor: Actor, grid_id: int, now: datetime
) -> Invite:
    """A reusable link for residents of one grid; valid for 30 days."""
    grid = await get_grid(session, grid_id)
    if not OrgPermissions.can_invite(actor, grid.village_id, grid_id):
        raise NotAllowed(N_("Only this grid's workers and the village admins can invite."))
    invite = Invite(
        code=new_code(),
        village_id=grid.village_id,
        grid_id=grid_id,
        created_by=actor.person_id,
        expires_at=now + GRID_INVITE_TTL,
    )
    session.add(invite)
    audit.record(
        session,
        "grid.invite",
        actor_id=actor.person_id,
        village_id=grid.village_id,
        grid_id=grid_id,
    )
    await session.flush()
    return invite


async def roles_of(session: AsyncSession, person_id: int) -> list[Any]:
    """The person's current roles as plain rows: role, worker_kind, village_id, grid_id and
    the names of the village and the grid (None for a village-wide role)."""
    query = (
        select(
            RoleAssignment.role,
            RoleAssignment.worker_kind,
            RoleAssignment.village_id,
            RoleAssignment.grid_id,
            col(Village.name).label("village"),
            col(Grid.name).label("grid"),
        )
        .join(Village, col(Village.id) == col(RoleAssignment.village_id))
        .outerjoin(Grid, col(Grid.id) == col(RoleAssignment.grid_id))
        .where(RoleAssignment.person_id == person_id, col(RoleAssignment.revoked_at).is_(None))
        .order_by(col(RoleAssignment.id))
    )
    return list((await session.exec(query)).all())


async def people_with_role(
    session: AsyncSession, role: Role, *, village_id: int | None = None, grid_id: int | None = None
) -> list[Person]:
    """Everyone holding `role` (not revoked) in a village or a grid, in a stable order."""
    query = (
        select(Person)
        .join(RoleAssignment, col(RoleAssignment.person_id) == col(Person.id))
        .where(RoleAssignment.role == role, col(RoleAssignment.revoked_at).is_(None))
    )
    if village_id is not None:
        query = query.where(RoleAssignment.village_id == village_id)
    if grid_id is not None:
        query = query.where(RoleAssignment.grid_id == grid_id)
    return list((await session.exec(query.distinct().order_by(col(Person.id)))).all())


async def grid_workers(session: AsyncSession, grid_id: int) -> list[Person]:
    return await people_with_role(session, Role.GRID_WORKER, grid_id=grid_id)


async def village_admins(session: AsyncSession, village_id: int) -> list[Person]:
    return await people_with_role(session, Role.VILLAGE_ADMIN, village_id=village_id)


async def grid_deciders(
    session: AsyncSession, village_id: int, grid_id: int, *, to_admins: bool = False
) -> list[Person]:
    """Who acts for a grid: its workers, or the village admins when the grid has none (or the
    matter was handed up to them). Join requests, their reminders and tasks all go here."""
    people = [] if to_admins else await grid_workers(session, grid_id)
    return people or await village_admins(session, village_id)


# --- memberships ---------------------------------------------------------------------------


async def current_membership(session: AsyncSession, person_id: int) -> Membership | None:
    """The person's pending or approved place, if any."""
    query = select(Membership).where(*_current(person_id)).order_by(col(Membership.id).desc())
    return (await session.exec(query)).first()


def _current(person_id: int) -> tuple[Any, ...]:
    """A person's pending or approved memberships (the newest is their place)."""
    return (
        Membership.person_id == person_id,
        col(Membership.status).in_([MembershipStatus.PENDING, MembershipStatus.APPROVED]),
    )


async def request_membership(
    session: AsyncSession,
    person: Person,
    *,
    invite_code: str,
    full_name: str,
    household_id: int | None,
    household_label: str | None,
    phone: str | None,
    now: datetime,
    tenant: bool = False,
) -> Membership:
    """A resident asks to join the grid of an invite; a worker decides. `tenant`: they rent in
    the household (租户); see `Village.tenants_vote` and `tenants_earn` for what that means."""
    assert person.id is not None
    invite = await valid_invite(session, invite_code, now)
    if invite.role is not None or invite.grid_id is None:
        raise NotFound(N_("This link is not valid. Please ask for a new one."))
    await ensure_not_member(session, person)
    name = require_text(full_name, NAME_MAX)
    if household_id is not None:
        household = await household_in_grid(session, invite.grid_id, household_id)
    else:
        household = await find_or_create_household(session, invite.grid_id, household_label or "")
    assert household.id is not None
    person.full_name = name
    if phone:
        person.phone = clean_phone(phone)
    session.add(person)
    membership = Membership(
        person_id=person.id,
        village_id=invite.village_id,
        grid_id=invite.grid_id,
        household_id=household.id,
        requested_at=now,
        tenant=tenant,
    )
    session.add(membership)
    await session.flush()
    return membership


async def ensure_not_member(session: AsyncSession, person: Person) -> None:
    """A person has one place at a time: refuse a second request or a second village."""
    assert person.id is not None
    existing = await current_membership(session, person.id)
    if existing is not None and existing.status == MembershipStatus.APPROVED:
        raise AlreadyDone(N_("You have already joined a village. See /me."))
    if existing is not None:
        raise AlreadyDone(N_("Your request is already waiting for a grid worker."))


def clean_phone(text: str) -> str:
    """A phone number as digits with an optional leading +; refuses anything else."""
    raw = text.strip().replace(" ", "").replace("-", "")
    digits = raw.removeprefix("+")
    if not digits.isdigit() or not 5 <= len(digits) <= 15:
        raise RuleError(N_("That does not look like a phone number."))
    return raw


@dataclass(frozen=True)
class MembershipView:
    membership: Membership
    person: Person
    village: Village
    grid: Grid
    household: Household


async def membership_view(session: AsyncSession, membership_id: int) -> MembershipView:
    query = (
        select(Membership, Person, Village, Grid, Household)
        .join(Person, col(Person.id) == col(Membership.person_id))
        .join(Village, col(Village.id) == col(Membership.village_id))
        .join(Grid, col(Grid.id) == col(Membership.grid_id))
        .join(Household, col(Household.id) == col(Membership.household_id))
        .where(Membership.id == membership_id)
    )
    row = (await session.exec(query)).first()
    if row is None:
        raise NotFound(N_("That request no longer exists."))
    return MembershipView(*row)


async def decide_membership(
    session: AsyncSession, actor: Actor, membership_id: int, *, approve: bool, now: datetime
) -> MembershipView:
    """Approve or reject a pending request, once: a second press finds it decided."""
    view = await membership_view(session, membership_id)
    membership = view.membership
    if not OrgPermissions.can_decide_membership(actor, membership.village_id, membership.grid_id):
        raise NotAllowed(N_("Only this grid's workers and the village admins can decide."))
    status = MembershipStatus.APPROVED if approve else MembershipStatus.REJECTED
    await transitions.move_once(
        session,
        Membership,
        membership_id,
        MembershipStatus.PENDING,
        N_("This request has already been decided."),
        status=status,
        decided_at=now,
        decided_by=actor.person_id,
    )
    if approve:
        view.person.household_id = membership.household_id
        session.add(view.person)
    audit.record(
        session,
        "membership.approve" if approve else "membership.reject",
        actor_id=actor.person_id,
        village_id=membership.village_id,
        target_person_id=membership.person_id,
        grid_id=membership.grid_id,
    )
    await session.flush()
    await session.refresh(membership)
    return view


async def leave_village(session: AsyncSession, person: Person, now: datetime) -> Membership:
    """The resident leaves (from /me, confirmed twice). Their history stays: points, reports
    and ballots keep their rows; a new invite lets them join again."""
    assert person.id is not None
    membership = await current_membership(session, person.id)
    if membership is None:
        raise NotFound(N_("You have not joined a village."))
    await _end_membership(
        session, membership, person, LeftReason.LEFT, person.id, now, "membership.leave"
    )
    return membership


async def _end_membership(
    session: AsyncSession,
    membership: Membership,
    person: Person,
    reason: LeftReason,
    by: int,
    now: datetime,
    action: str,
) -> None:
    """The membership ends (once): the person has no household any more, and it is audited
    as `action`; their history stays."""
    await transitions.move_once(
        session,
        Membership,
        membership.id,
        (MembershipStatus.PENDING, MembershipStatus.APPROVED),
        N_("This resident is no longer in the village."),
        status=MembershipStatus.LEFT,
        left_at=now,
        left_reason=reason.value,
        left_by=by,
    )
    person.household_id = None
    session.add(person)
    audit.record(
        session,
        action,
        actor_id=by,
        village_id=membership.village_id,
        target_person_id=person.id,
        when=now,
        grid_id=membership.grid_id,
        household_id=membership.household_id,
    )
    await session.flush()
    await session.refresh(membership)


async def residents_of(
    session: AsyncSession, actor: Actor, village_id: int, grid_id: int | None = None
) -> list[MembershipView]:
    """The approved residents of a grid (or the village), by household and name."""
    if grid_id is None:
        if not OrgPermissions.can_administer(actor, village_id):
            raise NotAllowed(N_("Only this grid's workers and the village admins can do that."))
    elif not OrgPermissions.can_manage_residents(actor, village_id, grid_id):
        raise NotAllowed(N_("Only this grid's workers and the village admins can do that."))
    query = select(Membership.id).where(
        Membership.village_id == village_id, Membership.status == MembershipStatus.APPROVED
    )
    if grid_id is not None:
        query = query.where(Membership.grid_id == grid_id)
    query = query.order_by(col(Membership.household_id), col(Membership.id))
    ids = (await session.exec(query)).all()
    return [await membership_view(session, i) for i in ids]


async def approved_membership(
    session: AsyncSession, actor: Actor, membership_id: int
) -> MembershipView:
    """An approved resident the actor may look after (their grid's, or any of their village)."""
    view = await membership_view(session, membership_id)
    m = view.membership
    if not OrgPermissions.can_manage_residents(actor, m.village_id, m.grid_id):
        raise NotAllowed(N_("Only this grid's workers and the village admins can do that."))
    if m.status != MembershipStatus.APPROVED:
        raise AlreadyDone(N_("This resident is no longer in the village."))
    return view


async def mark_departed(
    session: AsyncSession, actor: Actor, membership_id: int, reason: LeftReason, now: datetime
) -> MembershipView:
    """A worker or admin records that a resident moved away (迁出) or died (已故). Their
    history stays; a person who moved away can join again with a new invite."""
    if reason == LeftReason.LEFT:
        raise RuleError(N_("Please choose moved away or deceased."))
    view = await approved_membership(session, actor, membership_id)
    m = view.membership
    await _end_membership(
        session, m, view.person, reason, actor.person_id, now, f"membership.{reason.value}"
    )
    return view


@dataclass(frozen=True)
class Moved:
    view: MembershipView  # after the move
    from_grid: Grid
    from_household: Household


async def move_resident(
    session: AsyncSession,
    actor: Actor,
    membership_id: int,
    *,
    household_id: int | None = None,
    grid_id: int | None = None,
    household_label: str | None = None,
    now: datetime,
) -> Moved:
    """Move a resident to another household of the village: an existing one (`household_id`),
    or one found or made by its label in `grid_id`. Points already earned stay with the old
    household (the ledger keeps the household each entry counted for); from now on they count
    for the new one. Their open reports stay with the grid they were filed in."""
    view = await approved_membership(session, actor, membership_id)
    m = view.membership
    if household_id is not None:
        target = await session.get(Household, household_id)
        if target is not None and target.merged_into_id is not None:
            target = await session.get(Household, target.merged_into_id)
        if target is None:
            raise NotFound(N_("That household no longer exists."))
    else:
        if grid_id is None:
            raise RuleError(N_("Please pick a grid."))
        target = await find_or_create_household(session, grid_id, household_label or "")
    grid = await get_grid(session, target.grid_id)
    if grid.village_id != m.village_id:
        raise NotFound(N_("That grid no longer exists."))
    if target.id == m.household_id:
        raise RuleError(N_("They already live in that household."))
    assert target.id is not None
    await transitions.move_once(
        session,
        Membership,
        m.id,
        MembershipStatus.APPROVED,
        N_("This resident is no longer in the village."),
        where=[col(Membership.household_id) == m.household_id],
        grid_id=target.grid_id,
        household_id=target.id,
    )
    view.person.household_id = target.id
    session.add(view.person)
    audit.record(
        session,
        "membership.move",
        actor_id=actor.person_id,
        village_id=m.village_id,
        target_person_id=m.person_id,
        when=now,
        from_grid=m.grid_id,
        to_grid=target.grid_id,
        from_household=m.household_id,
        to_household=target.id,
    )
    await session.flush()
    return Moved(await membership_view(session, membership_id), view.grid, view.household)


async def pending_before(session: AsyncSession, cutoff: datetime) -> list[MembershipView]:
    """Requests waiting since before `cutoff`, oldest first."""
    query = (
        select(Membership.id)
        .where(
            Membership.status == MembershipStatus.PENDING, col(Membership.requested_at) < cutoff
        )
        .order_by(col(Membership.requested_at))
    )
    ids = (await session.exec(query)).all()
    return [await membership_view(session, membership_id) for membership_id in ids]


async def pending_for(session: AsyncSession, actor: Actor) -> list[MembershipView]:
    """Pending requests the actor may decide: their grids', and all in villages they run."""
    query = select(Membership.id).where(Membership.status == MembershipStatus.PENDING)
    if not actor.is_district_admin:
        query = query.where(
            col(Membership.village_id).in_(actor.admin_villages())
            | col(Membership.grid_id).in_(actor.worker_grids())
        )
    ids = (await session.exec(query.order_by(col(Membership.requested_at)))).all()
    return [await membership_view(session, membership_id) for membership_id in ids]


async def count_residents(session: AsyncSession, village_id: int) -> int:
    query = (
        select(func.count())
        .select_from(Membership)
        .where(Membership.village_id == village_id, Membership.status == MembershipStatus.APPROVED)
    )
    return (await session.exec(query)).one()


# --- group chats ---------------------------------------------------------------------------


async def bind_chat(
    session: AsyncSession,
    actor: Actor,
    *,
    chat_id: int,
    title: str,
    village_id: int,
    grid_id: int | None,
    now: datetime,
) -> BoundChat:
    """Bind a group chat to a village or one of its grids; a chat has one binding at a time."""
    if not OrgPermissions.can_bind_group(actor, village_id):
        raise NotAllowed(N_("Only village admins can bind a group to their village."))
    await get_village(session, village_id)
    if grid_id is not None and (await get_grid(session, grid_id)).village_id != village_id:
        raise NotFound(N_("That grid no longer exists."))
    await unbind_chat(session, chat_id, now, actor_id=actor.person_id)
    binding = BoundChat(
        chat_id=chat_id,
        title=clean_text(title, 128),
        village_id=village_id,
        grid_id=grid_id,
        bound_by=actor.person_id,
        bound_at=now,
    )
    session.add(binding)
    audit.record(
        session,
        "group.bind",
        actor_id=actor.person_id,
        village_id=village_id,
        chat_id=chat_id,
        grid_id=grid_id,
    )
    await session.flush()
    return binding


async def unbind_chat(
    session: AsyncSession, chat_id: int, now: datetime, *, actor_id: int | None = None
) -> int:
    """End a chat's binding (the bot was removed, or it is bound anew). Returns how many ended."""
    bindings = (
        await session.exec(
            select(BoundChat).where(
                BoundChat.chat_id == chat_id, col(BoundChat.unbound_at).is_(None)
            )
        )
    ).all()
    for binding in bindings:
        binding.unbound_at = now
        session.add(binding)
        audit.record(
            session,
            "group.unbind",
            actor_id=actor_id,
            village_id=binding.village_id,
            chat_id=chat_id,
        )
    return len(bindings)


async def binding_of(session: AsyncSession, chat_id: int) -> BoundChat | None:
    query = select(BoundChat).where(
        BoundChat.chat_id == chat_id, col(BoundChat.unbound_at).is_(None)
    )
    return (await session.exec(query)).first()


async def bound_chats(
    session: AsyncSession,
    village_id: int,
    *,
    grid_id: int | None = None,
    village_wide: bool | None = None,
) -> list[BoundChat]:
    """Active bindings of a village: all, those of one grid, or only the village-wide ones."""
    query = select(BoundChat).where(
        BoundChat.village_id == village_id, col(BoundChat.unbound_at).is_(None)
    )
    if grid_id is not None:
        query = query.where(BoundChat.grid_id == grid_id)
    elif village_wide:
        query = query.where(col(BoundChat.grid_id).is_(None))
    return list((await session.exec(query.order_by(col(BoundChat.id)))).all())


# --- roles that end ------------------------------------------------------------------------

ROLE_REASON_MAX = 200


@dataclass(frozen=True)
class HeldRole:
    assignment: RoleAssignment
    person: Person
    grid: Grid | None


async def village_roles(session: AsyncSession, actor: Actor, village_id: int) -> list[HeldRole]:
    """The roles held now in a village (admins, reviewers, grid workers), for ending one."""
    if not OrgPermissions.can_end_role(actor, village_id):
        raise NotAllowed(N_("Only this village's admins can end roles."))
    query = (
        select(RoleAssignment, Person, Grid)
        .join(Person, col(Person.id) == col(RoleAssignment.person_id))
        .outerjoin(Grid, col(Grid.id) == col(RoleAssignment.grid_id))
        .where(RoleAssignment.village_id == village_id, col(RoleAssignment.revoked_at).is_(None))
        .order_by(col(RoleAssignment.role), col(RoleAssignment.grid_id), col(Person.id))
    )
    return [HeldRole(r, p, g) for r, p, g in (await session.exec(query)).all()]


async def held_role(session: AsyncSession, actor: Actor, assignment_id: int) -> HeldRole:
    """One role held now, if the actor may end it."""
    row = await session.get(RoleAssignment, assignment_id)
    if row is None:
        raise NotFound(N_("That role no longer exists."))
    if not OrgPermissions.can_end_role(actor, row.village_id):
        raise NotAllowed(N_("Only this village's admins can end roles."))
    await session.refresh(row)
    if row.revoked_at is not None:
        raise AlreadyDone(N_("This role has already ended."))
    person = await session.get(Person, row.person_id)
    assert person is not None
    grid = await session.get(Grid, row.grid_id) if row.grid_id else None
    return HeldRole(row, person, grid)


async def end_role(
    session: AsyncSession, actor: Actor, assignment_id: int, reason: str, now: datetime
) -> HeldRole:
    """End a role, with a reason, once. A village keeps at least one admin: the last one's
    role cannot end (two admins ending each other at once are serialised on the village row).
    The person's buttons stop working at once: every process forgets who they were
    (storage.profiles notices the write). What they held moves on: see org_changes.end_role."""
    held = await held_role(session, actor, assignment_id)
    row = held.assignment
    reason = require_text(reason, ROLE_REASON_MAX)
    if row.role == Role.VILLAGE_ADMIN:
        await session.exec(select(Village).where(Village.id == row.village_id).with_for_update())
        others = await session.exec(
            select(func.count())
            .select_from(RoleAssignment)
            .where(
                RoleAssignment.village_id == row.village_id,
                RoleAssignment.role == Role.VILLAGE_ADMIN,
                col(RoleAssignment.revoked_at).is_(None),
                RoleAssignment.person_id != row.person_id,
            )
        )
        if not others.one():
            raise RuleError(
                N_(
                    "{name} is the village's last admin: a village keeps at least one. "
                    "Appoint another admin first (/appoint)."
                ),
                name=held.person.full_name,
            )
    if not await transitions.stamp_once(
        session,
        RoleAssignment,
        row.id,
        "revoked_at",
        revoked_at=now,
        revoked_by=actor.person_id,
        revoke_reason=reason,
    ):
        raise AlreadyDone(N_("This role has already ended."))
    audit.record(
        session,
        "role.end",
        actor_id=actor.person_id,
        village_id=row.village_id,
        target_person_id=row.person_id,
        when=now,
        role=row.role.value,
        grid_id=row.grid_id,
        reason=reason,
    )
    await session.refresh(row)
    return held


async def open_role_links(
    session: AsyncSession, actor: Actor, village_id: int, now: datetime
) -> list[Invite]:
    """Role links made in the village and not used yet, newest first."""
    if not OrgPermissions.can_appoint(actor, village_id):
        raise NotAllowed(N_("Only this village's admins can appoint people."))
    query = select(Invite).where(
        Invite.village_id == village_id,
        col(Invite.role).is_not(None),
        col(Invite.used_by).is_(None),
        col(Invite.expires_at) > now,
    )
    return list((await session.exec(query.order_by(col(Invite.id).desc()))).all())


async def withdraw_role_link(
    session: AsyncSession, actor: Actor, invite_id: int, now: datetime
) -> Invite:
    """A role link not used yet stops working now."""
    invite = await session.get(Invite, invite_id)
    if invite is None or invite.role is None:
        raise NotFound(N_("This link is not valid. Please ask for a new one."))
    if not OrgPermissions.can_appoint(actor, invite.village_id):
        raise NotAllowed(N_("Only this village's admins can appoint people."))
    if not await transitions.stamp_once(
        session,
        Invite,
        invite.id,
        "used_by",
        where=[col(Invite.expires_at) > now],
        expires_at=now,
    ):
        raise AlreadyDone(N_("This link was already used or withdrawn."))
    audit.record(
        session,
        "role.withdraw",
        actor_id=actor.person_id,
        village_id=invite.village_id,
        when=now,
        role=invite.role.value,
        grid_id=invite.grid_id,
    )
    await session.refresh(invite)
    return invite


# --- households that change ----------------------------------------------------------------


async def managed_household(session: AsyncSession, actor: Actor, household_id: int) -> Household:
    """A household the actor may change: their grid's, or any in a village they run."""
    household = await session.get(Household, household_id)
    if household is None or household.merged_into_id is not None:
        raise NotFound(N_("That household no longer exists."))
    grid = await get_grid(session, household.grid_id)
    if not OrgPermissions.can_manage_residents(actor, grid.village_id, grid.id or 0):
        raise NotAllowed(N_("Only this grid's workers and the village admins can do that."))
    return household


async def _label_free(session: AsyncSession, grid_id: int, label: str, but: int | None) -> str:
    key = label_key(label)
    taken = (
        await session.exec(
            select(Household).where(Household.grid_id == grid_id, Household.label_key == key)
        )
    ).first()
    if taken is not None and taken.id != but:
        raise RuleError(
            N_("{label} already exists in that grid. If they are one household, merge them."),
            label=taken.label,
        )
    return key


async def rename_household(
    session: AsyncSession, actor: Actor, household_id: int, label: str, now: datetime
) -> Household:
    household = await managed_household(session, actor, household_id)
    label = require_text(label, HOUSEHOLD_LABEL_MAX)
    key = await _label_free(session, household.grid_id, label, household.id)
    old = household.label
    household.label, household.label_key = label, key
    session.add(household)
    grid = await get_grid(session, household.grid_id)
    audit.record(
        session,
        "household.rename",
        actor_id=actor.person_id,
        village_id=grid.village_id,
        when=now,
        household_id=household.id,
        old=old,
        new=label,
    )
    await session.flush()
    return household


async def move_household(
    session: AsyncSession, actor: Actor, household_id: int, grid_id: int, now: datetime
) -> Household:
    """The household (all its residents) belongs to another grid of the village from now on.
    Points already earned stay counted for the grid they were earned in; open reports stay
    with the grid they were filed in; new ones go to the new grid."""
    household = await managed_household(session, actor, household_id)
    old_grid = await get_grid(session, household.grid_id)
    grid = await get_grid(session, grid_id)
    if grid.village_id != old_grid.village_id:
        raise NotFound(N_("That grid no longer exists."))
    if grid.id == old_grid.id:
        raise RuleError(N_("The household is already in that grid."))
    await _label_free(session, grid_id, household.label, household.id)
    household.grid_id = grid_id
    session.add(household)
    await session.exec(  # type: ignore[call-overload]
        update(Membership)
        .where(
            col(Membership.household_id) == household.id,
            col(Membership.status).in_([MembershipStatus.PENDING, MembershipStatus.APPROVED]),
        )
        .values(grid_id=grid_id)
    )
    audit.record(
        session,
        "household.move",
        actor_id=actor.person_id,
        village_id=grid.village_id,
        when=now,
        household_id=household.id,
        label=household.label,
        from_grid=old_grid.id,
        to_grid=grid_id,
    )
    await session.flush()
    return household


async def merge_households(
    session: AsyncSession, actor: Actor, keep_id: int, merge_id: int, now: datetime
) -> tuple[Household, Household]:
    """The organisation's part of a merge (see org_changes.merge_households for the rest):
    `merge_id`'s residents now belong to `keep_id`; the merged row stays, pointing at the kept
    one, and is no longer offered (its label may be used again)."""
    if keep_id == merge_id:
        raise RuleError(N_("Please pick two different households."))
    keep = await managed_household(session, actor, keep_id)
    merged = await managed_household(session, actor, merge_id)
    keep_grid = await get_grid(session, keep.grid_id)
    merged_grid = await get_grid(session, merged.grid_id)
    if keep_grid.village_id != merged_grid.village_id:
        raise NotFound(N_("That household no longer exists."))
    if not await transitions.stamp_once(
        session,
        Household,
        merged.id,
        "merged_into_id",
        merged_into_id=keep.id,
        merged_at=now,
        label_key=f"~{merged.id}",
    ):
        raise AlreadyDone(N_("That household was already merged."))
    await session.exec(  # type: ignore[call-overload]
        update(Membership)
        .where(
            col(Membership.household_id) == merged.id,
            col(Membership.status).in_([MembershipStatus.PENDING, MembershipStatus.APPROVED]),
        )
        .values(household_id=keep.id, grid_id=keep.grid_id)
    )
    await session.exec(  # type: ignore[call-overload]
        update(Person).where(col(Person.household_id) == merged.id).values(household_id=keep.id)
    )
    audit.record(
        session,
        "household.merge",
        actor_id=actor.person_id,
        village_id=keep_grid.village_id,
        when=now,
        household_id=keep.id,
        merged_id=merged.id,
        label=keep.label,
        merged_label=merged.label,
    )
    await session.refresh(merged)
    return keep, merged


async def split_household(
    session: AsyncSession,
    actor: Actor,
    household_id: int,
    label: str,
    membership_ids: list[int],
    now: datetime,
) -> Household:
    """Some residents of a household get their own (a son's family, in the same grid). Their
    points already earned stay with the old household; from now on they count for the new."""
    household = await managed_household(session, actor, household_id)
    grid = await get_grid(session, household.grid_id)
    label = require_text(label, HOUSEHOLD_LABEL_MAX)
    key = await _label_free(session, household.grid_id, label, None)
    members = (
        await session.exec(
            select(Membership).where(
                col(Membership.id).in_(membership_ids),
                Membership.household_id == household.id,
                Membership.status == MembershipStatus.APPROVED,
            )
        )
    ).all()
    if not members or len(members) != len(set(membership_ids)):
        raise RuleError(N_("Please pick who moves to the new household."))
    new = Household(grid_id=household.grid_id, label=label, label_key=key, created_at=now)
    session.add(new)
    await session.flush()
    for m in members:
        await transitions.move_once(
            session,
            Membership,
            m.id,
            MembershipStatus.APPROVED,
            N_("This resident is no longer in the village."),
            where=[col(Membership.household_id) == household.id],
            household_id=new.id,
        )
    await session.exec(  # type: ignore[call-overload]
        update(Person)
        .where(col(Person.id).in_([m.person_id for m in members]))
        .values(household_id=new.id)
    )
    audit.record(
        session,
        "household.split",
        actor_id=actor.person_id,
        village_id=grid.village_id,
        when=now,
        household_id=household.id,
        new_id=new.id,
        label=household.label,
        new_label=label,
        people=[m.person_id for m in members],
    )
    await session.flush()
    return new


async def household_members_now(session: AsyncSession, household_id: int) -> list[MembershipView]:
    query = select(Membership.id).where(
        Membership.household_id == household_id, Membership.status == MembershipStatus.APPROVED
    )
    return [await membership_view(session, i) for i in (await session.exec(query)).all()]


# --- tenants -------------------------------------------------------------------------------


async def set_tenant_rule(
    session: AsyncSession,
    actor: Actor,
    village_id: int,
    *,
    vote: bool | None = None,
    earn: bool | None = None,
    now: datetime,
) -> Village:
    """Do tenants share their landlord household's vote (per-household votes) and do their
    points count for it? Default: neither; they take part as residents."""
    if not OrgPermissions.can_set_tenant_rule(actor, village_id):
        raise NotAllowed(N_("Only this village's admins can change this."))
    village = await get_village(session, village_id)
    if vote is not None:
        village.tenants_vote = vote
    if earn is not None:
        village.tenants_earn = earn
    session.add(village)
    audit.record(
        session,
        "tenants.rule",
        actor_id=actor.person_id,
        village_id=village_id,
        when=now,
        vote=village.tenants_vote,
        earn=village.tenants_earn,
    )
    await session.flush()
    return village
