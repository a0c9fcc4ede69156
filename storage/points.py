"""Points rules (积分制): the catalogue, claims and their review, the ledger, appeals, rewards
and the closing of years.

Approved points are append-only `PointEntry` rows; every total, rank and history is a sum over
them. A claim is approved once (a conditional update, and a unique `claim_id` on the ledger);
an entry is corrected once (a unique `corrects_id`); caps are counted under a lock on the
claimant's row (SQLite: the whole transaction is BEGIN IMMEDIATE).
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import audit, org, periods, transitions, voice
from storage.db import add_unique, get_or_missing
from storage.errors import N_, AlreadyDone, NotAllowed, NotFound, RuleError
from storage.models.behalf import OnBehalf
from storage.models.org import Grid, Household, Membership, MembershipStatus, Person, Role, Village
from storage.models.org import RoleAssignment as Assignment
from storage.models.points import (
    AppealStatus,
    CapPeriod,
    ClaimStatus,
    EntryKind,
    ItemStatus,
    PointAppeal,
    PointClaim,
    PointEntry,
    PointItem,
    PointsSettings,
    PointsYear,
    RewardGrant,
    RewardStatus,
    RewardTier,
)
from storage.models.voice import VoiceOf
from storage.permissions.org import Actor
from storage.permissions.points import PointsPermissions as Can

CATALOGUE_FILE = Path(__file__).resolve().parent.parent / "data_files" / "points_catalogue.json"
NOTE_MAX = 300
REASON_MAX = 200
ITEM_NAME_MAX = 40
REWARD_MAX = 40
POINTS_LIMIT = 100  # an item is worth at most ±100
UNCATEGORISED = "other"


# --- the catalogue -------------------------------------------------------------------------


@cache
def default_catalogue() -> dict[str, Any]:
    """The shipped catalogue file: categories and at least 20 items."""
    return json.loads(CATALOGUE_FILE.read_text(encoding="utf-8"))


def categories() -> list[dict[str, str]]:
    return list(default_catalogue()["categories"])


def category_names() -> dict[str, tuple[str, str]]:
    """Category code → (Chinese name, English name)."""
    return {c["code"]: (c["name"], c["name_en"]) for c in categories()}


async def ensure_catalogue(session: AsyncSession, village_id: int) -> None:
    """Give a village the default catalogue the first time it is needed."""
    exists = await session.exec(select(PointItem.id).where(PointItem.village_id == village_id))
    if exists.first() is not None:
        return
    try:
        async with session.begin_nested():
            for raw in default_catalogue()["items"]:
                cap = raw.get("cap") or {}
                session.add(
                    PointItem(
                        village_id=village_id,
                        code=raw["code"],
                        category=raw["category"],
                        name=raw["name"],
                        name_en=raw["name_en"],
                        points=int(raw["points"]),
                        evidence_required=bool(raw.get("evidence")),
                        cap_count=cap.get("count"),
                        cap_period=CapPeriod(cap["per"]) if cap else None,
                    )
                )
    except IntegrityError:  # another update seeded it at the same moment
        return


async def catalogue(
    session: AsyncSession,
    village_id: int,
    *,
    category: str | None = None,
    active: bool = True,
    claimable: bool = False,
) -> list[PointItem]:
    """The village's items; `claimable`: only those a resident may claim (no deductions:
    those are recorded by the points group with /award)."""
    await ensure_catalogue(session, village_id)
    query = select(PointItem).where(PointItem.village_id == village_id)
    if claimable:
        query = query.where(PointItem.points > 0)
    if category is not None:
        query = query.where(PointItem.category == category)
    if active:
        query = query.where(PointItem.status == ItemStatus.ACTIVE)
    return list((await session.exec(query.order_by(col(PointItem.code)))).all())


async def get_item(session: AsyncSession, item_id: int) -> PointItem:
    return await get_or_missing(
        session, PointItem, item_id, N_("That item is not in the catalogue.")
    )


def check_points(value: int | str) -> int:
    try:
        points = int(str(value).strip().replace("＋", "+").replace("－", "-"))
    except ValueError:
        raise RuleError(N_("Please send a whole number, for example 3 or -2.")) from None
    if points == 0 or abs(points) > POINTS_LIMIT:
        raise RuleError(N_("Points must be between -{limit} and {limit}, not 0."), limit=100)
    return points


async def add_item(
    session: AsyncSession,
    actor: Actor,
    village_id: int,
    *,
    category: str,
    name: str,
    points: int,
    evidence: bool,
    cap_count: int | None,
    cap_period: CapPeriod | None,
    now: datetime,
) -> PointItem:
    if not Can.can_manage(actor, village_id):
        raise NotAllowed(N_("Only village admins can change the points catalogue."))
    await ensure_catalogue(session, village_id)
    name = org.require_text(name, ITEM_NAME_MAX)
    points = check_points(points)
    if category not in category_names():
        category = UNCATEGORISED
    count = (
        await session.exec(
            select(func.count()).select_from(PointItem).where(PointItem.village_id == village_id)
        )
    ).one()
    item = PointItem(
        village_id=village_id,
        code=f"X{count + 1:02d}",
        category=category,
        name=name,
        name_en=name,
        points=points,
        evidence_required=evidence,
        cap_count=cap_count if cap_period else None,
        cap_period=cap_period if cap_count else None,
        created_at=now,
    )
    session.add(item)
    await session.flush()
    audit.record(
        session,
        "points.item.add",
        actor_id=actor.person_id,
        village_id=village_id,
        item_id=item.id,
        name=name,
        points=points,
    )
    return item


async def change_item_points(
    session: AsyncSession, actor: Actor, item_id: int, points: int | str, now: datetime
) -> PointItem:
    """New claims use the new value; entries already made keep theirs."""
    item = await get_item(session, item_id)
    if not Can.can_manage(actor, item.village_id):
        raise NotAllowed(N_("Only village admins can change the points catalogue."))
    if item.status != ItemStatus.ACTIVE:
        raise AlreadyDone(N_("That item is retired."))
    old, item.points, item.changed_at = item.points, check_points(points), now
    session.add(item)
    audit.record(
        session,
        "points.item.change",
        actor_id=actor.person_id,
        village_id=item.village_id,
        item_id=item.id,
        old=old,
        new=item.points,
    )
    await session.flush()
    return item


async def retire_item(
    session: AsyncSession, actor: Actor, item_id: int, now: datetime
) -> PointItem:
    """No new claims or awards for it; its history stays."""
    item = await get_item(session, item_id)
    if not Can.can_manage(actor, item.village_id):
        raise NotAllowed(N_("Only village admins can change the points catalogue."))
    changed = await session.exec(  # type: ignore[call-overload]
        update(PointItem)
        .where(col(PointItem.id) == item_id, col(PointItem.status) == ItemStatus.ACTIVE)
        .values(status=ItemStatus.RETIRED, retired_at=now)
    )
    if not changed.rowcount:
        raise AlreadyDone(N_("That item is retired."))
    audit.record(
        session,
        "points.item.retire",
        actor_id=actor.person_id,
        village_id=item.village_id,
        item_id=item_id,
    )
    await session.refresh(item)
    return item


# --- claims --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClaimView:
    claim: PointClaim
    item: PointItem
    person: Person
    household: Household
    filer: Person | None = None  # the cadre who filed it for the person (代报), if one did

    def may_decide(self, actor: Actor) -> bool:
        claim = self.claim
        filed_by = self.filer.id if self.filer else None
        return Can.can_decide_claim(
            actor, claim.village_id, claim.person_id, claim.household_id, filed_by
        )


def filed_by(person_id: int) -> Any:
    """The claims this person filed for someone else (代报)."""
    return select(OnBehalf.object_id).where(
        OnBehalf.kind == "claim", OnBehalf.filed_by == person_id
    )


async def claim_view(session: AsyncSession, claim_id: int) -> ClaimView:
    query = (
        select(PointClaim, PointItem, Person, Household)
        .join(PointItem, col(PointItem.id) == col(PointClaim.item_id))
        .join(Person, col(Person.id) == col(PointClaim.person_id))
        .join(Household, col(Household.id) == col(PointClaim.household_id))
        .where(PointClaim.id == claim_id)
    )
    row = (await session.exec(query)).first()
    if row is None:
        raise NotFound(N_("That claim no longer exists."))
    filer = (
        await session.exec(
            select(Person)
            .join(OnBehalf, col(OnBehalf.filed_by) == col(Person.id))
            .where(OnBehalf.kind == "claim", OnBehalf.object_id == claim_id)
        )
    ).first()
    return ClaimView(*row, filer=filer)


def cap_window(item: PointItem, moment: datetime, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The week or month (local) holding `moment`, for counting against the item's cap."""
    day = moment.astimezone(tz).date()
    kind: periods.Kind = "weekly" if item.cap_period == CapPeriod.WEEK else "monthly"
    return periods.bounds(kind, periods.key_of(kind, day), tz)


async def lock_person(session: AsyncSession, person_id: int) -> None:
    """Serialise a person's claims (PostgreSQL row lock; SQLite is already serial)."""
    await session.exec(select(Person.id).where(Person.id == person_id).with_for_update())


async def count_toward_cap(
    session: AsyncSession,
    item: PointItem,
    person_id: int,
    moment: datetime,
    tz: ZoneInfo,
    statuses: tuple[ClaimStatus, ...],
    *,
    exclude: int | None = None,
) -> int:
    start, end = cap_window(item, moment, tz)
    query = (
        select(func.count())
        .select_from(PointClaim)
        .where(
            PointClaim.person_id == person_id,
            PointClaim.item_id == item.id,
            col(PointClaim.status).in_(statuses),
            col(PointClaim.claimed_at) >= start,
            col(PointClaim.claimed_at) < end,
        )
    )
    if exclude is not None:
        query = query.where(col(PointClaim.id) != exclude)
    return (await session.exec(query)).one()


def cap_error(item: PointItem) -> RuleError:
    if item.cap_period == CapPeriod.WEEK:
        return RuleError(
            N_("This item counts at most {count} times a week; that is reached."),
            count=item.cap_count,
        )
    return RuleError(
        N_("This item counts at most {count} times a month; that is reached."),
        count=item.cap_count,
    )


async def make_claim(
    session: AsyncSession,
    actor: Actor,
    item_id: int,
    *,
    note: str | None,
    photo_file_id: str | None,
    now: datetime,
    tz: ZoneInfo,
    spoken: voice.Voice | None = None,
) -> PointClaim:
    """A resident declares points for an item; the claim waits for the points group. With
    `spoken`, the note is a voice note (the reviewer hears it with the card)."""
    item = await get_item(session, item_id)
    if not Can.can_claim(actor, item.village_id) or actor.residence is None:
        raise NotAllowed(N_("Only approved residents of this village can claim points."))
    if item.status != ItemStatus.ACTIVE:
        raise NotFound(N_("That item is no longer in the catalogue."))
    if item.points <= 0:
        raise NotAllowed(
            N_("Deductions are recorded by the points group, not claimed. Pick a good deed.")
        )
    await check_tenant_earns(session, actor)
    note = org.clean_text(note, NOTE_MAX)
    if spoken is not None and not note:
        note = spoken.transcript or "🎤 " + voice.length(spoken.duration)
    if item.evidence_required and not (note or photo_file_id):
        raise RuleError(N_("This item needs evidence: a photo or a note."))
    await lock_person(session, actor.person_id)
    if item.cap_count:
        used = await count_toward_cap(
            session,
            item,
            actor.person_id,
            now,
            tz,
            (ClaimStatus.PENDING, ClaimStatus.APPROVED),
        )
        if used >= item.cap_count:
            raise cap_error(item)
    claim = PointClaim(
        village_id=item.village_id,
        person_id=actor.person_id,
        household_id=actor.residence.household_id,
        item_id=item_id,
        points=item.points,
        note=note,
        photo_file_id=photo_file_id,
        claimed_at=now,
    )
    session.add(claim)
    await session.flush()
    if spoken is not None:
        voice.keep(session, VoiceOf.CLAIM, claim.id or 0, spoken, actor.person_id)
    audit.record(
        session,
        "points.claim",
        actor_id=actor.person_id,
        village_id=item.village_id,
        claim_id=claim.id,
        item=item.code,
        points=item.points,
    )
    return claim


async def retract_claim(
    session: AsyncSession, actor: Actor, claim_id: int, now: datetime
) -> PointClaim:
    view = await claim_view(session, claim_id)
    if not Can.can_retract(actor, view.claim.person_id):
        raise NotAllowed(N_("Only the person who made a claim can retract it."))
    await change_claim(session, claim_id, ClaimStatus.RETRACTED, retracted_at=now, decided_at=now)
    audit.record(
        session,
        "points.claim.retract",
        actor_id=actor.person_id,
        village_id=view.claim.village_id,
        claim_id=claim_id,
    )
    await session.refresh(view.claim)
    return view.claim


async def change_claim(
    session: AsyncSession, claim_id: int, status: ClaimStatus, **values: Any
) -> None:
    """pending → `status`, once: a second press (or a second reviewer) finds it decided."""
    await transitions.move_once(
        session,
        PointClaim,
        claim_id,
        ClaimStatus.PENDING,
        N_("This claim has already been decided."),
        status=status,
        **values,
    )


async def claims_of(session: AsyncSession, person_id: int, limit: int = 15) -> list[ClaimView]:
    query = (
        select(PointClaim.id)
        .where(PointClaim.person_id == person_id)
        .order_by(col(PointClaim.id).desc())
        .limit(limit)
    )
    return [await claim_view(session, i) for i in (await session.exec(query)).all()]


def pending_claims_query(village_ids: set[int]) -> Any:
    return (
        select(PointClaim.id)
        .where(
            col(PointClaim.village_id).in_(village_ids),
            PointClaim.status == ClaimStatus.PENDING,
        )
        .order_by(col(PointClaim.claimed_at), col(PointClaim.id))
    )


async def next_for_review(
    session: AsyncSession, actor: Actor, skipped: list[int] | None = None
) -> ClaimView | None:
    """The oldest pending claim this reviewer may decide, past those they skipped."""
    villages = actor.reviewer_villages()
    if not villages:
        raise NotAllowed(N_("Only members of the points group can review claims."))
    query = pending_claims_query(villages).where(
        col(PointClaim.person_id) != actor.person_id,
        col(PointClaim.id).not_in(filed_by(actor.person_id)),
    )
    if actor.is_approved_resident and actor.residence:
        query = query.where(col(PointClaim.household_id) != actor.residence.household_id)
    if skipped:
        query = query.where(col(PointClaim.id).not_in(skipped))
    claim_id = (await session.exec(query.limit(1))).first()
    return await claim_view(session, claim_id) if claim_id else None


async def count_pending(session: AsyncSession, village_id: int) -> int:
    query = (
        select(func.count())
        .select_from(PointClaim)
        .where(PointClaim.village_id == village_id, PointClaim.status == ClaimStatus.PENDING)
    )
    return (await session.exec(query)).one()


async def approve_claim(
    session: AsyncSession, actor: Actor, claim_id: int, now: datetime, tz: ZoneInfo
) -> tuple[ClaimView, PointEntry]:
    view = await claim_view(session, claim_id)
    claim = view.claim
    if not view.may_decide(actor):
        raise NotAllowed(
            N_("You cannot decide this claim: it is yours or your household's, or you filed it.")
        )
    await lock_person(session, claim.person_id)
    if claim.status != ClaimStatus.PENDING:
        raise AlreadyDone(N_("This claim has already been decided."))
    if view.item.cap_count:
        used = await count_toward_cap(
            session,
            view.item,
            claim.person_id,
            claim.claimed_at,
            tz,
            (ClaimStatus.APPROVED,),
            exclude=claim_id,
        )
        if used >= view.item.cap_count:
            raise cap_error(view.item)
    await change_claim(
        session, claim_id, ClaimStatus.APPROVED, decided_at=now, decided_by=actor.person_id
    )
    entry = await add_entry(
        session,
        village_id=claim.village_id,
        household_id=claim.household_id,
        person_id=claim.person_id,
        item_id=claim.item_id,
        points=claim.points,
        kind=EntryKind.CLAIM,
        reason=view.item.name,
        now=now,
        tz=tz,
        recorded_by=actor.person_id,
        claim_id=claim_id,
    )
    audit.record(
        session,
        "points.claim.approve",
        actor_id=actor.person_id,
        village_id=claim.village_id,
        target_person_id=claim.person_id,
        claim_id=claim_id,
        entry_id=entry.id,
    )
    await session.refresh(claim)
    return view, entry


async def reject_claim(
    session: AsyncSession, actor: Actor, claim_id: int, reason: str, now: datetime
) -> ClaimView:
    view = await claim_view(session, claim_id)
    claim = view.claim
    if not view.may_decide(actor):
        raise NotAllowed(
            N_("You cannot decide this claim: it is yours or your household's, or you filed it.")
        )
    reason = org.require_text(reason, REASON_MAX)
    await change_claim(
        session,
        claim_id,
        ClaimStatus.REJECTED,
        decided_at=now,
        decided_by=actor.person_id,
        reason=reason,
    )
    audit.record(
        session,
        "points.claim.reject",
        actor_id=actor.person_id,
        village_id=claim.village_id,
        target_person_id=claim.person_id,
        claim_id=claim_id,
        reason=reason,
    )
    await session.refresh(claim)
    return view


# --- the ledger ----------------------------------------------------------------------------


async def add_entry(
    session: AsyncSession,
    *,
    village_id: int,
    household_id: int,
    person_id: int | None,
    item_id: int | None,
    points: int,
    kind: EntryKind,
    reason: str,
    now: datetime,
    tz: ZoneInfo,
    recorded_by: int | None,
    claim_id: int | None = None,
    corrects_id: int | None = None,
) -> PointEntry:
    """Append one entry; the unique claim/correction columns make a repeat fail."""
    household = await get_or_missing(
        session, Household, household_id, N_("That household no longer exists.")
    )
    entry = PointEntry(
        village_id=village_id,
        grid_id=household.grid_id,
        household_id=household_id,
        person_id=person_id,
        item_id=item_id,
        points=points,
        kind=kind,
        reason=reason,
        year=now.astimezone(tz).year,
        at=now,
        recorded_by=recorded_by,
        claim_id=claim_id,
        corrects_id=corrects_id,
    )
    if not await add_unique(session, entry):
        raise AlreadyDone(N_("These points are already recorded."))
    return entry


async def award(
    session: AsyncSession,
    actor: Actor,
    *,
    household_id: int,
    person_id: int | None,
    item_id: int,
    reason: str,
    now: datetime,
    tz: ZoneInfo,
) -> PointEntry:
    """A reviewer records points directly (positive, or a deduction under the village rules)."""
    item = await get_item(session, item_id)
    household = await session.get(Household, household_id)
    grid = await session.get(Grid, household.grid_id) if household else None
    if household is None or grid is None or grid.village_id != item.village_id:
        raise NotFound(N_("That household no longer exists."))
    if not Can.can_award(actor, item.village_id, household_id):
        raise NotAllowed(
            N_("Only the points group can record points, and not for their own household.")
        )
    if item.status != ItemStatus.ACTIVE:
        raise NotFound(N_("That item is no longer in the catalogue."))
    if person_id is not None and person_id not in {
        p.id for p in await household_members(session, household_id)
    }:
        raise NotFound(N_("That person is not in this household."))
    reason = org.require_text(reason, REASON_MAX)
    entry = await add_entry(
        session,
        village_id=item.village_id,
        household_id=household_id,
        person_id=person_id,
        item_id=item_id,
        points=item.points,
        kind=EntryKind.AWARD,
        reason=reason,
        now=now,
        tz=tz,
        recorded_by=actor.person_id,
    )
    audit.record(
        session,
        "points.award",
        actor_id=actor.person_id,
        village_id=item.village_id,
        target_person_id=person_id,
        entry_id=entry.id,
        household_id=household_id,
        points=item.points,
    )
    return entry


async def household_members(session: AsyncSession, household_id: int) -> list[Person]:
    """The approved residents of a household now."""
    query = (
        select(Person)
        .join(Membership, col(Membership.person_id) == col(Person.id))
        .where(
            Membership.household_id == household_id,
            Membership.status == MembershipStatus.APPROVED,
        )
        .order_by(col(Person.id))
    )
    return list((await session.exec(query)).all())


async def household_in_village(
    session: AsyncSession, village_id: int, household_id: int
) -> Household:
    household = await session.get(Household, household_id)
    grid = await session.get(Grid, household.grid_id) if household else None
    if household is None or grid is None or grid.village_id != village_id:
        raise NotFound(N_("That household no longer exists."))
    return household


async def household_label(session: AsyncSession, household_id: int) -> str:
    household = await session.get(Household, household_id)
    return household.label if household else "?"


async def get_entry(session: AsyncSession, entry_id: int) -> PointEntry:
    return await get_or_missing(session, PointEntry, entry_id, N_("Those points no longer exist."))


# --- appeals -------------------------------------------------------------------------------


async def appealable(session: AsyncSession, actor: Actor, entry_id: int) -> PointEntry:
    """The entry, if the actor may still appeal it (a deduction of theirs, not yet appealed)."""
    entry = await get_entry(session, entry_id)
    if not Can.can_appeal(actor, entry):
        raise NotAllowed(N_("Only the household concerned can appeal a deduction."))
    taken = await session.exec(select(PointAppeal.id).where(PointAppeal.entry_id == entry_id))
    if taken.first() is not None:
        raise AlreadyDone(N_("This deduction has already been appealed."))
    return entry


async def appeal(
    session: AsyncSession, actor: Actor, entry_id: int, text: str, now: datetime
) -> PointAppeal:
    """Appeal a negative entry, once; the other reviewers decide."""
    entry = await appealable(session, actor, entry_id)
    text = org.require_text(text, REASON_MAX)
    item = PointAppeal(
        entry_id=entry_id,
        village_id=entry.village_id,
        person_id=actor.person_id,
        text=text,
        created_at=now,
    )
    if not await add_unique(session, item):
        raise AlreadyDone(N_("This deduction has already been appealed."))
    audit.record(
        session,
        "points.appeal",
        actor_id=actor.person_id,
        village_id=entry.village_id,
        entry_id=entry_id,
        appeal_id=item.id,
    )
    return item


async def appeal_reviewers(session: AsyncSession, appeal_item: PointAppeal) -> list[Person]:
    """The village's reviewers, but not who recorded the entry nor its household."""
    entry = await get_entry(session, appeal_item.entry_id)
    reviewers = await village_role_holders(session, appeal_item.village_id, Role.REVIEWER)
    result = []
    for person in reviewers:
        if person.id == entry.recorded_by or person.household_id == entry.household_id:
            continue
        result.append(person)
    return result


async def village_role_holders(session: AsyncSession, village_id: int, role: Role) -> list[Person]:
    query = (
        select(Person)
        .join(Assignment, col(Assignment.person_id) == col(Person.id))
        .where(
            Assignment.village_id == village_id,
            Assignment.role == role,
            col(Assignment.revoked_at).is_(None),
        )
        .distinct()
        .order_by(col(Person.id))
    )
    return list((await session.exec(query)).all())


async def decide_appeal(
    session: AsyncSession,
    actor: Actor,
    appeal_id: int,
    *,
    uphold: bool,
    now: datetime,
    tz: ZoneInfo,
) -> tuple[PointAppeal, PointEntry, PointEntry | None]:
    """Uphold (a correction entry cancels the deduction) or dismiss, once."""
    item = await get_or_missing(
        session, PointAppeal, appeal_id, N_("That appeal no longer exists.")
    )
    entry = await get_entry(session, item.entry_id)
    if not Can.can_decide_appeal(actor, item.village_id, entry.recorded_by, entry.household_id):
        raise NotAllowed(
            N_("Another member of the points group must decide: not who recorded it.")
        )
    status = AppealStatus.UPHELD if uphold else AppealStatus.DISMISSED
    await transitions.move_once(
        session,
        PointAppeal,
        appeal_id,
        AppealStatus.PENDING,
        N_("This appeal has already been decided."),
        status=status,
        decided_at=now,
        decided_by=actor.person_id,
    )
    correction = None
    if uphold:
        correction = await add_entry(
            session,
            village_id=entry.village_id,
            household_id=entry.household_id,
            person_id=entry.person_id,
            item_id=entry.item_id,
            points=-entry.points,
            kind=EntryKind.CORRECTION,
            reason=f"appeal #{appeal_id} upheld: corrects entry #{entry.id}",
            now=now,
            tz=tz,
            recorded_by=actor.person_id,
            corrects_id=entry.id,
        )
    audit.record(
        session,
        "points.appeal.uphold" if uphold else "points.appeal.dismiss",
        actor_id=actor.person_id,
        village_id=item.village_id,
        appeal_id=appeal_id,
        entry_id=entry.id,
        correction_id=correction.id if correction else None,
    )
    await session.refresh(item)
    return item, entry, correction


# --- balances and ranks --------------------------------------------------------------------

PERIOD_KINDS: tuple[periods.Kind, ...] = ("weekly", "monthly", "quarterly", "yearly")


async def sum_points(
    session: AsyncSession,
    start: datetime,
    end: datetime,
    *,
    person_id: int | None = None,
    household_id: int | None = None,
) -> int:
    query = select(func.coalesce(func.sum(PointEntry.points), 0)).where(
        col(PointEntry.at) >= start, col(PointEntry.at) < end
    )
    if person_id is not None:
        query = query.where(PointEntry.person_id == person_id)
    if household_id is not None:
        query = query.where(PointEntry.household_id == household_id)
    return int((await session.exec(query)).one())


async def totals(
    session: AsyncSession,
    now: datetime,
    tz: ZoneInfo,
    *,
    person_id: int | None = None,
    household_id: int | None = None,
) -> dict[str, int]:
    """Points this week, month, quarter and year (local), for a person or a household."""
    day = now.astimezone(tz).date()
    result = {}
    for kind in PERIOD_KINDS:
        start, end = periods.bounds(kind, periods.key_of(kind, day), tz)
        result[kind] = await sum_points(
            session, start, end, person_id=person_id, household_id=household_id
        )
    return result


@dataclass(frozen=True)
class EntryView:
    entry: PointEntry
    household: str
    grid: str
    person: str


async def entry_views(session: AsyncSession, query: Any) -> list[EntryView]:
    full = (
        select(PointEntry, Household.label, Grid.name, Person.full_name)
        .join(Household, col(Household.id) == col(PointEntry.household_id))
        .join(Grid, col(Grid.id) == col(PointEntry.grid_id))
        .outerjoin(Person, col(Person.id) == col(PointEntry.person_id))
        .where(col(PointEntry.id).in_(query))
        .order_by(col(PointEntry.at), col(PointEntry.id))
    )
    return [EntryView(e, h, g, p or "") for e, h, g, p in (await session.exec(full)).all()]


async def recent_entries(
    session: AsyncSession, *, person_id: int, household_id: int | None, limit: int = 8
) -> list[EntryView]:
    who = col(PointEntry.person_id) == person_id
    if household_id is not None:
        who = who | (col(PointEntry.household_id) == household_id)
    ids = select(PointEntry.id).where(who).order_by(col(PointEntry.id).desc()).limit(limit)
    views = await entry_views(session, ids)
    return list(reversed(views))


async def entries_between(
    session: AsyncSession, village_id: int, start: datetime, end: datetime
) -> list[EntryView]:
    ids = select(PointEntry.id).where(
        PointEntry.village_id == village_id,
        col(PointEntry.at) >= start,
        col(PointEntry.at) < end,
    )
    return await entry_views(session, ids)


@dataclass(frozen=True)
class Ranked:
    rank: int
    household_id: int
    grid_id: int
    points: int
    label: str = ""
    grid: str = ""
    head: str = ""  # the household head's name (户主), when known


async def household_sums(
    session: AsyncSession,
    village_id: int,
    start: datetime,
    end: datetime,
    *,
    grid_id: int | None = None,
) -> list[tuple[int, int, int]]:
    """(household, grid, points) of one village and period, best first: one GROUP BY."""
    total = func.sum(PointEntry.points)
    query = (
        select(PointEntry.household_id, PointEntry.grid_id, total)
        .where(
            PointEntry.village_id == village_id,
            col(PointEntry.at) >= start,
            col(PointEntry.at) < end,
        )
        .group_by(col(PointEntry.household_id), col(PointEntry.grid_id))
        .order_by(total.desc(), col(PointEntry.household_id))
    )
    if grid_id is not None:
        query = query.where(PointEntry.grid_id == grid_id)
    return [(h, g, int(p)) for h, g, p in (await session.exec(query)).all()]


def rank(rows: list[tuple[int, int, int]]) -> list[Ranked]:
    """Competition ranking (1, 2, 2, 4) of households by their points, best first.

    A household that moved grid in the period counts where each entry was made; it is ranked
    once, by its total, under the grid of its latest entries.
    """
    merged: dict[int, list[int]] = {}
    for household, grid, points in rows:
        if household in merged:
            merged[household][1] += points
        else:
            merged[household] = [grid, points]
    ordered = sorted(merged.items(), key=lambda kv: (-kv[1][1], kv[0]))
    ranked: list[Ranked] = []
    for index, (household, (grid, points)) in enumerate(ordered):
        position = ranked[-1].rank if ranked and ranked[-1].points == points else index + 1
        ranked.append(Ranked(position, household, grid, points))
    return ranked


def top_ranked(best: list[tuple[int, int, int]]) -> list[Ranked]:
    """Competition-ranked `Ranked` from a heap of a village's best (points, -household, grid)."""
    ranked: list[Ranked] = []
    for index, (points, negative, grid) in enumerate(sorted(best, reverse=True)):
        position = ranked[-1].rank if ranked and ranked[-1].points == points else index + 1
        ranked.append(Ranked(position, -negative, grid, points))
    return ranked


async def label(session: AsyncSession, ranked: list[Ranked]) -> list[Ranked]:
    """Fill in household labels and grid names (one query each)."""
    if not ranked:
        return []
    households = {
        h.id: h
        for h in (
            await session.exec(
                select(Household).where(col(Household.id).in_([r.household_id for r in ranked]))
            )
        ).all()
    }
    grids = {
        g.id: g.name
        for g in (
            await session.exec(select(Grid).where(col(Grid.id).in_({r.grid_id for r in ranked})))
        ).all()
    }
    return [
        Ranked(
            r.rank,
            r.household_id,
            r.grid_id,
            r.points,
            households[r.household_id].label if r.household_id in households else "?",
            grids.get(r.grid_id, "?"),
            (households[r.household_id].head_name or "") if r.household_id in households else "",
        )
        for r in ranked
    ]


async def leaderboard(
    session: AsyncSession,
    village_id: int,
    now: datetime,
    tz: ZoneInfo,
    *,
    grid_id: int | None = None,
    top: int = 10,
) -> list[Ranked]:
    """This month's households, best first (the storage query behind /leaderboard)."""
    start, end = periods.month_bounds(periods.month_key(now.astimezone(tz).date()), tz)
    ranked = rank(await household_sums(session, village_id, start, end, grid_id=grid_id))
    return await label(session, ranked[:top])


@dataclass(frozen=True)
class GridScore:
    rank: int
    grid_id: int
    name: str
    points: int
    households: int

    @property
    def average(self) -> float:
        return self.points / self.households if self.households else 0.0


class Exposed(NamedTuple):
    """A deduction on the exposure list (反向曝光)."""

    village_id: int
    at: datetime
    household: str
    grid: str
    reason: str
    points: int


@dataclass(frozen=True)
class PraiseList:
    """A village's month: the praise list, the grid ranking and the exposure list."""

    village_id: int
    village: str
    month: str
    top: list[Ranked]
    grids: list[GridScore]
    exposure: list[Exposed]
    entries: int
    total: int


async def praise_list(
    session: AsyncSession,
    village_id: int,
    month: str,
    tz: ZoneInfo,
    *,
    top: int = 10,
    exposure_limit: int = 40,
) -> PraiseList:
    """One village's month: top households, grid ranking, exposure list."""
    lists = await praise_lists(
        session, month, tz, village_ids=[village_id], top=top, exposure_limit=exposure_limit
    )
    if village_id not in lists:
        raise NotFound(N_("That village no longer exists."))
    return lists[village_id]


async def praise_lists(
    session: AsyncSession,
    month: str,
    tz: ZoneInfo,
    *,
    village_ids: list[int] | None = None,
    top: int = 10,
    exposure_limit: int = 40,
    exposure_for: Collection[int] | None = None,
) -> dict[int, PraiseList]:
    """Every village's (or the given villages') month in five queries, whatever their number.

    Top households have a positive total; grids rank by average points per active household;
    the exposure list is the month's negative entries not withdrawn on appeal, newest first,
    built only for the villages in `exposure_for` (all when None; none when empty).
    """
    start, end = periods.month_bounds(month, tz)
    connection = await session.connection()  # plain rows, not ORM objects
    villages_query = select(Village.id, Village.name)
    grid_query = select(Grid.id, Grid.name)
    in_month = [col(PointEntry.at) >= start, col(PointEntry.at) < end]
    if village_ids is not None:
        villages_query = villages_query.where(col(Village.id).in_(village_ids))
        grid_query = grid_query.where(col(Grid.village_id).in_(village_ids))
        in_month.append(col(PointEntry.village_id).in_(village_ids))
    villages = dict((await connection.execute(villages_query)).all())
    # One pass over the households' sums (a household counts under the highest grid it
    # was recorded in that month): per village, grid → [points, households], and a heap of
    # the best `top` households with a positive total as (points, -household, grid). Few
    # objects survive the pass: a district has tens of thousands of households.
    months: dict[int, tuple[dict[int, list[int]], list[tuple[int, int, int]]]] = {}
    sums = await connection.execute(
        select(
            PointEntry.village_id,
            PointEntry.household_id,
            func.max(PointEntry.grid_id),
            func.sum(PointEntry.points),
        )
        .where(*in_month)
        .group_by(col(PointEntry.village_id), col(PointEntry.household_id))
    )
    rows = sums.all()  # at once: row by row, the fetching costs more than the sums
    heappush, heapreplace = heapq.heappush, heapq.heapreplace
    current = None  # SQLite returns a village's households together; PostgreSQL need not
    for village_id, household, grid, points in rows:
        if village_id != current:
            found = months.get(village_id)
            if found is None:
                found = months[village_id] = ({}, [])
            by_grid, best = found
            current = village_id
        score = by_grid.get(grid)
        if score is None:
            by_grid[grid] = [points, 1]
        else:
            score[0] += points
            score[1] += 1
        if points > 0 and top > 0:
            if len(best) < top:
                heappush(best, (points, -household, grid))
            elif points >= best[0][0] and (points, -household) > best[0][:2]:
                heapreplace(best, (points, -household, grid))
    tops = {vid: top_ranked(best) for vid, (_grids, best) in months.items()}
    household_ids = {r.household_id for found in tops.values() for r in found}
    labels: dict[int, str] = {}
    heads: dict[int, str] = {}
    if household_ids:
        # the ids written into the statement: a few hundred bound parameters cost more
        ids = bindparam("ids", sorted(household_ids), expanding=True, literal_execute=True)
        labels_query = select(Household.id, Household.label, Household.head_name).where(
            col(Household.id).in_(ids)
        )
        for household_id, household_label, head in (await connection.execute(labels_query)).all():
            labels[household_id] = household_label
            heads[household_id] = head or ""
    grid_names = dict((await connection.execute(grid_query)).all())
    exposed: dict[int, list[Exposed]] = {}
    if exposure_for is None or exposure_for:
        exposed = await exposure_lists(connection, in_month, exposure_for, exposure_limit)
    result = {}
    for village_id, name in villages.items():
        by_grid = months[village_id][0] if village_id in months else {}
        scores = sorted(
            ((gid, p, n) for gid, (p, n) in by_grid.items()),
            key=lambda s: (-(s[1] / s[2]), s[0]),
        )
        result[village_id] = PraiseList(
            village_id=village_id,
            village=name,
            month=month,
            top=[
                Ranked(
                    r.rank,
                    r.household_id,
                    r.grid_id,
                    r.points,
                    labels.get(r.household_id, "?"),
                    grid_names.get(r.grid_id, "?"),
                    heads.get(r.household_id, ""),
                )
                for r in tops.get(village_id, [])
            ],
            grids=[
                GridScore(i + 1, gid, grid_names.get(gid, "?"), points, count)
                for i, (gid, points, count) in enumerate(scores)
            ],
            exposure=exposed.get(village_id, []),
            entries=sum(count for _gid, _points, count in scores),
            total=sum(points for _gid, points, _count in scores),
        )
    return result


async def exposure_lists(
    connection: Any, in_month: list[Any], village_ids: Collection[int] | None, limit: int
) -> dict[int, list[Exposed]]:
    """The month's deductions not withdrawn on appeal, newest first, per village."""
    corrections = aliased(PointEntry)
    withdrawn = select(corrections.corrects_id).where(col(corrections.corrects_id).is_not(None))
    conditions = [
        *in_month,
        col(PointEntry.points) < 0,
        col(PointEntry.kind) != EntryKind.CORRECTION,
        col(PointEntry.id).not_in(withdrawn),
    ]
    if village_ids is not None:
        conditions.append(col(PointEntry.village_id).in_(list(village_ids)))
    negatives = await connection.execute(
        select(
            PointEntry.village_id,
            PointEntry.at,
            Household.label,
            Grid.name,
            PointEntry.reason,
            PointEntry.points,
        )
        .join(Household, col(Household.id) == col(PointEntry.household_id))
        .join(Grid, col(Grid.id) == col(PointEntry.grid_id))
        .where(*conditions)
    )
    rows = negatives.all()  # at once, not row by row
    exposed: dict[int, list[Exposed]] = {}
    for row in rows:
        exposed.setdefault(row[0], []).append(Exposed(*row))
    return {
        village_id: heapq.nlargest(limit, found, key=lambda e: e.at)
        for village_id, found in exposed.items()
    }


# --- settings ------------------------------------------------------------------------------


async def settings_of(session: AsyncSession, village_id: int) -> PointsSettings:
    found = await session.get(PointsSettings, village_id)
    return found or PointsSettings(village_id=village_id)


async def change_settings(
    session: AsyncSession, actor: Actor, village_id: int, now: datetime, **values: Any
) -> PointsSettings:
    if not Can.can_manage(actor, village_id):
        raise NotAllowed(N_("Only village admins can change the points settings."))
    weekday = values.get("weekly_weekday")
    if weekday is not None and not 0 <= weekday <= 6:
        raise RuleError(N_("That is not a day of the week."))
    at = values.pop("weekly_time", None)
    if at is not None:
        values["weekly_hour"], values["weekly_minute"] = parse_time(at)
    found = await session.get(PointsSettings, village_id)
    current = found or PointsSettings(village_id=village_id)
    for key, value in values.items():
        setattr(current, key, value)
    current.changed_at = now
    session.add(current)
    audit.record(
        session,
        "points.settings",
        actor_id=actor.person_id,
        village_id=village_id,
        **{k: v for k, v in values.items() if isinstance(v, int | bool | str)},
    )
    await session.flush()
    return current


def parse_time(text: str) -> tuple[int, int]:
    """ "20:00" or "20" → (20, 0)."""
    raw = text.strip().replace("：", ":")
    hour, _, minute = raw.partition(":")
    try:
        value = time(int(hour), int(minute or 0))
    except ValueError:
        raise RuleError(N_("Please send a time like 20:00.")) from None
    return value.hour, value.minute


def weekly_occurrence(settings: PointsSettings, week: str, tz: ZoneInfo) -> datetime:
    """When the week `week` is confirmed (its `weekly_weekday` at the set time), in UTC."""
    monday = periods.first_day("weekly", week)
    day = monday + timedelta(days=settings.weekly_weekday)
    at = time(settings.weekly_hour, settings.weekly_minute)
    return datetime.combine(day, at, tzinfo=tz).astimezone(ZoneInfo("UTC"))


# --- quarterly rewards ---------------------------------------------------------------------


async def tiers(session: AsyncSession, village_id: int) -> list[RewardTier]:
    query = (
        select(RewardTier)
        .where(RewardTier.village_id == village_id, col(RewardTier.retired_at).is_(None))
        .order_by(col(RewardTier.threshold).desc())
    )
    return list((await session.exec(query)).all())


async def add_tier(
    session: AsyncSession,
    actor: Actor,
    village_id: int,
    threshold: int | str,
    reward: str,
    now: datetime,
) -> RewardTier:
    if not Can.can_manage(actor, village_id):
        raise NotAllowed(N_("Only village admins can set up rewards."))
    try:
        value = int(str(threshold).strip())
    except ValueError:
        raise RuleError(N_("Please send a whole number, for example 60.")) from None
    if value <= 0:
        raise RuleError(N_("Please send a whole number, for example 60."))
    tier = RewardTier(
        village_id=village_id,
        threshold=value,
        reward=org.require_text(reward, REWARD_MAX),
        created_at=now,
    )
    session.add(tier)
    await session.flush()
    audit.record(
        session,
        "points.tier.add",
        actor_id=actor.person_id,
        village_id=village_id,
        tier_id=tier.id,
        threshold=value,
        reward=tier.reward,
    )
    return tier


async def retire_tier(
    session: AsyncSession, actor: Actor, tier_id: int, now: datetime
) -> RewardTier:
    tier = await get_or_missing(session, RewardTier, tier_id, N_("That reward no longer exists."))
    if not Can.can_manage(actor, tier.village_id):
        raise NotAllowed(N_("Only village admins can set up rewards."))
    changed = await session.exec(  # type: ignore[call-overload]
        update(RewardTier)
        .where(col(RewardTier.id) == tier_id, col(RewardTier.retired_at).is_(None))
        .values(retired_at=now)
    )
    if not changed.rowcount:
        raise AlreadyDone(N_("That reward no longer exists."))
    audit.record(
        session, "points.tier.retire", actor_id=actor.person_id, village_id=tier.village_id
    )
    await session.refresh(tier)
    return tier


async def grant_quarter(
    session: AsyncSession, village_id: int, quarter: str, tz: ZoneInfo, now: datetime
) -> list[RewardGrant]:
    """Each household that reached a tier in `quarter` is owed its highest tier's reward."""
    levels = await tiers(session, village_id)
    if not levels:
        return []
    start, end = periods.quarter_bounds(quarter, tz)
    grants = []
    for ranked in rank(await household_sums(session, village_id, start, end)):
        tier = next((t for t in levels if ranked.points >= t.threshold), None)
        if tier is None:
            continue
        grant = RewardGrant(
            village_id=village_id,
            household_id=ranked.household_id,
            quarter=quarter,
            tier_id=tier.id or 0,
            reward=tier.reward,
            points=ranked.points,
            created_at=now,
        )
        if await add_unique(session, grant):
            grants.append(grant)
    return grants


async def tiers_reached(
    session: AsyncSession, village_id: int, month: str, tz: ZoneInfo
) -> list[tuple[Ranked, RewardTier]]:
    """The households whose points of the quarter so far (its first day to the end of `month`)
    reach a reward tier, best first, each with its highest tier: what the quarter's rewards
    will be if nothing changes (granted on the quarter's close, `grant_quarter`)."""
    levels = await tiers(session, village_id)
    if not levels:
        return []
    quarter = periods.quarter_key(periods.first_day("monthly", month))
    start = periods.quarter_bounds(quarter, tz)[0]
    end = periods.month_bounds(month, tz)[1]
    reached = []
    for ranked in await label(
        session, rank(await household_sums(session, village_id, start, end))
    ):
        tier = next((t for t in levels if ranked.points >= t.threshold), None)
        if tier is not None:
            reached.append((ranked, tier))
    return reached


@dataclass(frozen=True)
class GrantView:
    grant: RewardGrant
    household: str
    grid: str


async def grants(
    session: AsyncSession, village_id: int, *, status: RewardStatus | None = None
) -> list[GrantView]:
    query = (
        select(RewardGrant, Household.label, Grid.name)
        .join(Household, col(Household.id) == col(RewardGrant.household_id))
        .join(Grid, col(Grid.id) == col(Household.grid_id))
        .where(RewardGrant.village_id == village_id)
        .order_by(col(RewardGrant.quarter), col(RewardGrant.points).desc(), col(RewardGrant.id))
    )
    if status is not None:
        query = query.where(RewardGrant.status == status)
    return [GrantView(g, h, n) for g, h, n in (await session.exec(query)).all()]


async def hand_over(
    session: AsyncSession, actor: Actor, grant_id: int, now: datetime
) -> RewardGrant:
    grant = await get_or_missing(
        session, RewardGrant, grant_id, N_("That reward no longer exists.")
    )
    if not Can.can_manage(actor, grant.village_id):
        raise NotAllowed(N_("Only village admins can set up rewards."))
    await transitions.move_once(
        session,
        RewardGrant,
        grant_id,
        RewardStatus.OWED,
        N_("This reward is already marked as handed over."),
        status=RewardStatus.HANDED,
        handed_at=now,
        handed_by=actor.person_id,
    )
    audit.record(
        session,
        "points.reward.hand",
        actor_id=actor.person_id,
        village_id=grant.village_id,
        grant_id=grant_id,
        household_id=grant.household_id,
    )
    await session.refresh(grant)
    return grant


# --- closing a year ------------------------------------------------------------------------


async def close_year(
    session: AsyncSession, village_id: int, year: int, tz: ZoneInfo, now: datetime
) -> list[Ranked]:
    """Archive each household's year total and rank (once); the next year starts at zero.

    Nothing is deleted: the ledger keeps every entry, and the archive keeps the final ranking.
    """
    start, end = periods.year_bounds(str(year), tz)
    ranked = await label(session, rank(await household_sums(session, village_id, start, end)))
    for r in ranked:  # each household's year once, also when the close runs again
        await add_unique(
            session,
            PointsYear(
                village_id=village_id,
                year=year,
                household_id=r.household_id,
                grid_id=r.grid_id,
                points=r.points,
                rank=r.rank,
                closed_at=now,
            ),
        )
    return ranked


async def past_years(session: AsyncSession, household_id: int) -> list[PointsYear]:
    query = (
        select(PointsYear)
        .where(PointsYear.household_id == household_id)
        .order_by(col(PointsYear.year).desc())
    )
    return list((await session.exec(query)).all())


async def year_total(session: AsyncSession, person_id: int, year: int) -> int:
    query = select(func.coalesce(func.sum(PointEntry.points), 0)).where(
        PointEntry.person_id == person_id, PointEntry.year == year
    )
    return int((await session.exec(query)).one())


# --- households and people that change (storage.org_changes) ------------------------------


async def check_tenant_earns(session: AsyncSession, actor: Actor) -> None:
    """A tenant's points count for the household they rent in only if the village says so
    (`Village.tenants_earn`); otherwise they join with their own 租住 label to earn points."""
    if actor.residence is None or not actor.residence.tenant:
        return
    village = await org.get_village(session, actor.residence.village_id)
    if not village.tenants_earn:
        raise NotAllowed(
            N_(
                "Points count for households, and in this village tenants' points do not "
                "count for the household they rent in. Ask a village admin about it."
            )
        )


async def follow_household_merge(session: AsyncSession, merged_id: int, keep_id: int) -> int:
    """A merge says the two were always one household: the merged one's ledger lines and
    claims now count for the kept one (the only change ever made to ledger lines; the audit
    row of the merge names both). Closed periods (quarter rewards, closed years) stay as they
    were given. Returns how many ledger lines moved."""
    moved = await session.exec(  # type: ignore[call-overload]
        update(PointEntry)
        .where(col(PointEntry.household_id) == merged_id)
        .values(household_id=keep_id)
    )
    await session.exec(  # type: ignore[call-overload]
        update(PointClaim)
        .where(col(PointClaim.household_id) == merged_id)
        .values(household_id=keep_id)
    )
    return int(moved.rowcount or 0)


async def waiting_reviews(session: AsyncSession, village_id: int) -> int:
    """Claims and appeals waiting for the village's points group."""
    claims = await session.exec(
        select(func.count())
        .select_from(PointClaim)
        .where(PointClaim.village_id == village_id, PointClaim.status == ClaimStatus.PENDING)
    )
    appeals = await session.exec(
        select(func.count())
        .select_from(PointAppeal)
        .where(PointAppeal.village_id == village_id, PointAppeal.status == AppealStatus.PENDING)
    )
    return int(claims.one()) + int(appeals.one())
