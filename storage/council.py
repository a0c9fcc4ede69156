"""The monthly council (阳光议事会) and the implementation of its decisions (rules).

* Screening, besides "on the agenda" and "decline" (storage.votes): an admin merges a new
  proposal into another of the village; it keeps its page with "merged into P-…", and its author
  and followers follow the target from then on.
* Each village meets on a fixed day and time of the month (the 15th at 19:00 unless its admins
  set another) with the participants they chose. `notice_due` finds the villages whose notice
  window (`notice_days` before the meeting) is open and that have agenda items; the notice job
  claims the period `2026-12/v3` and `open_meeting` makes the month's meeting and its items
  (unique per village and month), so the notice goes once however often the job runs.
* After the meeting an admin records each item: decided (with the decision's text), deferred to
  the next meeting (it stays on the agenda) or dropped. A decided item, or a closed vote that
  passed, becomes a project: planned -> in progress -> done, or dropped; each change is a
  conditional update with its note.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlmodel import col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import audit, org, transitions
from storage.clock import aware
from storage.db import add_unique, get_or_missing
from storage.errors import N_, AlreadyDone, NotAllowed, NotFound, RuleError
from storage.models.council import (
    CouncilMember,
    CouncilSettings,
    ItemOutcome,
    Meeting,
    MeetingItem,
    MemberCategory,
    Project,
    ProjectNote,
    ProjectStatus,
    ProposalFollower,
)
from storage.models.org import Membership, MembershipStatus, Person, RoleAssignment
from storage.models.votes import Proposal, ProposalStatus, Vote, VoteStatus
from storage.permissions.council import CouncilPermissions
from storage.permissions.org import Actor
from storage.votes import _move_proposal, get_proposal, proposal_code, vote_view

DECISION_MAX = 500
NOTE_MAX = 500
NOTICE_DAYS_MAX = 14
MERGE_TARGETS = (ProposalStatus.NEW, ProposalStatus.ON_AGENDA, ProposalStatus.VOTING)
PROJECT_STAMPS = {
    ProjectStatus.IN_PROGRESS: "started_at",
    ProjectStatus.DONE: "done_at",
    ProjectStatus.DROPPED: "dropped_at",
}


def require_village_admin(actor: Actor, village_id: int) -> None:
    if not CouncilPermissions.can_configure(actor, village_id):
        raise NotAllowed(N_("Only this village's admins can do that."))


# --- the schedule ----------------------------------------------------------------------------


async def settings_of(session: AsyncSession, village_id: int) -> CouncilSettings:
    """The village's council settings, or the defaults (15th, 19:00, 3 days ahead)."""
    return await session.get(CouncilSettings, village_id) or CouncilSettings(village_id=village_id)


async def set_schedule(
    session: AsyncSession,
    actor: Actor,
    village_id: int,
    *,
    day: int,
    hour: int,
    minute: int = 0,
    notice_days: int,
    now: datetime,
) -> CouncilSettings:
    require_village_admin(actor, village_id)
    if not (1 <= day <= 31 and 0 <= hour <= 23 and 0 <= minute <= 59):
        raise RuleError(N_("That is not a day and time of the month."))
    if not 1 <= notice_days <= NOTICE_DAYS_MAX:
        raise RuleError(N_("The notice goes 1 to {limit} days ahead."), limit=NOTICE_DAYS_MAX)
    await org.get_village(session, village_id)
    settings = await session.get(CouncilSettings, village_id) or CouncilSettings(
        village_id=village_id
    )
    settings.day, settings.hour, settings.minute = day, hour, minute
    settings.notice_days = notice_days
    settings.updated_at, settings.updated_by = now, actor.person_id
    session.add(settings)
    audit.record(
        session,
        "council.schedule",
        actor_id=actor.person_id,
        village_id=village_id,
        day=day,
        at=f"{hour:02d}:{minute:02d}",
        notice_days=notice_days,
    )
    await session.flush()
    return settings


def meeting_start(settings: CouncilSettings, year: int, month: int, tz: ZoneInfo) -> datetime:
    """The meeting of that month, as an aware local time (a short month: its last day)."""
    day = min(settings.day, calendar.monthrange(year, month)[1])
    return datetime(year, month, day, settings.hour, settings.minute, tzinfo=tz)


def next_meeting(settings: CouncilSettings, now: datetime, tz: ZoneInfo) -> datetime:
    """The first meeting at or after `now` (this month's, else next month's)."""
    local = now.astimezone(tz)
    start = meeting_start(settings, local.year, local.month, tz)
    if start < local:
        year, month = (local.year, local.month + 1) if local.month < 12 else (local.year + 1, 1)
        start = meeting_start(settings, year, month, tz)
    return start


def period_key(start: datetime, village_id: int) -> str:
    """The notice job's period of a meeting: its month and village, e.g. "2026-12/v3"."""
    return f"{start.year}-{start.month:02d}/v{village_id}"


@dataclass(frozen=True)
class DueNotice:
    village_id: int
    starts_at: datetime  # aware, local
    period: str


async def notice_due(session: AsyncSession, now: datetime, tz: ZoneInfo) -> list[DueNotice]:
    """Villages with agenda items whose next meeting's notice window is open now."""
    query = (
        select(Proposal.village_id)
        .where(Proposal.status == ProposalStatus.ON_AGENDA)
        .distinct()
        .order_by(col(Proposal.village_id))
    )
    due = []
    for village_id in (await session.exec(query)).all():
        settings = await settings_of(session, village_id)
        start = next_meeting(settings, now, tz)
        if now >= start - timedelta(days=settings.notice_days):
            due.append(DueNotice(village_id, start, period_key(start, village_id)))
    return due


# --- participants ----------------------------------------------------------------------------


def _in_village(village_id: int) -> object:
    """People with an approved home or an active role in the village."""
    residents = select(Membership.person_id).where(
        Membership.village_id == village_id, Membership.status == MembershipStatus.APPROVED
    )
    holders = select(RoleAssignment.person_id).where(
        RoleAssignment.village_id == village_id, col(RoleAssignment.revoked_at).is_(None)
    )
    return or_(col(Person.id).in_(residents), col(Person.id).in_(holders))


async def candidates(
    session: AsyncSession, village_id: int, name: str, limit: int = 10
) -> list[Person]:
    """People of the village (residents or role holders) whose name holds `name`."""
    pattern = f"%{org.require_text(name, 64)}%"
    query = (
        select(Person)
        .where(_in_village(village_id), col(Person.full_name).ilike(pattern))
        .order_by(col(Person.full_name), col(Person.id))
        .limit(limit)
    )
    return list((await session.exec(query)).all())


async def add_member(
    session: AsyncSession,
    actor: Actor,
    village_id: int,
    person_id: int,
    category: MemberCategory,
    now: datetime,
) -> CouncilMember:
    require_village_admin(actor, village_id)
    found = await session.exec(
        select(Person.id).where(Person.id == person_id, _in_village(village_id))
    )
    if found.first() is None:
        raise NotFound(N_("That person is not a resident or officer of this village."))
    member = CouncilMember(
        village_id=village_id,
        person_id=person_id,
        category=category,
        added_at=now,
        added_by=actor.person_id,
    )
    if not await add_unique(session, member):
        raise AlreadyDone(N_("That person is a participant already."))
    audit.record(
        session,
        "council.member_add",
        actor_id=actor.person_id,
        village_id=village_id,
        target_person_id=person_id,
        category=str(category),
    )
    return member


async def remove_member(session: AsyncSession, actor: Actor, member_id: int) -> CouncilMember:
    member = await session.get(CouncilMember, member_id)
    if member is None:
        raise AlreadyDone(N_("That person is no longer a participant."))
    require_village_admin(actor, member.village_id)
    await session.delete(member)
    audit.record(
        session,
        "council.member_remove",
        actor_id=actor.person_id,
        village_id=member.village_id,
        target_person_id=member.person_id,
    )
    await session.flush()
    return member


async def members(session: AsyncSession, village_id: int) -> list[tuple[CouncilMember, Person]]:
    query = (
        select(CouncilMember, Person)
        .join(Person, col(Person.id) == col(CouncilMember.person_id))
        .where(CouncilMember.village_id == village_id)
        .order_by(col(CouncilMember.category), col(CouncilMember.id))
    )
    return [(m, p) for m, p in (await session.exec(query)).all()]


# --- merging and following ------------------------------------------------------------------


async def merge_targets(session: AsyncSession, proposal: Proposal) -> list[Proposal]:
    """Proposals of the same village a new one can be merged into."""
    query = (
        select(Proposal)
        .where(
            Proposal.village_id == proposal.village_id,
            col(Proposal.status).in_(MERGE_TARGETS),
            col(Proposal.id) != proposal.id,
        )
        .order_by(col(Proposal.id).desc())
        .limit(20)
    )
    return list((await session.exec(query)).all())


async def add_follower(
    session: AsyncSession, proposal_id: int, person_id: int, now: datetime
) -> bool:
    return await add_unique(
        session, ProposalFollower(proposal_id=proposal_id, person_id=person_id, followed_at=now)
    )


async def merge_proposal(
    session: AsyncSession, actor: Actor, proposal_id: int, into_id: int, now: datetime
) -> tuple[Proposal, Proposal]:
    """Merge a new proposal into another of the village: it keeps its page ("merged into
    P-…"), and its author and followers follow the target."""
    proposal = await get_proposal(session, proposal_id)
    into = await get_proposal(session, into_id)
    if not CouncilPermissions.can_merge(actor, proposal, into):
        if proposal.id == into.id or proposal.village_id != into.village_id:
            raise RuleError(N_("A proposal can be merged only into another of its village."))
        raise NotAllowed(N_("Only this village's admins can answer proposals."))
    if into.status not in MERGE_TARGETS:
        raise RuleError(
            N_("{code} is closed: merge into an open proposal."), code=proposal_code(into)
        )
    await _move_proposal(
        session,
        proposal,
        ProposalStatus.MERGED,
        now=now,
        answered_at=now,
        answered_by=actor.person_id,
        merged_into_id=into.id,
    )
    for person_id in [proposal.author_id, *await follower_ids(session, proposal_id)]:
        if person_id != into.author_id:
            await add_follower(session, into.id or 0, person_id, now)
    audit.record(
        session,
        "proposal.merge",
        actor_id=actor.person_id,
        village_id=proposal.village_id,
        proposal_id=proposal.id,
        into=into.id,
    )
    return proposal, into


async def follow(
    session: AsyncSession, actor: Actor | None, proposal_id: int, now: datetime
) -> Proposal:
    """A resident follows a proposal: they hear of its decision and its project's progress."""
    proposal = await get_proposal(session, proposal_id)
    if proposal.status == ProposalStatus.MERGED and proposal.merged_into_id:
        proposal = await get_proposal(session, proposal.merged_into_id)
    if actor is None or not CouncilPermissions.can_follow(actor, proposal):
        raise NotAllowed(N_("Only residents of this village can follow its proposals."))
    if proposal.author_id == actor.person_id:
        raise AlreadyDone(N_("This is your own proposal: you hear of every change already."))
    if not await add_follower(session, proposal.id or 0, actor.person_id, now):
        raise AlreadyDone(N_("You follow this proposal already."))
    audit.record(
        session,
        "proposal.follow",
        actor_id=actor.person_id,
        village_id=proposal.village_id,
        proposal_id=proposal.id,
    )
    return proposal


async def follower_ids(session: AsyncSession, proposal_id: int) -> list[int]:
    query = select(ProposalFollower.person_id).where(ProposalFollower.proposal_id == proposal_id)
    return list((await session.exec(query.order_by(col(ProposalFollower.id)))).all())


async def interested(session: AsyncSession, proposal: Proposal) -> list[Person]:
    """Who hears of each change: the author, then the followers."""
    ids = dict.fromkeys([proposal.author_id, *await follower_ids(session, proposal.id or 0)])
    people = [await session.get(Person, person_id) for person_id in ids]
    return [p for p in people if p is not None]


# --- meetings ------------------------------------------------------------------------------


async def agenda(session: AsyncSession, village_id: int) -> list[Proposal]:
    query = select(Proposal).where(
        Proposal.village_id == village_id, Proposal.status == ProposalStatus.ON_AGENDA
    )
    return list((await session.exec(query.order_by(col(Proposal.id)))).all())


async def open_meeting(
    session: AsyncSession, village_id: int, starts_at: datetime, now: datetime
) -> tuple[Meeting, list[Proposal]] | None:
    """The month's meeting with the village's agenda items; None if it was made already."""
    meeting = Meeting(
        village_id=village_id,
        period=f"{starts_at.year}-{starts_at.month:02d}",
        starts_at=starts_at.astimezone(UTC),
        noticed_at=now,
    )
    if not await add_unique(session, meeting):
        return None
    items = await agenda(session, village_id)
    session.add_all(MeetingItem(meeting_id=meeting.id or 0, proposal_id=p.id or 0) for p in items)
    audit.record(
        session,
        "council.notice",
        actor_id=None,
        village_id=village_id,
        meeting_id=meeting.id,
        items=[p.id for p in items],
    )
    await session.flush()
    return meeting, items


@dataclass(frozen=True)
class ItemView:
    item: MeetingItem
    meeting: Meeting
    proposal: Proposal


async def items_to_record(
    session: AsyncSession, actor: Actor, now: datetime, limit: int = 20
) -> list[ItemView]:
    """Items of held meetings (started) still waiting for a decision, in the admin's villages."""
    villages = [v for v in actor.villages() if CouncilPermissions.can_record_decision(actor, v)]
    if actor.is_district_admin:
        villages = None  # type: ignore[assignment]
    query = (
        select(MeetingItem, Meeting, Proposal)
        .join(Meeting, col(Meeting.id) == col(MeetingItem.meeting_id))
        .join(Proposal, col(Proposal.id) == col(MeetingItem.proposal_id))
        .where(
            MeetingItem.outcome == ItemOutcome.PENDING,
            col(Meeting.starts_at) <= now,
            Proposal.status == ProposalStatus.ON_AGENDA,
        )
        .order_by(col(Meeting.starts_at), col(MeetingItem.id))
        .limit(limit)
    )
    if villages is not None:
        query = query.where(col(Meeting.village_id).in_(villages))
    return [ItemView(i, m, p) for i, m, p in (await session.exec(query)).all()]


async def decisions_between(
    session: AsyncSession, village_id: int, start: datetime, end: datetime
) -> list[ItemView]:
    """The agenda items a village's meetings in [start, end) decided, deferred or dropped,
    in meeting order: the council's decisions for the notice board."""
    query = (
        select(MeetingItem, Meeting, Proposal)
        .join(Meeting, col(Meeting.id) == col(MeetingItem.meeting_id))
        .join(Proposal, col(Proposal.id) == col(MeetingItem.proposal_id))
        .where(
            Meeting.village_id == village_id,
            col(Meeting.starts_at) >= start,
            col(Meeting.starts_at) < end,
            MeetingItem.outcome != ItemOutcome.PENDING,
        )
        .order_by(col(Meeting.starts_at), col(MeetingItem.id))
    )
    return [ItemView(i, m, p) for i, m, p in (await session.exec(query)).all()]


async def item_view(session: AsyncSession, item_id: int) -> ItemView:
    item = await get_or_missing(
        session, MeetingItem, item_id, N_("That agenda item no longer exists.")
    )
    meeting = await session.get(Meeting, item.meeting_id)
    assert meeting is not None
    return ItemView(item, meeting, await get_proposal(session, item.proposal_id))


@dataclass(frozen=True)
class Recorded:
    view: ItemView
    project: Project | None


async def record_item(
    session: AsyncSession,
    actor: Actor,
    item_id: int,
    outcome: ItemOutcome,
    *,
    decision: str | None,
    now: datetime,
) -> Recorded:
    """After the meeting: decided (a project follows), deferred to the next one, or dropped."""
    view = await item_view(session, item_id)
    if not CouncilPermissions.can_record_decision(actor, view.meeting.village_id):
        raise NotAllowed(N_("Only this village's admins can record the council's decisions."))
    if now < aware(view.meeting.starts_at):
        raise RuleError(N_("The meeting has not been held yet."))
    if outcome == ItemOutcome.PENDING:
        raise RuleError(N_("Choose what the council decided."))
    text = org.require_text(decision, DECISION_MAX) if outcome == ItemOutcome.DECIDED else None
    if view.proposal.status != ProposalStatus.ON_AGENDA:
        raise AlreadyDone(N_("This item has been answered already."))
    changed = await session.exec(  # type: ignore[call-overload]
        update(MeetingItem)
        .where(col(MeetingItem.id) == item_id, col(MeetingItem.outcome) == ItemOutcome.PENDING)
        .values(outcome=outcome, decision=text, recorded_at=now, recorded_by=actor.person_id)
    )
    if not changed.rowcount:
        raise AlreadyDone(N_("This item has been answered already."))
    await session.refresh(view.item)
    project = None
    if outcome == ItemOutcome.DECIDED:
        await _move_proposal(
            session, view.proposal, ProposalStatus.DECIDED, now=now, decided_at=now
        )
        project = await create_project(session, view.proposal, text or "", now=now)
    elif outcome == ItemOutcome.DROPPED:
        await _move_proposal(
            session, view.proposal, ProposalStatus.DROPPED, now=now, decided_at=now
        )
    audit.record(
        session,
        "council.record",
        actor_id=actor.person_id,
        village_id=view.meeting.village_id,
        proposal_id=view.proposal.id,
        outcome=str(outcome),
    )
    return Recorded(view, project)


# --- projects ------------------------------------------------------------------------------


async def create_project(
    session: AsyncSession,
    proposal: Proposal,
    decision: str,
    *,
    now: datetime,
    vote_id: int | None = None,
) -> Project | None:
    """A decided item becomes a planned project (once per proposal)."""
    project = Project(
        village_id=proposal.village_id,
        proposal_id=proposal.id or 0,
        vote_id=vote_id,
        decision=decision[:DECISION_MAX],
        created_at=now,
        updated_at=now,
    )
    if not await add_unique(session, project):
        return None
    session.add(ProjectNote(project_id=project.id or 0, status=ProjectStatus.PLANNED, at=now))
    audit.record(
        session,
        "project.create",
        actor_id=None,
        village_id=proposal.village_id,
        project_id=project.id,
        proposal_id=proposal.id,
    )
    return project


async def winner(session: AsyncSession, vote: Vote) -> tuple[str, int] | None:
    """The first option's label and votes when a closed vote passed: the quorum (if any) is
    reached and the first option (Agree, or the admin's first own option) has more votes than
    every other option."""
    if vote.status != VoteStatus.CLOSED or vote.quorum_reached is False:
        return None
    view = await vote_view(session, vote.id or 0)
    options = view.options
    counts = [view.total(o) for o in options]  # online and paper ballots
    if not counts or counts[0] == 0 or any(c >= counts[0] for c in counts[1:]):
        return None
    return options[0].label, counts[0]


async def project_from_vote(session: AsyncSession, vote: Vote, now: datetime) -> Project | None:
    """A closed vote on an agenda item that passed: the item becomes a planned project."""
    if vote.proposal_id is None:
        return None
    won = await winner(session, vote)
    if won is None:
        return None
    proposal = await get_proposal(session, vote.proposal_id)
    decision = f"{vote.question}: {won[0]} ({won[1]}/{vote.turnout or 0})"
    return await create_project(session, proposal, decision, now=now, vote_id=vote.id)


async def get_project(session: AsyncSession, project_id: int) -> Project:
    return await get_or_missing(session, Project, project_id, N_("That project no longer exists."))


async def change_project(
    session: AsyncSession,
    actor: Actor,
    project_id: int,
    to: ProjectStatus,
    *,
    note: str | None,
    now: datetime,
) -> Project:
    """planned -> in progress -> done, or dropped; a conditional update (a second press
    finds it done), with its note."""
    project = await get_project(session, project_id)
    if not CouncilPermissions.can_change_project(actor, project):
        raise NotAllowed(N_("Only this village's admins can update its projects."))
    text = org.clean_text(note, NOTE_MAX)
    if not project.status.can_become(to):
        raise AlreadyDone(N_("The project has moved on already."))
    await transitions.move_once(
        session,
        Project,
        project_id,
        project.status,
        N_("The project has moved on already."),
        status=to,
        updated_at=now,
        **{PROJECT_STAMPS[to]: now},
    )
    await session.refresh(project)
    session.add(
        ProjectNote(project_id=project_id, status=to, text=text, at=now, by=actor.person_id)
    )
    audit.record(
        session,
        "project.status",
        actor_id=actor.person_id,
        village_id=project.village_id,
        project_id=project_id,
        status=str(to),
    )
    return project


async def add_note(
    session: AsyncSession, actor: Actor, project_id: int, text: str | None, now: datetime
) -> ProjectNote:
    project = await get_project(session, project_id)
    if not CouncilPermissions.can_change_project(actor, project):
        raise NotAllowed(N_("Only this village's admins can update its projects."))
    note = ProjectNote(
        project_id=project_id, text=org.require_text(text, NOTE_MAX), at=now, by=actor.person_id
    )
    session.add(note)
    await session.exec(  # type: ignore[call-overload]
        update(Project).where(col(Project.id) == project_id).values(updated_at=now)
    )
    audit.record(
        session,
        "project.note",
        actor_id=actor.person_id,
        village_id=project.village_id,
        project_id=project_id,
    )
    await session.flush()
    return note


async def projects(session: AsyncSession, village_id: int, limit: int = 20) -> list[Project]:
    query = (
        select(Project)
        .where(Project.village_id == village_id)
        .order_by(col(Project.updated_at).desc(), col(Project.id).desc())
        .limit(limit)
    )
    return list((await session.exec(query)).all())


async def notes_of(session: AsyncSession, project_id: int) -> list[ProjectNote]:
    query = select(ProjectNote).where(ProjectNote.project_id == project_id)
    return list((await session.exec(query.order_by(col(ProjectNote.id)))).all())
