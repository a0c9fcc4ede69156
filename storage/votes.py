"""Consultation and voting rules (协商式): proposals, their screening, votes and ballots.

A ballot is a row unique per (vote, voter key); the voter key is the person, or their household
when the village votes one per household. A press inserts it in a savepoint; when the row
exists already the press is a change of mind (same person) or refused (another member of the
household). So concurrent presses count once. Closing is a conditional update (open -> closed,
deadline passed), done once however often the job runs.

In a "pick up to N of M" vote a press changes the ballot's draft (`BallotDraft`: what the voter
has pressed so far, starting from what they confirmed) and ✔ 确认 (`confirm`) makes the draft
the ballot's picks; only picks count (the tally, the card, who voted, reminders, the close), so
a ballot with a draft only is no vote. In a per-household vote the draft is the household's
until a member confirms it; from then on only that member changes the household's ballot.

Who may vote (the electorate): the village's approved residents; or those of some of its grids
(`grid_ids`); or, for a vote on an agenda item, only the item's participants (利益相关方,
`stakeholders`). The seed's council is "组织利益相关方平等交流、共同商量": the participants are
notified ahead, "村'两委'成员、集体经济组织理事会成员、党员群众代表及其他相关人员". In linli's
data that is, for one item (`item_participants`):

* its proposal's author (who raised the concern),
* the residents who follow it (`ProposalFollower`: who pressed 关注, and the authors and followers
  of proposals merged into it), who asked to hear of every change because it concerns them,
* the village's council participants (`CouncilMember`: 两委, 理事会, 党员代表, 群众代表), who
  deliberate every item at the 阳光议事会.

A proposal names no grid or household, so grids are not guessed from it (the grid narrowing
is there for that). The roll is written when the vote is put (`VoteVoter`) and never grows:
following the item during the vote would otherwise let anyone enrol. Whoever is on it votes
while they are an approved resident of the village (an officer with no home there, as in a
village-wide vote, does not); in a per-household vote the roll's households vote, one ballot
each, cast by a person on the roll. Counts, reminders and the record of who voted follow the
roll, as they follow the grids.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import audit, org, outbox, transitions
from storage.clock import aware
from storage.db import add_unique, get_or_missing
from storage.errors import N_, AlreadyDone, NotAllowed, NotFound, RuleError
from storage.models.common import OutboxMessage
from storage.models.council import CouncilMember, ProposalFollower
from storage.models.org import Membership, MembershipStatus, Person, Village
from storage.models.votes import (
    Ballot,
    BallotDraft,
    BallotPick,
    DecideRule,
    Proposal,
    ProposalStatus,
    StakeholderKind,
    Vote,
    VoteCard,
    VoteOption,
    VoteSettings,
    VoteStatus,
    VoteVoter,
)
from storage.permissions.org import Actor
from storage.permissions.votes import VotePermissions

QUESTION_MAX = 200
OPTION_MAX = 40
OPTIONS_MIN = 2
OPTIONS_MAX = 10
TITLE_MAX = 80
BODY_MAX = 1000
ANSWER_MAX = 500
DEADLINE_MIN = timedelta(hours=1)
DEADLINE_MAX = timedelta(days=60)
REMIND_BEFORE = timedelta(days=1)
CARD_EDIT_INTERVAL = timedelta(seconds=6)  # at most 10 edits a minute per card
QUORUM_CHOICES = (None, 30, 50)


# --- the village's rule --------------------------------------------------------------------


async def per_household(session: AsyncSession, village_id: int) -> bool:
    settings = await session.get(VoteSettings, village_id)
    return bool(settings and settings.per_household)


async def set_rule(
    session: AsyncSession, actor: Actor, village_id: int, *, per_household: bool, now: datetime
) -> VoteSettings:
    """One vote per person or per household, for the votes put from now on."""
    if not VotePermissions.can_manage(actor, village_id):
        raise NotAllowed(N_("Only this village's admins can change how it votes."))
    await org.get_village(session, village_id)
    settings = await session.get(VoteSettings, village_id)
    if settings is None:
        settings = VoteSettings(village_id=village_id)
    settings.per_household = per_household
    settings.updated_at = now
    settings.updated_by = actor.person_id
    session.add(settings)
    audit.record(
        session,
        "vote.rule",
        actor_id=actor.person_id,
        village_id=village_id,
        per_household=per_household,
    )
    await session.flush()
    return settings


# --- proposals -----------------------------------------------------------------------------


def proposal_code(proposal: Proposal) -> str:
    return f"P-{proposal.year}-{proposal.number:04d}"


async def submit_proposal(
    session: AsyncSession,
    actor: Actor,
    *,
    title: str,
    body: str,
    anonymous: bool,
    year: int,
    now: datetime,
    photo_file_id: str | None = None,
) -> Proposal:
    """A resident's concern (with a photo, if any), numbered P-<year>-<n> within their village."""
    if not VotePermissions.can_propose(actor) or actor.residence is None:
        raise NotAllowed(N_("Only approved residents can send proposals. See /me."))
    title = org.require_text(title, TITLE_MAX)
    body = org.normalise_text(body, lines=True)
    if len(body) > BODY_MAX:
        raise RuleError(
            N_("That is too long: at most {limit} characters, please."), limit=BODY_MAX
        )
    village_id = actor.residence.village_id
    for _attempt in range(5):
        top = await session.exec(
            select(func.max(Proposal.number)).where(
                Proposal.village_id == village_id, Proposal.year == year
            )
        )
        proposal = Proposal(
            village_id=village_id,
            year=year,
            number=(top.one() or 0) + 1,
            author_id=actor.person_id,
            title=title,
            body=body,
            anonymous=anonymous,
            created_at=now,
            photo_file_id=photo_file_id,
        )
        try:
            async with session.begin_nested():
                session.add(proposal)
        except IntegrityError:  # a concurrent proposal took the number
            continue
        audit.record(
            session,
            "proposal.submit",
            actor_id=actor.person_id,
            village_id=village_id,
            proposal_id=proposal.id,
        )
        return proposal
    raise RuleError(N_("Sorry, something went wrong and nothing was changed. Please try again."))


async def get_proposal(session: AsyncSession, proposal_id: int) -> Proposal:
    return await get_or_missing(
        session, Proposal, proposal_id, N_("That proposal no longer exists.")
    )


async def _move_proposal(
    session: AsyncSession,
    proposal: Proposal,
    to: ProposalStatus,
    *,
    now: datetime,
    **values: object,
) -> None:
    """A named transition, as a conditional update: a second press finds it done."""
    if not proposal.status.can_become(to):
        raise AlreadyDone(N_("This proposal has already been answered."))
    await transitions.move_once(
        session,
        Proposal,
        proposal.id,
        proposal.status,
        N_("This proposal has already been answered."),
        status=to,
        **values,
    )
    await session.refresh(proposal)


async def screen_proposal(
    session: AsyncSession,
    actor: Actor,
    proposal_id: int,
    *,
    accept: bool,
    answer: str | None,
    now: datetime,
) -> Proposal:
    """An admin puts a new proposal on the agenda, or declines it with a public reason."""
    proposal = await get_proposal(session, proposal_id)
    if not VotePermissions.can_manage(actor, proposal.village_id):
        raise NotAllowed(N_("Only this village's admins can answer proposals."))
    reason = org.require_text(answer, ANSWER_MAX) if not accept else None
    await _move_proposal(
        session,
        proposal,
        ProposalStatus.ON_AGENDA if accept else ProposalStatus.DECLINED,
        now=now,
        answered_at=now,
        answered_by=actor.person_id,
        answer=reason,
    )
    audit.record(
        session,
        "proposal.agenda" if accept else "proposal.decline",
        actor_id=actor.person_id,
        village_id=proposal.village_id,
        proposal_id=proposal.id,
    )
    return proposal


async def proposals(
    session: AsyncSession,
    village_id: int,
    statuses: list[ProposalStatus],
    *,
    author_id: int | None = None,
    limit: int = 20,
) -> list[Proposal]:
    query = select(Proposal).where(
        Proposal.village_id == village_id, col(Proposal.status).in_(statuses)
    )
    if author_id is not None:
        query = query.where(Proposal.author_id == author_id)
    return list((await session.exec(query.order_by(col(Proposal.id)).limit(limit))).all())


ANSWERED = (
    ProposalStatus.ON_AGENDA,
    ProposalStatus.DECLINED,
    ProposalStatus.MERGED,
    ProposalStatus.VOTING,
    ProposalStatus.DECIDED,
    ProposalStatus.DROPPED,
)


async def answered_between(
    session: AsyncSession, village_id: int, start: datetime, end: datetime
) -> list[tuple[Proposal, Proposal | None]]:
    """The village's proposals answered in [start, end), oldest answer first, each with the
    proposal it was merged into (if it was): what the 书记信箱 post and /agenda show."""
    query = select(Proposal).where(
        Proposal.village_id == village_id,
        col(Proposal.status).in_(ANSWERED),
        col(Proposal.answered_at) >= start,
        col(Proposal.answered_at) < end,
    )
    found = (await session.exec(query.order_by(col(Proposal.answered_at)))).all()
    return [
        (p, await session.get(Proposal, p.merged_into_id) if p.merged_into_id else None)
        for p in found
    ]


async def proposals_of(session: AsyncSession, author_id: int, limit: int = 20) -> list[Proposal]:
    query = (
        select(Proposal)
        .where(Proposal.author_id == author_id)
        .order_by(col(Proposal.id).desc())
        .limit(limit)
    )
    return list((await session.exec(query)).all())


# --- votes ---------------------------------------------------------------------------------


def clean_options(labels: list[str]) -> list[str]:
    """Options as typed: each checked, duplicates dropped, 2 to 10."""
    options: list[str] = []
    for raw in labels:
        if not raw.strip():
            continue
        label = org.require_text(raw, OPTION_MAX)
        if label not in options:
            options.append(label)
    if not OPTIONS_MIN <= len(options) <= OPTIONS_MAX:
        raise RuleError(
            N_("A vote needs {low} to {high} different options."),
            low=OPTIONS_MIN,
            high=OPTIONS_MAX,
        )
    return options


async def create_vote(
    session: AsyncSession,
    actor: Actor,
    *,
    village_id: int,
    question: str,
    options: list[str],
    deadline: datetime,
    secret: bool,
    quorum_percent: int | None,
    now: datetime,
    proposal_id: int | None = None,
    max_picks: int = 1,
    decide_rule: DecideRule = DecideRule.TOP,
    grid_ids: list[int] | None = None,
    stakeholders: bool = False,
) -> Vote:
    """A new open vote; `post_cards` then puts it into the village's groups. `max_picks`
    over 1 makes it "pick up to N of M"; `grid_ids` narrows who may vote to those grids;
    `stakeholders` (a vote on an agenda item) to the item's participants, whose roll is
    written now."""
    if not VotePermissions.can_manage(actor, village_id):
        raise NotAllowed(N_("Only this village's admins can put a vote."))
    await org.get_village(session, village_id)
    question = org.require_text(question, QUESTION_MAX)
    labels = clean_options(options)
    if not now + DEADLINE_MIN <= deadline <= now + DEADLINE_MAX:
        raise RuleError(N_("The deadline must be between one hour and 60 days from now."))
    if quorum_percent is not None and not 1 <= quorum_percent <= 100:
        raise RuleError(N_("The quorum is a percentage from 1 to 100."))
    if not 1 <= max_picks < len(labels):
        raise RuleError(
            N_("People can pick from 1 to {high} of these options."), high=len(labels) - 1
        )
    village_grids = {g.id for g in await org.grids_of(session, village_id)}
    chosen = sorted(set(grid_ids or ()))
    if not set(chosen) <= village_grids:
        raise NotFound(N_("That grid no longer exists."))
    if set(chosen) == village_grids:
        chosen = []  # every grid is the whole village
    if stakeholders and proposal_id is None:
        raise RuleError(N_("Only a vote on an agenda item can be limited to its participants."))
    if stakeholders and chosen:
        raise RuleError(N_("A vote is for some grids or for an item's participants, not both."))
    roll: list[tuple[int, StakeholderKind]] = []
    if proposal_id is not None:
        proposal = await get_proposal(session, proposal_id)
        if proposal.village_id != village_id:
            raise NotFound(N_("That proposal no longer exists."))
        if stakeholders:
            roll = await item_participants(session, proposal)
            if not await count_voters(
                session,
                village_id,
                [person_id for person_id, _kind in roll],
                per_household=await per_household(session, village_id),
            ):
                raise RuleError(
                    N_(
                        "None of this item's participants can vote: none is an approved "
                        "resident of the village."
                    )
                )
        await _move_proposal(session, proposal, ProposalStatus.VOTING, now=now)
    vote = Vote(
        village_id=village_id,
        proposal_id=proposal_id,
        question=question,
        per_household=await per_household(session, village_id),
        secret=secret,
        quorum_percent=quorum_percent,
        deadline=deadline,
        created_by=actor.person_id,
        created_at=now,
        max_picks=max_picks,
        decide_rule=decide_rule,
        grid_ids=chosen,
        stakeholders=stakeholders,
    )
    session.add(vote)
    await session.flush()
    assert vote.id is not None
    session.add_all(
        VoteOption(vote_id=vote.id, position=n, label=label) for n, label in enumerate(labels)
    )
    session.add_all(VoteVoter(vote_id=vote.id, person_id=p, kind=kind) for p, kind in roll)
    audit.record(
        session,
        "vote.create",
        actor_id=actor.person_id,
        village_id=village_id,
        vote_id=vote.id,
        options=labels,
        secret=secret,
        max_picks=max_picks,
        grid_ids=chosen,
        roll=len(roll) if stakeholders else None,
    )
    await session.flush()
    return vote


async def item_participants(
    session: AsyncSession, proposal: Proposal
) -> list[tuple[int, StakeholderKind]]:
    """An agenda item's participants (利益相关方), each once with why: its author, its
    followers, the village's council participants (see the module's docstring)."""
    followers = select(ProposalFollower.person_id).where(
        ProposalFollower.proposal_id == proposal.id
    )
    council = select(CouncilMember.person_id).where(
        CouncilMember.village_id == proposal.village_id
    )
    found: dict[int, StakeholderKind] = {proposal.author_id: StakeholderKind.AUTHOR}
    for query, kind in (
        (followers.order_by(col(ProposalFollower.id)), StakeholderKind.FOLLOWER),
        (council.order_by(col(CouncilMember.id)), StakeholderKind.COUNCIL),
    ):
        for person_id in (await session.exec(query)).all():
            found.setdefault(person_id, kind)
    return list(found.items())


async def count_voters(
    session: AsyncSession, village_id: int, person_ids: list[int], *, per_household: bool
) -> int:
    """How many of these people (or their households) may vote in the village now: what the
    create-vote review shows for an item's participants before the vote is put."""
    where = [
        col(Membership.village_id) == village_id,
        col(Membership.status) == MembershipStatus.APPROVED,
        col(Membership.person_id).in_(person_ids),
    ]
    return await _count(session, village_id, where, per_household=per_household)


async def participants_count(session: AsyncSession, proposal_id: int) -> int:
    """How many of an agenda item's participants (or households) could vote on it now."""
    proposal = await get_proposal(session, proposal_id)
    roll = await item_participants(session, proposal)
    return await count_voters(
        session,
        proposal.village_id,
        [person_id for person_id, _kind in roll],
        per_household=await per_household(session, proposal.village_id),
    )


async def get_vote(session: AsyncSession, vote_id: int) -> Vote:
    return await get_or_missing(session, Vote, vote_id, N_("That vote no longer exists."))


async def options_of(session: AsyncSession, vote_id: int) -> list[VoteOption]:
    query = select(VoteOption).where(VoteOption.vote_id == vote_id)
    return list((await session.exec(query.order_by(col(VoteOption.position)))).all())


@dataclass(frozen=True)
class Cast:
    """The outcome of a press: what the voter's ballot picks now (in a pick-several vote, what
    its draft holds, and `confirmed`: what it counts until the draft is confirmed)."""

    vote: Vote
    option: VoteOption
    changed: bool  # a change of mind (single choice) or a pick taken back or added to
    picked: bool  # the pressed option is picked now (False: the press took it back)
    picks: list[VoteOption]
    confirmed: list[VoteOption] = field(default_factory=list)


class Confirmation(StrEnum):
    """What ✔ 确认 did to a pick-several ballot."""

    CAST = "cast"  # the first confirmed picks: the voter has voted
    CHANGED = "changed"  # the picks are the draft now
    UNCHANGED = "unchanged"  # the draft is what is counted already
    EMPTY = "empty"  # nothing is picked in the draft: nothing changed


@dataclass(frozen=True)
class Confirmed:
    """The outcome of ✔ 确认: what the ballot counts now."""

    vote: Vote
    outcome: Confirmation
    picks: list[VoteOption]


async def _voting(
    session: AsyncSession, actor: Actor | None, vote_id: int, chat_id: int, now: datetime
) -> tuple[Vote, Actor]:
    """The vote a press on its card is for, after checking the card's group (unless pressed in
    the voter's private chat), the deadline and the voter."""
    vote = await get_vote(session, vote_id)
    # in the voter's own private chat (the card opened from /agenda) no group is involved
    private = actor is not None and chat_id == actor.telegram_id
    binding = None if private else await org.binding_of(session, chat_id)
    if not private and (binding is None or binding.village_id != vote.village_id):
        raise NotFound(N_("This vote belongs to another village."))
    if vote.status != VoteStatus.OPEN or now >= vote.deadline:
        raise AlreadyDone(N_("This vote is closed."))
    listed = actor is not None and await on_roll(session, vote, actor.person_id)
    if (
        actor is None
        or actor.residence is None
        or not VotePermissions.can_vote(actor, vote, listed=listed)
    ):
        if actor is not None and VotePermissions.lives_in_village(actor, vote):
            if vote.stakeholders:
                raise NotAllowed(
                    N_(
                        "This vote is for the people concerned by its agenda item only: its "
                        "proposer, the residents who followed it before the vote began and "
                        "the council's participants."
                    )
                )
            raise NotAllowed(N_("This vote is for some grids of the village only."))
        village = await org.get_village(session, vote.village_id)
        raise NotAllowed(
            N_("Only approved residents of {village} can vote here."), village=village.name
        )
    return vote, actor


async def _ballot(
    session: AsyncSession, vote: Vote, actor: Actor, now: datetime, *, create: bool
) -> Ballot | None:
    """The voter's ballot (their household's in a per-household vote), locked: made at the
    first press (`create`), else found (None if there is none). A household's ballot that
    counts is changed only by the member who cast it; one that is a draft only is the
    household's, and whoever presses now holds it."""
    assert actor.residence is not None
    key = voter_key(vote, actor)
    if vote.per_household:
        await _check_household_voter(session, vote, actor, key)
    if create:
        ballot = Ballot(
            vote_id=vote.id or 0,
            voter_key=key,
            person_id=actor.person_id,
            household_id=actor.residence.household_id,
            cast_at=now,
        )
        if await add_unique(session, ballot):
            return ballot
    # this voter has a ballot: lock it (PostgreSQL; SQLite has one writer at a time)
    query = select(Ballot).where(Ballot.vote_id == vote.id, Ballot.voter_key == key)
    ballot = (await session.exec(query.with_for_update())).first()
    if ballot is not None and ballot.person_id != actor.person_id:
        if await _picks(session, ballot.id or 0):
            raise AlreadyDone(N_("Someone of your household has already voted."))
        ballot.person_id = actor.person_id
        session.add(ballot)
    return ballot


async def cast(
    session: AsyncSession,
    actor: Actor | None,
    *,
    vote_id: int,
    option_id: int,
    chat_id: int,
    now: datetime,
) -> Cast:
    """Record a press on a vote card, after checking the card's group (unless pressed in the
    voter's private chat), the deadline and the voter. One choice: the press is the voter's
    choice (again: nothing changes). Up to N: the press changes the ballot's draft, which
    counts only once confirmed (`confirm`): it picks the option, or takes it back if picked;
    an N+1th pick is refused.

    The unique (vote, voter key) ballot row makes concurrent first presses count once; later
    presses lock it (PostgreSQL) or meet SQLite's one writer, so a draft never holds more
    than N.
    """
    vote, actor = await _voting(session, actor, vote_id, chat_id, now)
    option = await session.get(VoteOption, option_id)
    if option is None or option.vote_id != vote_id:
        raise NotFound(N_("That option is not part of this vote."))
    ballot = await _ballot(session, vote, actor, now, create=True)
    assert ballot is not None
    if vote.max_picks > 1:
        return await _draft_press(session, vote, ballot, option, now)
    picks = await _picks(session, ballot.id or 0)
    if [p.option_id for p in picks] == [option_id]:
        raise AlreadyDone(N_("Your vote is already recorded. You can still change it."))
    first = await _count_picks(session, vote, actor, ballot, picks, {option_id}, now)
    return Cast(vote, option, changed=not first, picked=True, picks=[option], confirmed=[option])


async def _draft_press(
    session: AsyncSession, vote: Vote, ballot: Ballot, option: VoteOption, now: datetime
) -> Cast:
    """A press on a pick-several card: the option goes into the ballot's (locked) draft, or
    out of it if it is there; the picks that count stay as they are."""
    drafts = await _drafts(session, ballot.id or 0)
    drafted = [d.option_id for d in drafts]
    if option.id in drafted:
        await session.delete(next(d for d in drafts if d.option_id == option.id))
        now_drafted = set(drafted) - {option.id}
    elif len(drafts) >= vote.max_picks:
        raise RuleError(
            N_("You can pick at most {count}. Press one of your picks again to take it back."),
            count=vote.max_picks,
        )
    else:
        session.add(
            BallotDraft(
                ballot_id=ballot.id or 0,
                vote_id=vote.id or 0,
                option_id=option.id or 0,
                picked_at=now,
            )
        )
        now_drafted = {*drafted, option.id}
    await session.flush()
    options = await options_of(session, vote.id or 0)
    counted = {p.option_id for p in await _picks(session, ballot.id or 0)}
    return Cast(
        vote,
        option,
        changed=bool(drafts),
        picked=option.id in now_drafted,
        picks=[o for o in options if o.id in now_drafted],
        confirmed=[o for o in options if o.id in counted],
    )


async def confirm(
    session: AsyncSession, actor: Actor | None, *, vote_id: int, chat_id: int, now: datetime
) -> Confirmed:
    """✔ 确认 on a pick-several card: the ballot's picks become its draft, at once (the ballot
    row locked as a press locks it), audited as a cast or a change. Checked as a press is
    (the card's group, the deadline, the voter). An empty draft, or one that is what counts
    already, changes nothing: until a new confirmation the confirmed picks stand."""
    vote, actor = await _voting(session, actor, vote_id, chat_id, now)
    if vote.max_picks == 1:
        raise RuleError(N_("In this vote one press is the vote: there is nothing to confirm."))
    ballot = await _ballot(session, vote, actor, now, create=False)
    if ballot is None:
        return Confirmed(vote, Confirmation.EMPTY, [])
    options = await options_of(session, vote_id)
    picks = await _picks(session, ballot.id or 0)
    picked = {p.option_id for p in picks}
    drafted = {d.option_id for d in await _drafts(session, ballot.id or 0)}
    if not drafted or drafted == picked:
        outcome = Confirmation.EMPTY if not drafted else Confirmation.UNCHANGED
        return Confirmed(vote, outcome, [o for o in options if o.id in picked])
    if len(drafted) > vote.max_picks:  # a press never lets it happen
        raise RuleError(
            N_("You can pick at most {count}. Press one of your picks again to take it back."),
            count=vote.max_picks,
        )
    first = await _count_picks(session, vote, actor, ballot, picks, drafted, now)
    outcome = Confirmation.CAST if first else Confirmation.CHANGED
    return Confirmed(vote, outcome, [o for o in options if o.id in drafted])


async def _count_picks(
    session: AsyncSession,
    vote: Vote,
    actor: Actor,
    ballot: Ballot,
    picks: list[BallotPick],
    wanted: set[int],
    now: datetime,
) -> bool:
    """The ballot's counted picks become `wanted` (a press's one option, or a confirmed
    draft): the ones no longer wanted go, the new ones come, the ballot's times say cast or
    changed, audited as the one or the other. True if this is the ballot's first cast."""
    for pick in picks:
        if pick.option_id not in wanted:
            await session.delete(pick)
    for option_id in sorted(wanted - {p.option_id for p in picks}):
        session.add(_pick(ballot, option_id, now))
    first = not picks
    if first:
        ballot.cast_at, ballot.changed_at = now, None
    else:
        ballot.changed_at = now
    session.add(ballot)
    await session.flush()
    audit.record(
        session,
        "vote.cast" if first else "vote.change",
        actor_id=actor.person_id,
        village_id=vote.village_id,
        vote_id=vote.id,
    )
    return first


def _pick(ballot: Ballot, option_id: int, now: datetime) -> BallotPick:
    return BallotPick(
        ballot_id=ballot.id or 0, vote_id=ballot.vote_id, option_id=option_id, picked_at=now
    )


async def _picks(session: AsyncSession, ballot_id: int) -> list[BallotPick]:
    query = select(BallotPick).where(BallotPick.ballot_id == ballot_id)
    return list((await session.exec(query.order_by(col(BallotPick.id)))).all())


async def _drafts(session: AsyncSession, ballot_id: int) -> list[BallotDraft]:
    query = select(BallotDraft).where(BallotDraft.ballot_id == ballot_id)
    return list((await session.exec(query.order_by(col(BallotDraft.id)))).all())


def voter_key(vote: Vote, actor: Actor) -> str:
    """Whose ballot a press is: the person's, or their household's in a per-household vote."""
    assert actor.residence is not None
    if vote.per_household:
        return f"h{actor.residence.household_id}"
    return f"p{actor.person_id}"


async def picks_of(session: AsyncSession, actor: Actor, vote_id: int) -> list[VoteOption]:
    """What the actor's ballot (or their household's) counts now (confirmed picks)."""
    return await _options_in(session, actor, vote_id, BallotPick)


async def draft_of(session: AsyncSession, actor: Actor, vote_id: int) -> list[VoteOption]:
    """What the draft of the actor's ballot (or their household's) holds: what ✔ 确认 would
    count."""
    return await _options_in(session, actor, vote_id, BallotDraft)


async def _options_in(
    session: AsyncSession, actor: Actor, vote_id: int, table: type[BallotPick | BallotDraft]
) -> list[VoteOption]:
    vote = await get_vote(session, vote_id)
    if actor.residence is None:
        return []
    key = voter_key(vote, actor)
    query = (
        select(VoteOption)
        .join(table, col(table.option_id) == col(VoteOption.id))
        .join(Ballot, col(Ballot.id) == col(table.ballot_id))
        .where(Ballot.vote_id == vote_id, Ballot.voter_key == key)
        .order_by(col(VoteOption.position))
    )
    return list((await session.exec(query)).all())


async def tally(session: AsyncSession, vote_id: int) -> dict[int, int]:
    """Picks per option id (options nobody picked are absent)."""
    query = (
        select(BallotPick.option_id, func.count())
        .where(BallotPick.vote_id == vote_id)
        .group_by(col(BallotPick.option_id))
    )
    return dict((await session.exec(query)).all())


async def voter_count(session: AsyncSession, vote_id: int) -> int:
    """Ballots that pick something (a voter who took every pick back has not voted)."""
    query = select(func.count(func.distinct(BallotPick.ballot_id))).where(
        BallotPick.vote_id == vote_id
    )
    return (await session.exec(query)).one()


async def on_roll(session: AsyncSession, vote: Vote, person_id: int) -> bool:
    """Whether the person is on the roll of a vote limited to its item's participants (True
    for every other vote: it has no roll)."""
    if not vote.stakeholders:
        return True
    found = await session.exec(
        select(VoteVoter.id).where(VoteVoter.vote_id == vote.id, VoteVoter.person_id == person_id)
    )
    return found.first() is not None


def _electorate(vote: Vote) -> list[object]:
    """The memberships that may vote: approved, in the vote's village (and grids, or of the
    people on its roll)."""
    where = [
        col(Membership.village_id) == vote.village_id,
        col(Membership.status) == MembershipStatus.APPROVED,
    ]
    if vote.grid_ids:
        where.append(col(Membership.grid_id).in_(vote.grid_ids))
    if vote.stakeholders:
        roll = select(VoteVoter.person_id).where(VoteVoter.vote_id == vote.id)
        where.append(col(Membership.person_id).in_(roll))
    return where


async def _eligible(session: AsyncSession, vote: Vote) -> list[object]:
    """Who may vote: the approved residents now (a person who left is not), and in a
    per-household vote not tenants, unless the village lets tenants share the vote."""
    where = _electorate(vote)
    if vote.per_household:
        await _household_rule(session, vote.village_id, where)
    return where


async def _household_rule(session: AsyncSession, village_id: int, where: list[object]) -> None:
    """In a per-household vote tenants vote only if the village lets them share the vote."""
    village = await org.get_village(session, village_id)
    if not village.tenants_vote:
        where.append(col(Membership.tenant).is_(False))


async def _count(
    session: AsyncSession, village_id: int, where: list[object], *, per_household: bool
) -> int:
    """The memberships `where` selects (or their households), under the household rule."""
    where = list(where)
    if per_household:
        await _household_rule(session, village_id, where)
    counted = func.count(func.distinct(Membership.household_id)) if per_household else func.count()
    query = select(counted).select_from(Membership).where(*where)
    return (await session.exec(query)).one()


async def _check_household_voter(
    session: AsyncSession, vote: Vote, actor: Actor, key: str
) -> None:
    """In a per-household vote a tenant votes only if the village says so, and a person who
    moved household during the vote has one ballot: the one cast for their former household."""
    assert actor.residence is not None
    if actor.residence.tenant:
        village = await org.get_village(session, vote.village_id)
        if not village.tenants_vote:
            raise NotAllowed(
                N_(
                    "In this vote each household has one vote, and in this village tenants "
                    "do not vote for the household they rent in."
                )
            )
    earlier = await session.exec(
        select(Ballot.id).where(
            Ballot.vote_id == vote.id,
            Ballot.person_id == actor.person_id,
            Ballot.voter_key != key,
            col(Ballot.id).in_(select(BallotPick.ballot_id)),
        )
    )
    if earlier.first() is not None:
        raise AlreadyDone(N_("You already voted in this vote for your former household."))


async def eligible_count(session: AsyncSession, vote: Vote) -> int:
    """Approved residents of the village (of its grids, or on its roll, when the vote is
    narrowed), or their households when one vote per household."""
    return await _count(
        session, vote.village_id, _electorate(vote), per_household=vote.per_household
    )


async def non_voters(session: AsyncSession, vote: Vote) -> list[Person]:
    """Eligible people who have not voted (nor their household, when per household)."""
    voted = (
        select(Ballot.household_id if vote.per_household else Ballot.person_id)
        .join(BallotPick, col(BallotPick.ballot_id) == col(Ballot.id))
        .where(Ballot.vote_id == vote.id)
    )
    who = col(Membership.household_id) if vote.per_household else col(Membership.person_id)
    query = (
        select(Person)
        .join(Membership, col(Membership.person_id) == col(Person.id))
        .where(*await _eligible(session, vote), who.not_in(voted))
        .order_by(col(Person.id))
    )
    return list((await session.exec(query)).all())


@dataclass(frozen=True)
class VoteView:
    """Everything a card or a result shows."""

    vote: Vote
    village: Village
    options: list[VoteOption]
    counts: dict[int, int]  # online picks per option id
    eligible: int
    online_voters: int
    proposal: Proposal | None = None
    grids: list[str] = field(default_factory=list)  # the electorate's grids; empty: all

    @property
    def paper(self) -> dict[int, int]:
        """Paper ballots per option id, once entered (else empty)."""
        if self.vote.paper_at is None:
            return {}
        return {o.id or 0: o.paper_count or 0 for o in self.options}

    @property
    def paper_voters(self) -> int:
        return self.vote.paper_voters or 0 if self.vote.paper_at is not None else 0

    def total(self, option: VoteOption) -> int:
        return self.counts.get(option.id or 0, 0) + self.paper.get(option.id or 0, 0)

    @property
    def voters(self) -> int:
        """Who voted, online and on paper."""
        return self.online_voters + self.paper_voters

    @property
    def winners(self) -> list[VoteOption]:
        """The options the vote decides, by its rule: the `max_picks` most picked (ties at
        the edge all in; an option nobody picked never), or each picked by more than half of
        those who voted."""
        picked = [o for o in self.options if self.total(o) > 0]
        if self.vote.decide_rule == DecideRule.MAJORITY:
            return [o for o in picked if self.total(o) * 2 > self.voters]
        ranked = sorted(picked, key=lambda o: -self.total(o))
        if len(ranked) <= self.vote.max_picks:
            return ranked
        edge = self.total(ranked[self.vote.max_picks - 1])
        return [o for o in ranked if self.total(o) >= edge]

    @property
    def quorum_needed(self) -> int | None:
        percent = self.vote.quorum_percent
        return None if percent is None else -(-self.eligible * percent // 100)

    @property
    def quorum_reached(self) -> bool | None:
        needed = self.quorum_needed
        # the quorum counts residents in the bot (the eligible); paper ballots come on top
        return None if needed is None else self.online_voters >= needed

    @property
    def show_tally(self) -> bool:
        return not self.vote.secret or self.vote.status == VoteStatus.CLOSED


async def vote_view(session: AsyncSession, vote_id: int) -> VoteView:
    vote = await get_vote(session, vote_id)
    village = await org.get_village(session, vote.village_id)
    proposal = await session.get(Proposal, vote.proposal_id) if vote.proposal_id else None
    if vote.status == VoteStatus.CLOSED:
        counts = {int(k): v for k, v in vote.result.items()}
        eligible, voters = vote.eligible or 0, vote.turnout or 0
    else:
        counts = await tally(session, vote_id)
        eligible = await eligible_count(session, vote)
        voters = await voter_count(session, vote_id)
    grids = [g.name for g in await org.grids_of(session, vote.village_id) if g.id in vote.grid_ids]
    options = await options_of(session, vote_id)
    return VoteView(vote, village, options, counts, eligible, voters, proposal, grids)


async def open_votes(session: AsyncSession, village_id: int | None = None) -> list[Vote]:
    query = select(Vote).where(Vote.status == VoteStatus.OPEN)
    if village_id is not None:
        query = query.where(Vote.village_id == village_id)
    return list((await session.exec(query.order_by(col(Vote.deadline)))).all())


async def closed_votes(session: AsyncSession, village_id: int, limit: int = 5) -> list[Vote]:
    query = (
        select(Vote)
        .where(Vote.village_id == village_id, Vote.status == VoteStatus.CLOSED)
        .order_by(col(Vote.closed_at).desc())
        .limit(limit)
    )
    return list((await session.exec(query)).all())


async def votes_of_year(
    session: AsyncSession, village_id: int, start: datetime, end: datetime
) -> list[Vote]:
    query = select(Vote).where(
        Vote.village_id == village_id, col(Vote.created_at) >= start, col(Vote.created_at) < end
    )
    return list((await session.exec(query.order_by(col(Vote.id)))).all())


async def voters_of(session: AsyncSession, vote_id: int) -> list[tuple[Person, Ballot]]:
    query = (
        select(Person, Ballot)
        .join(Ballot, col(Ballot.person_id) == col(Person.id))
        .where(Ballot.vote_id == vote_id, col(Ballot.id).in_(select(BallotPick.ballot_id)))
        .order_by(col(Ballot.cast_at), col(Ballot.id))
    )
    return [(p, b) for p, b in (await session.exec(query)).all()]


# --- cards in the groups -------------------------------------------------------------------


def digest(text: str, markup: dict | None) -> str:
    return hashlib.sha256(repr((text, markup)).encode()).hexdigest()


async def post_cards(
    session: AsyncSession, vote: Vote, text: str, markup: dict, *, now: datetime
) -> list[VoteCard]:
    """Send the card to every bound group of the village (through the outbox)."""
    assert vote.id is not None
    bindings = await org.bound_chats(session, vote.village_id)
    if not bindings:
        raise RuleError(N_("The village has no group for the card yet: bind one with /bindgroup."))
    cards = []
    for binding in bindings:
        message = outbox.enqueue(session, binding.chat_id, text, reply_markup=markup)
        await session.flush()
        assert message.id is not None
        card = VoteCard(
            vote_id=vote.id,
            chat_id=binding.chat_id,
            outbox_id=message.id,
            shown=digest(text, markup),
            edited_at=now,
        )
        session.add(card)
        cards.append(card)
    await session.flush()
    return cards


async def cards_of(session: AsyncSession, vote_id: int) -> list[tuple[VoteCard, int | None]]:
    """The vote's cards with the Telegram message id of each (None until it was sent)."""
    query = (
        select(VoteCard, OutboxMessage.message_id)
        .join(OutboxMessage, col(OutboxMessage.id) == col(VoteCard.outbox_id))
        .where(VoteCard.vote_id == vote_id)
        .order_by(col(VoteCard.id))
    )
    return [(card, message_id) for card, message_id in (await session.exec(query)).all()]


async def claim_card_edit(
    session: AsyncSession, card: VoteCard, shown: str, now: datetime, *, force: bool = False
) -> bool:
    """Take the right to edit a card now: it shows something else and its last edit is at
    least CARD_EDIT_INTERVAL old (`force`: the final edit at the close). Conditional, so two
    runs at once edit once."""
    if card.shown == shown:
        return False
    if not force and card.edited_at is not None and now - card.edited_at < CARD_EDIT_INTERVAL:
        return False
    last = (
        col(VoteCard.edited_at).is_(None)
        if card.edited_at is None
        else col(VoteCard.edited_at) == card.edited_at
    )
    changed = await session.exec(  # type: ignore[call-overload]
        update(VoteCard)
        .where(col(VoteCard.id) == card.id, col(VoteCard.shown) == card.shown, last)
        .values(shown=shown, edited_at=now, edits=VoteCard.edits + 1)
    )
    return bool(changed.rowcount)


# --- closing and reminding -----------------------------------------------------------------


async def due_to_close(session: AsyncSession, now: datetime) -> list[Vote]:
    query = select(Vote).where(Vote.status == VoteStatus.OPEN, col(Vote.deadline) <= now)
    return list((await session.exec(query.order_by(col(Vote.deadline)))).all())


async def due_to_remind(session: AsyncSession, now: datetime) -> list[Vote]:
    query = select(Vote).where(
        Vote.status == VoteStatus.OPEN,
        col(Vote.reminded_at).is_(None),
        col(Vote.deadline) > now,
        col(Vote.deadline) <= now + REMIND_BEFORE,
    )
    return list((await session.exec(query.order_by(col(Vote.deadline)))).all())


async def close_vote(session: AsyncSession, vote: Vote, now: datetime) -> bool:
    """Close a vote whose deadline passed and record its result; False if already closed."""
    if now < vote.deadline:
        raise RuleError(N_("This vote is still open."))
    counts = await tally(session, vote.id or 0)
    eligible = await eligible_count(session, vote)
    turnout = await voter_count(session, vote.id or 0)
    quorum = None
    if vote.quorum_percent is not None:
        quorum = turnout * 100 >= vote.quorum_percent * eligible
    closed = await transitions.move(
        session,
        Vote,
        vote.id,
        VoteStatus.OPEN,
        status=VoteStatus.CLOSED,
        closed_at=now,
        eligible=eligible,
        turnout=turnout,
        quorum_reached=quorum,
        result={str(k): v for k, v in counts.items()},
    )
    if not closed:
        return False
    await session.refresh(vote)
    if vote.proposal_id is not None:
        proposal = await get_proposal(session, vote.proposal_id)
        if proposal.status.can_become(ProposalStatus.DECIDED):
            await _move_proposal(
                session, proposal, ProposalStatus.DECIDED, now=now, decided_at=now
            )
    audit.record(
        session,
        "vote.close",
        actor_id=None,
        village_id=vote.village_id,
        vote_id=vote.id,
        turnout=turnout,
        eligible=eligible,
    )
    return True


async def mark_reminded(session: AsyncSession, vote: Vote, now: datetime) -> bool:
    changed = await session.exec(  # type: ignore[call-overload]
        update(Vote)
        .where(col(Vote.id) == vote.id, col(Vote.reminded_at).is_(None))
        .values(reminded_at=now)
    )
    return bool(changed.rowcount)


# --- paper ballots -------------------------------------------------------------------------

PAPER_WINDOW = timedelta(hours=1)  # after the close, paper ballots may still be entered
PAPER_VOTERS_MAX = 100_000


def paper_open(vote: Vote, now: datetime) -> bool:
    """Paper ballots go in once, while the vote is open or within an hour of its close."""
    if vote.paper_at is not None:
        return False
    if vote.status == VoteStatus.OPEN:
        return True
    closed = aware(vote.closed_at)
    return closed is not None and now - closed <= PAPER_WINDOW


async def paper_votes(session: AsyncSession, actor: Actor, now: datetime) -> list[Vote]:
    """The votes of the actor's villages whose paper ballots may still be entered."""
    since = now - PAPER_WINDOW
    query = select(Vote).where(
        col(Vote.paper_at).is_(None),
        (col(Vote.status) == VoteStatus.OPEN) | (col(Vote.closed_at) >= since),
    )
    found = (await session.exec(query.order_by(col(Vote.deadline)))).all()
    return [
        v for v in found if VotePermissions.can_manage(actor, v.village_id) and paper_open(v, now)
    ]


async def enter_paper(
    session: AsyncSession,
    actor: Actor,
    vote_id: int,
    *,
    counts: dict[int, int],
    voters: int,
    now: datetime,
) -> Vote:
    """The paper ballots of a vote, per option and in all, entered once by an admin of its
    village, while it is open or within an hour after it closed (audited)."""
    vote = await get_vote(session, vote_id)
    if not VotePermissions.can_manage(actor, vote.village_id):
        raise NotAllowed(N_("Only this village's admins can enter paper ballots."))
    if vote.paper_at is not None:
        raise AlreadyDone(N_("The paper ballots of this vote are entered already."))
    if not paper_open(vote, now):
        raise RuleError(N_("Paper ballots can be entered until an hour after the vote closes."))
    options = await options_of(session, vote_id)
    if set(counts) != {o.id for o in options}:
        raise RuleError(N_("Please give a count for every option."))
    if not 0 <= voters <= PAPER_VOTERS_MAX or any(not 0 <= c <= voters for c in counts.values()):
        raise RuleError(N_("No option can have more paper ballots than there are paper voters."))
    if sum(counts.values()) > voters * vote.max_picks:
        raise RuleError(
            N_("{voters} paper voters can pick at most {count} options in all."),
            voters=voters,
            count=voters * vote.max_picks,
        )
    entered = await session.exec(  # type: ignore[call-overload]
        update(Vote)
        .where(col(Vote.id) == vote_id, col(Vote.paper_at).is_(None))
        .values(paper_voters=voters, paper_at=now, paper_by=actor.person_id)
    )
    if not entered.rowcount:
        raise AlreadyDone(N_("The paper ballots of this vote are entered already."))
    for option in options:
        option.paper_count = counts[option.id or 0]
        session.add(option)
    audit.record(
        session,
        "vote.paper",
        actor_id=actor.person_id,
        village_id=vote.village_id,
        vote_id=vote_id,
        voters=voters,
        counts={str(k): v for k, v in sorted(counts.items())},
    )
    await session.flush()
    await session.refresh(vote)
    return vote


# --- households that change (storage.org_changes) -----------------------------------------


async def follow_household_merge(
    session: AsyncSession, village_id: int, merged_id: int, keep_id: int
) -> int:
    """In every open per-household vote, the merged household's ballot becomes the kept one's.
    When both had voted, the later ballot is kept (the last choice made for the household,
    by its cast or change time; the kept household's on a tie) and the other is removed; a
    ballot that counts is kept over one that is a draft only (a draft follows its ballot).
    Closed votes keep their record. Returns how many ballots that counted were removed."""
    open_votes = select(Vote.id).where(
        Vote.village_id == village_id,
        Vote.status == VoteStatus.OPEN,
        col(Vote.per_household).is_(True),
    )
    ballots = (
        await session.exec(
            select(Ballot).where(
                col(Ballot.vote_id).in_(open_votes),
                col(Ballot.voter_key).in_([f"h{merged_id}", f"h{keep_id}"]),
            )
        )
    ).all()
    by_vote: dict[int, list[Ballot]] = {}
    for ballot in ballots:
        by_vote.setdefault(ballot.vote_id, []).append(ballot)
    counting = set(
        (
            await session.exec(
                select(BallotPick.ballot_id).where(
                    col(BallotPick.ballot_id).in_([b.id for b in ballots])
                )
            )
        ).all()
    )
    removed = 0
    for vote_id, pair in by_vote.items():
        kept = max(  # a ballot that counts over a draft
            pair,
            key=lambda b: (
                b.id in counting,
                b.changed_at or b.cast_at,
                b.voter_key == f"h{keep_id}",
            ),
        )
        for other in pair:
            if other.id != kept.id:
                for table in (BallotPick, BallotDraft):
                    await session.exec(delete(table).where(col(table.ballot_id) == other.id))  # type: ignore[call-overload]
                await session.exec(delete(Ballot).where(col(Ballot.id) == other.id))  # type: ignore[call-overload]
                removed += other.id in counting
                audit.record(
                    session,
                    "vote.merge_ballot",
                    actor_id=None,
                    village_id=village_id,
                    vote_id=vote_id,
                    removed_person=other.person_id,
                    kept_person=kept.person_id,
                )
        if kept.voter_key != f"h{keep_id}":
            await session.exec(  # type: ignore[call-overload]
                update(Ballot)
                .where(col(Ballot.id) == kept.id)
                .values(voter_key=f"h{keep_id}", household_id=keep_id)
            )
    return removed
