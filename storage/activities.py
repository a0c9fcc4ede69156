"""Activity rules (组织群众活动): making an activity, sign-ups with capacity and a waiting list,
check-in by a rotating code or from the organiser's list, the points it credits, closing.

* A seat is one conditional UPDATE (`taken < capacity`): concurrent presses never give more
  seats than the capacity; who finds it full waits in line (`queued_at`), and a cancelled seat
  goes to the first in line at once (`promote`).
* The check-in code changes every 5 minutes (an HMAC of the activity's secret and the 5-minute
  window); a code from an earlier window is refused (30 s of grace at the change).
* Attendance is unique per activity and person; the points entry (through `points.add_entry`,
  so 一周一定 and the monthly lists count it) is written with it, so a check-in credits once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import delete, update
from sqlmodel import col, func, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import audit, org, outbox, points, transitions
from storage.clock import aware
from storage.db import add_unique, get_or_missing
from storage.errors import N_, AlreadyDone, NotAllowed, NotFound, RuleError
from storage.models.activities import (
    Activity,
    ActivityCard,
    ActivityStatus,
    Attendance,
    Audience,
    CheckinWay,
    ResidentTag,
    Signup,
    SignupStatus,
)
from storage.models.common import OutboxMessage
from storage.models.org import Grid, Membership, MembershipStatus, Person
from storage.models.points import EntryKind, ItemStatus
from storage.permissions.activities import ActivityPermissions as Can
from storage.permissions.org import Actor

TITLE_MAX = 60
DESCRIPTION_MAX = 500
PLACE_MAX = 60
NOTE_MAX = 500
TAG_MAX = 16
CAPACITY_MAX = 1000
PHOTOS_MAX = 5
CODE_WINDOW = 300  # seconds: the check-in code changes every 5 minutes
CODE_GRACE = 30  # seconds the previous code still works after the change
CODE_DIGITS = 6
CHECKIN_EARLY = timedelta(hours=1)  # the code works from an hour before the start
CHECKIN_LATE = timedelta(hours=2)  # to two hours after the end
REMIND_BEFORE = timedelta(days=1)
SUGGESTED_TAGS = ("老年人", "青少年家庭", "新居民")


# --- tags ----------------------------------------------------------------------------------


async def tags_of(session: AsyncSession, person_id: int, village_id: int) -> list[str]:
    query = select(ResidentTag.tag).where(
        ResidentTag.person_id == person_id, ResidentTag.village_id == village_id
    )
    return sorted((await session.exec(query)).all())


async def village_tags(session: AsyncSession, village_id: int) -> list[str]:
    query = select(ResidentTag.tag).where(ResidentTag.village_id == village_id).distinct()
    return sorted((await session.exec(query)).all())


async def add_tag(
    session: AsyncSession, actor: Actor, village_id: int, person_id: int, tag: str, now: datetime
) -> bool:
    """Tag a resident of the village (老年人, 青少年家庭, 新居民, or the village's own word)."""
    if not Can.can_tag(actor, village_id):
        raise NotAllowed(N_("Only village admins can keep the residents' groups."))
    tag = org.require_text(tag, TAG_MAX)
    membership = await org.current_membership(session, person_id)
    if membership is None or membership.village_id != village_id:
        raise NotFound(N_("That person is not a resident of this village."))
    added = await add_unique(
        session,
        ResidentTag(
            village_id=village_id,
            person_id=person_id,
            tag=tag,
            added_at=now,
            added_by=actor.person_id,
        ),
    )
    if added:
        audit.record(
            session,
            "activity.tag",
            actor_id=actor.person_id,
            village_id=village_id,
            target_person_id=person_id,
            tag=tag,
        )
    return added


async def remove_tag(
    session: AsyncSession, actor: Actor, village_id: int, person_id: int, tag: str
) -> bool:
    if not Can.can_tag(actor, village_id):
        raise NotAllowed(N_("Only village admins can keep the residents' groups."))
    changed = await session.exec(  # type: ignore[call-overload]
        delete(ResidentTag).where(
            col(ResidentTag.village_id) == village_id,
            col(ResidentTag.person_id) == person_id,
            col(ResidentTag.tag) == tag,
        )
    )
    if changed.rowcount:
        audit.record(
            session,
            "activity.untag",
            actor_id=actor.person_id,
            village_id=village_id,
            target_person_id=person_id,
            tag=tag,
        )
    return bool(changed.rowcount)


async def residents_for_tags(
    session: AsyncSession, village_id: int, tag: str, limit: int = 40
) -> list[tuple[Person, bool]]:
    """Approved residents (by name) and whether each has the tag."""
    tagged = set(
        (
            await session.exec(
                select(ResidentTag.person_id).where(
                    ResidentTag.village_id == village_id, ResidentTag.tag == tag
                )
            )
        ).all()
    )
    query = (
        select(Person)
        .join(Membership, col(Membership.person_id) == col(Person.id))
        .where(Membership.village_id == village_id, Membership.status == MembershipStatus.APPROVED)
        .order_by(col(Person.full_name), col(Person.id))
        .limit(limit)
    )
    return [(p, p.id in tagged) for p in (await session.exec(query)).all()]


# --- making an activity --------------------------------------------------------------------


async def create_activity(
    session: AsyncSession,
    actor: Actor,
    *,
    village_id: int,
    title: str,
    description: str,
    place: str,
    starts_at: datetime,
    ends_at: datetime,
    signup_deadline: datetime,
    capacity: int | None,
    audience: Audience,
    grid_ids: Collection[int] = (),
    tag: str | None = None,
    item_id: int | None,
    now: datetime,
) -> Activity:
    grids = sorted(set(grid_ids)) if audience == Audience.GRIDS else []
    if not Can.can_organise(actor, village_id, grids or ()):
        raise NotAllowed(N_("Only village admins and grid workers can organise activities."))
    if audience == Audience.GRIDS:
        if not grids:
            raise RuleError(N_("Pick at least one grid."))
        known = {g.id for g in await org.grids_of(session, village_id)}
        if not set(grids) <= known:
            raise NotFound(N_("That grid is not in this village."))
    tag = org.require_text(tag, TAG_MAX) if audience == Audience.TAG else None
    title = org.require_text(title, TITLE_MAX)
    description = org.clean_text(description, DESCRIPTION_MAX, lines=True)
    place = org.require_text(place, PLACE_MAX)
    if not now < starts_at < ends_at:
        raise RuleError(N_("The activity must start in the future and end after it starts."))
    if not now < signup_deadline <= starts_at:
        raise RuleError(N_("Sign-up must close after now and no later than the start."))
    if capacity is not None and not 1 <= capacity <= CAPACITY_MAX:
        raise RuleError(N_("The number of places is from 1 to {limit}."), limit=CAPACITY_MAX)
    worth = 0
    if item_id is not None:
        item = await points.get_item(session, item_id)
        if item.village_id != village_id or item.status != ItemStatus.ACTIVE:
            raise NotFound(N_("That item is not in the catalogue."))
        if item.points <= 0:
            raise RuleError(N_("Taking part is credited with a positive item."))
        worth = item.points
    activity = Activity(
        village_id=village_id,
        title=title,
        description=description,
        place=place,
        starts_at=starts_at,
        ends_at=ends_at,
        signup_deadline=signup_deadline,
        capacity=capacity,
        audience=audience,
        grid_ids=grids,
        tag=tag,
        item_id=item_id,
        points=worth,
        secret=secrets.token_hex(16),
        created_by=actor.person_id,
        created_at=now,
    )
    session.add(activity)
    await session.flush()
    audit.record(
        session,
        "activity.create",
        actor_id=actor.person_id,
        village_id=village_id,
        activity_id=activity.id,
        capacity=capacity,
        audience=str(audience),
    )
    return activity


async def get_activity(session: AsyncSession, activity_id: int) -> Activity:
    return await get_or_missing(
        session, Activity, activity_id, N_("That activity no longer exists.")
    )


async def runnable(session: AsyncSession, actor: Actor, activity_id: int) -> Activity:
    """The activity, if this person runs it (its organiser or a village admin)."""
    activity = await get_activity(session, activity_id)
    if not Can.can_run(actor, activity):
        raise NotAllowed(N_("Only the organiser or a village admin can do that."))
    return activity


async def organisable_villages(session: AsyncSession, actor: Actor) -> list[int]:
    """Villages where this person may organise (admins; workers for their grids)."""
    found = set(actor.admin_villages())
    found |= {r.village_id for r in actor.roles if r.grid_id in actor.worker_grids()}
    if actor.is_district_admin:
        found |= {v.id or 0 for v in await org.villages_for(session, None)}
    return sorted(found)


# --- signing up ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SignedUp:
    activity: Activity
    signup: Signup
    seat: bool  # False: on the waiting list
    place: int  # the place in the waiting list (0 with a seat)


async def _take_seat(session: AsyncSession, activity_id: int) -> bool:
    """One seat, if one is left: a conditional UPDATE, so concurrent presses cannot overfill."""
    changed = await session.exec(  # type: ignore[call-overload]
        update(Activity)
        .where(
            col(Activity.id) == activity_id,
            or_(col(Activity.capacity).is_(None), col(Activity.taken) < col(Activity.capacity)),
        )
        .values(taken=Activity.taken + 1)
    )
    return bool(changed.rowcount)


async def _give_back_seat(session: AsyncSession, activity_id: int) -> None:
    await session.exec(  # type: ignore[call-overload]
        update(Activity)
        .where(col(Activity.id) == activity_id, col(Activity.taken) > 0)
        .values(taken=Activity.taken - 1)
    )


async def sign_up(
    session: AsyncSession, actor: Actor | None, activity_id: int, now: datetime
) -> SignedUp:
    """A seat, or a place on the waiting list; checked again on every press."""
    activity = await get_activity(session, activity_id)
    if activity.status != ActivityStatus.OPEN:
        raise AlreadyDone(N_("This activity is closed."))
    if now >= aware(activity.signup_deadline):
        raise AlreadyDone(N_("Sign-up for this activity has closed."))
    tags = (
        await tags_of(session, actor.person_id, activity.village_id) if actor is not None else []
    )
    if actor is None or actor.residence is None or not Can.can_sign_up(actor, activity, tags):
        raise NotAllowed(N_("This activity is for other residents; you cannot sign up for it."))
    signup = Signup(
        activity_id=activity_id,
        person_id=actor.person_id,
        household_id=actor.residence.household_id,
        status=SignupStatus.WAITING,
        queued_at=now,
    )
    if not await add_unique(session, signup):
        query = select(Signup).where(
            Signup.activity_id == activity_id, Signup.person_id == actor.person_id
        )
        signup = (await session.exec(query)).one()
        if signup.status != SignupStatus.CANCELLED:
            raise AlreadyDone(
                N_("You are already signed up.")
                if signup.status == SignupStatus.SIGNED
                else N_("You are already on the waiting list.")
            )
        if not await transitions.move(
            session,
            Signup,
            signup.id,
            SignupStatus.CANCELLED,
            status=SignupStatus.WAITING,
            queued_at=now,
            cancelled_at=None,
        ):
            raise AlreadyDone(N_("You are already signed up."))
    seat = await _take_seat(session, activity_id)
    if seat:
        await transitions.move(
            session,
            Signup,
            signup.id,
            SignupStatus.WAITING,
            status=SignupStatus.SIGNED,
            signed_at=now,
        )
    await session.refresh(signup)
    await session.refresh(activity)
    audit.record(
        session,
        "activity.signup",
        actor_id=actor.person_id,
        village_id=activity.village_id,
        activity_id=activity_id,
        seat=seat,
    )
    place = 0 if seat else await waiting_place(session, signup)
    return SignedUp(activity, signup, seat, place)


async def waiting_place(session: AsyncSession, signup: Signup) -> int:
    query = (
        select(func.count())
        .select_from(Signup)
        .where(
            Signup.activity_id == signup.activity_id,
            Signup.status == SignupStatus.WAITING,
            or_(
                col(Signup.queued_at) < signup.queued_at,
                (col(Signup.queued_at) == signup.queued_at) & (col(Signup.id) <= signup.id),
            ),
        )
    )
    return int((await session.exec(query)).one())


@dataclass(frozen=True)
class Cancelled:
    activity: Activity
    had_seat: bool
    promoted: Person | None  # moved up from the waiting list (to be told)


async def cancel_signup(
    session: AsyncSession, actor: Actor | None, activity_id: int, now: datetime
) -> Cancelled:
    activity = await get_activity(session, activity_id)
    if activity.status != ActivityStatus.OPEN:
        raise AlreadyDone(N_("This activity is closed."))
    if actor is None:
        raise NotFound(N_("You are not signed up."))
    query = select(Signup).where(
        Signup.activity_id == activity_id, Signup.person_id == actor.person_id
    )
    signup = (await session.exec(query)).first()
    if signup is None:
        raise NotFound(N_("You are not signed up."))
    was = signup.status
    if not await transitions.move(
        session,
        Signup,
        signup.id,
        [SignupStatus.SIGNED, SignupStatus.WAITING],
        where=[col(Signup.status) == was],
        status=SignupStatus.CANCELLED,
        cancelled_at=now,
    ):
        raise AlreadyDone(N_("You are not signed up."))
    promoted = None
    if was == SignupStatus.SIGNED:
        await _give_back_seat(session, activity_id)
        promoted = await promote(session, activity, now)
    await session.refresh(activity)
    audit.record(
        session,
        "activity.cancel_signup",
        actor_id=actor.person_id,
        village_id=activity.village_id,
        activity_id=activity_id,
    )
    return Cancelled(activity, was == SignupStatus.SIGNED, promoted)


async def promote(session: AsyncSession, activity: Activity, now: datetime) -> Person | None:
    """The first in line gets the free seat (each seat once: conditional on both rows)."""
    while True:
        query = (
            select(Signup)
            .where(Signup.activity_id == activity.id, Signup.status == SignupStatus.WAITING)
            .order_by(col(Signup.queued_at), col(Signup.id))
            .limit(1)
        )
        first = (await session.exec(query)).first()
        if first is None:
            return None
        if not await _take_seat(session, activity.id or 0):
            return None
        if await transitions.move(
            session,
            Signup,
            first.id,
            SignupStatus.WAITING,
            status=SignupStatus.SIGNED,
            signed_at=now,
        ):
            audit.record(
                session,
                "activity.promote",
                actor_id=None,
                village_id=activity.village_id,
                activity_id=activity.id,
                target_person_id=first.person_id,
            )
            return await session.get(Person, first.person_id)
        await _give_back_seat(session, activity.id or 0)  # someone else moved them up


@dataclass(frozen=True)
class Counts:
    signed: int
    waiting: int
    came: int


async def counts(session: AsyncSession, activity_id: int) -> Counts:
    query = (
        select(Signup.status, func.count())
        .where(Signup.activity_id == activity_id)
        .group_by(col(Signup.status))
    )
    by = dict((await session.exec(query)).all())
    came = (
        await session.exec(
            select(func.count())
            .select_from(Attendance)
            .where(Attendance.activity_id == activity_id)
        )
    ).one()
    return Counts(by.get(SignupStatus.SIGNED, 0), by.get(SignupStatus.WAITING, 0), int(came))


async def signup_of(session: AsyncSession, activity_id: int, person_id: int) -> Signup | None:
    query = select(Signup).where(Signup.activity_id == activity_id, Signup.person_id == person_id)
    return (await session.exec(query)).first()


async def signed_people(session: AsyncSession, activity_id: int) -> list[Person]:
    query = (
        select(Person)
        .join(Signup, col(Signup.person_id) == col(Person.id))
        .where(Signup.activity_id == activity_id, Signup.status == SignupStatus.SIGNED)
        .order_by(col(Signup.signed_at), col(Signup.id))
    )
    return list((await session.exec(query)).all())


@dataclass(frozen=True)
class RosterLine:
    person: Person
    status: SignupStatus
    came: bool


async def roster(session: AsyncSession, activity_id: int) -> list[RosterLine]:
    """Those signed up (then those waiting), each with whether they came."""
    came = set(
        (
            await session.exec(
                select(Attendance.person_id).where(Attendance.activity_id == activity_id)
            )
        ).all()
    )
    query = (
        select(Person, Signup.status)
        .join(Signup, col(Signup.person_id) == col(Person.id))
        .where(
            Signup.activity_id == activity_id,
            col(Signup.status).in_([SignupStatus.SIGNED, SignupStatus.WAITING]),
        )
        .order_by(col(Signup.status).desc(), col(Signup.queued_at), col(Signup.id))
    )
    lines = [RosterLine(p, s, p.id in came) for p, s in (await session.exec(query)).all()]
    listed = {line.person.id for line in lines}
    walk_ins = [pid for pid in came if pid not in listed]
    for pid in sorted(walk_ins):
        person = await session.get(Person, pid)
        if person is not None:
            lines.append(RosterLine(person, SignupStatus.SIGNED, True))
    return lines


# --- check-in ------------------------------------------------------------------------------


def _window(now: datetime) -> int:
    return int(aware(now).timestamp()) // CODE_WINDOW


def code_for(activity: Activity, window: int) -> str:
    digest = hmac.new(
        activity.secret.encode(), f"{activity.id}:{window}".encode(), hashlib.sha256
    ).digest()
    return f"{int.from_bytes(digest[:8], 'big') % 10**CODE_DIGITS:0{CODE_DIGITS}d}"


def current_code(activity: Activity, now: datetime) -> str:
    return code_for(activity, _window(now))


def code_valid_until(now: datetime) -> datetime:
    return datetime.fromtimestamp((_window(now) + 1) * CODE_WINDOW, UTC)


def code_matches(activity: Activity, code: str, now: datetime) -> bool:
    """The code of this 5-minute window, or of the last one in its first 30 s."""
    code = code.strip()
    window = _window(now)
    if hmac.compare_digest(code, code_for(activity, window)):
        return True
    since_change = int(aware(now).timestamp()) - window * CODE_WINDOW
    return since_change < CODE_GRACE and hmac.compare_digest(code, code_for(activity, window - 1))


def checkin_open(activity: Activity, now: datetime) -> bool:
    return (
        activity.status == ActivityStatus.OPEN
        and aware(activity.starts_at) - CHECKIN_EARLY
        <= now
        <= aware(activity.ends_at) + CHECKIN_LATE
    )


@dataclass(frozen=True)
class CheckedIn:
    activity: Activity
    person: Person
    points: int


async def _attend(
    session: AsyncSession,
    activity: Activity,
    person: Person,
    membership: Membership,
    way: CheckinWay,
    by: int | None,
    now: datetime,
    tz: ZoneInfo,
) -> CheckedIn:
    """Attendance once (a unique row in a savepoint), and the points entry with it."""
    attendance = Attendance(
        activity_id=activity.id or 0,
        person_id=person.id or 0,
        household_id=membership.household_id,
        grid_id=membership.grid_id,
        way=way,
        by=by,
        at=now,
    )
    if not await add_unique(session, attendance):
        raise AlreadyDone(N_("{name} is already checked in."), name=person.full_name)
    if activity.item_id is not None and activity.points:
        entry = await points.add_entry(
            session,
            village_id=activity.village_id,
            household_id=membership.household_id,
            person_id=person.id,
            item_id=activity.item_id,
            points=activity.points,
            kind=EntryKind.AWARD,
            reason=activity.title,
            now=now,
            tz=tz,
            recorded_by=by if by is not None else activity.created_by,
        )
        await session.flush()
        attendance.entry_id = entry.id
        session.add(attendance)
    audit.record(
        session,
        "activity.checkin",
        actor_id=by or person.id,
        village_id=activity.village_id,
        activity_id=activity.id,
        target_person_id=person.id,
        way=str(way),
    )
    return CheckedIn(activity, person, activity.points if activity.item_id else 0)


async def check_in_by_code(
    session: AsyncSession,
    actor: Actor | None,
    person: Person,
    code: str,
    now: datetime,
    tz: ZoneInfo,
    *,
    activity_id: int | None = None,
) -> CheckedIn:
    """A resident opened the link (`activity_id` known) or typed the code (any activity of
    their village open for check-in now)."""
    if actor is None or actor.residence is None or not actor.is_approved_resident:
        raise NotAllowed(N_("Only approved residents can check in. See /me."))
    if activity_id is not None:
        candidates = [await get_activity(session, activity_id)]
    else:
        query = select(Activity).where(
            Activity.village_id == actor.residence.village_id,
            Activity.status == ActivityStatus.OPEN,
            col(Activity.starts_at) <= now + CHECKIN_EARLY,
            col(Activity.ends_at) >= now - CHECKIN_LATE,
        )
        candidates = list((await session.exec(query)).all())
    matching = [a for a in candidates if code_matches(a, code, now)]
    if not matching:
        raise RuleError(
            N_(
                "That check-in code is not valid now. Codes change every 5 minutes: "
                "please scan the code the organiser shows now."
            )
        )
    activity = matching[0]
    if not checkin_open(activity, now):
        raise AlreadyDone(N_("Check-in for this activity is not open now."))
    tags = await tags_of(session, actor.person_id, activity.village_id)
    if not Can.in_audience(actor, activity, tags):
        raise NotAllowed(N_("This activity is for other residents; you cannot check in."))
    membership = await org.current_membership(session, actor.person_id)
    assert membership is not None
    return await _attend(session, activity, person, membership, CheckinWay.CODE, None, now, tz)


async def check_in_from_list(
    session: AsyncSession,
    actor: Actor,
    activity_id: int,
    person_id: int,
    now: datetime,
    tz: ZoneInfo,
) -> CheckedIn:
    """The organiser taps a name on the list."""
    activity = await runnable(session, actor, activity_id)
    if activity.status != ActivityStatus.OPEN:
        raise AlreadyDone(N_("This activity is closed."))
    if now < aware(activity.starts_at) - CHECKIN_EARLY:
        raise RuleError(N_("Check-in opens an hour before the start."))
    signup = await signup_of(session, activity_id, person_id)
    if signup is None or signup.status == SignupStatus.CANCELLED:
        raise NotFound(N_("That person is not on the list."))
    person = await get_or_missing(
        session, Person, person_id, N_("That person is not on the list.")
    )
    membership = await org.current_membership(session, person_id)
    if membership is None or membership.status != MembershipStatus.APPROVED:
        raise NotFound(N_("That person is not on the list."))
    return await _attend(
        session, activity, person, membership, CheckinWay.LIST, actor.person_id, now, tz
    )


# --- closing -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Summary:
    activity: Activity
    signed: int
    came: int
    points: int


async def summary(session: AsyncSession, activity_id: int) -> Summary:
    activity = await get_activity(session, activity_id)
    got = await counts(session, activity_id)
    return Summary(activity, got.signed, got.came, got.came * activity.points)


async def close_activity(
    session: AsyncSession,
    actor: Actor,
    activity_id: int,
    note: str,
    photos: list[str],
    now: datetime,
) -> Summary:
    activity = await runnable(session, actor, activity_id)
    if now < aware(activity.starts_at):
        raise RuleError(N_("The activity has not started yet; it can be closed once it has."))
    note = org.clean_text(note, NOTE_MAX, lines=True)
    await transitions.move_once(
        session,
        Activity,
        activity_id,
        ActivityStatus.OPEN,
        N_("This activity is closed."),
        status=ActivityStatus.CLOSED,
        closed_at=now,
        closed_by=actor.person_id,
        note=note,
        photos=list(photos)[:PHOTOS_MAX],
    )
    await session.refresh(activity)
    result = await summary(session, activity_id)
    audit.record(
        session,
        "activity.close",
        actor_id=actor.person_id,
        village_id=activity.village_id,
        activity_id=activity_id,
        signed=result.signed,
        came=result.came,
    )
    return result


# --- lists ---------------------------------------------------------------------------------


async def upcoming(session: AsyncSession, actor: Actor, now: datetime) -> list[Activity]:
    """Open activities of the person's village that have not ended, the ones they may join."""
    if actor.residence is None:
        villages = actor.villages()
    else:
        villages = actor.villages() | {actor.residence.village_id}
    if not villages:
        return []
    query = (
        select(Activity)
        .where(
            col(Activity.village_id).in_(villages),
            Activity.status == ActivityStatus.OPEN,
            col(Activity.ends_at) > now,
        )
        .order_by(col(Activity.starts_at))
        .limit(20)
    )
    found = list((await session.exec(query)).all())
    result = []
    for activity in found:
        tags = await tags_of(session, actor.person_id, activity.village_id)
        if Can.in_audience(actor, activity, tags) or Can.can_run(actor, activity):
            result.append(activity)
    return result


async def run_by(session: AsyncSession, actor: Actor, now: datetime) -> list[Activity]:
    """Open activities this person may run (organiser or admin)."""
    villages = await organisable_villages(session, actor)
    if not villages:
        return []
    query = (
        select(Activity)
        .where(col(Activity.village_id).in_(villages), Activity.status == ActivityStatus.OPEN)
        .order_by(col(Activity.starts_at))
        .limit(20)
    )
    return [a for a in (await session.exec(query)).all() if Can.can_run(actor, a)]


async def past(
    session: AsyncSession, village_ids: Collection[int], limit: int = 10
) -> list[Summary]:
    query = (
        select(Activity)
        .where(col(Activity.village_id).in_(village_ids), Activity.status == ActivityStatus.CLOSED)
        .order_by(col(Activity.closed_at).desc())
        .limit(limit)
    )
    return [await summary(session, a.id or 0) for a in (await session.exec(query)).all()]


async def between(
    session: AsyncSession, village_id: int, start: datetime, end: datetime
) -> list[Activity]:
    query = select(Activity).where(
        Activity.village_id == village_id,
        col(Activity.starts_at) >= start,
        col(Activity.starts_at) < end,
    )
    return list((await session.exec(query.order_by(col(Activity.starts_at)))).all())


@dataclass(frozen=True)
class GridAttendance:
    grid: str
    activities: int
    came: int


async def attendance_by_grid(
    session: AsyncSession, village_id: int, start: datetime, end: datetime
) -> list[GridAttendance]:
    """Per grid: activities held for it (or the whole village) and residents who came."""
    grids = await org.grids_of(session, village_id)
    held = await between(session, village_id, start, end)
    held = [a for a in held if a.status != ActivityStatus.CANCELLED]
    came: dict[int, int] = defaultdict(int)
    ids = [a.id for a in held]
    if ids:
        query = (
            select(Attendance.grid_id, func.count())
            .where(col(Attendance.activity_id).in_(ids))
            .group_by(col(Attendance.grid_id))
        )
        came.update(dict((await session.exec(query)).all()))
    rows = []
    for grid in grids:
        mine = sum(
            1 for a in held if a.audience != Audience.GRIDS or grid.id in (a.grid_ids or [])
        )
        rows.append(GridAttendance(grid.name, mine, came.get(grid.id or 0, 0)))
    return rows


async def attendance_rows(
    session: AsyncSession, activity_id: int
) -> list[tuple[Attendance, str, str]]:
    query = (
        select(Attendance, Person.full_name, Grid.name)
        .join(Person, col(Person.id) == col(Attendance.person_id))
        .join(Grid, col(Grid.id) == col(Attendance.grid_id))
        .where(Attendance.activity_id == activity_id)
        .order_by(col(Attendance.at), col(Attendance.id))
    )
    return [(a, p, g) for a, p, g in (await session.exec(query)).all()]


# --- cards and reminders -------------------------------------------------------------------


async def post_cards(
    session: AsyncSession, activity: Activity, text: str, markup: dict, shown: str, now: datetime
) -> int:
    """The card in every bound group of the village (or of its grids), through the outbox."""
    chats = await org.bound_chats(session, activity.village_id)
    if activity.audience == Audience.GRIDS:
        wanted = set(activity.grid_ids or [])
        chats = [c for c in chats if c.grid_id is None or c.grid_id in wanted]
    for chat in chats:
        message = outbox.enqueue(session, chat.chat_id, text, reply_markup=markup)
        await session.flush()
        session.add(
            ActivityCard(
                activity_id=activity.id or 0,
                chat_id=chat.chat_id,
                outbox_id=message.id or 0,
                shown=shown,
                edited_at=now,
            )
        )
    await session.flush()
    return len(chats)


async def cards_of(
    session: AsyncSession, activity_id: int
) -> list[tuple[ActivityCard, int | None]]:
    query = (
        select(ActivityCard, OutboxMessage.message_id)
        .join(OutboxMessage, col(OutboxMessage.id) == col(ActivityCard.outbox_id))
        .where(ActivityCard.activity_id == activity_id)
        .order_by(col(ActivityCard.id))
    )
    return [(c, m) for c, m in (await session.exec(query)).all()]


async def claim_card_edit(
    session: AsyncSession, card: ActivityCard, shown: str, now: datetime
) -> bool:
    """The right to edit a card to show `shown` (once, however many updates race)."""
    if card.shown == shown:
        return False
    changed = await session.exec(  # type: ignore[call-overload]
        update(ActivityCard)
        .where(col(ActivityCard.id) == card.id, col(ActivityCard.shown) == card.shown)
        .values(shown=shown, edited_at=now)
    )
    return bool(changed.rowcount)


async def due_to_remind(session: AsyncSession, now: datetime) -> list[Activity]:
    query = select(Activity).where(
        Activity.status == ActivityStatus.OPEN,
        col(Activity.reminded_at).is_(None),
        col(Activity.starts_at) > now,
        col(Activity.starts_at) <= now + REMIND_BEFORE,
    )
    return list((await session.exec(query.order_by(col(Activity.starts_at)))).all())


async def mark_reminded(session: AsyncSession, activity: Activity, now: datetime) -> bool:
    changed = await session.exec(  # type: ignore[call-overload]
        update(Activity)
        .where(col(Activity.id) == activity.id, col(Activity.reminded_at).is_(None))
        .values(reminded_at=now)
    )
    return bool(changed.rowcount)
