"""Consultation and voting rules (协商式): proposals, their screening, votes and ballots.

A ballot is a row unique per (vote, voter key); the voter key is the person, or their household
when the village votes one per household. A press inserts it in a savepoint; when the row
exists already the press is a change of mind (same person) or refused (another member of the
household). So concurrent presses count once. Closing is a conditional update (open -> closed,
deadline passed), done once however often the job runs.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import audit, org, outbox, transitions
from storage.db import add_unique, get_or_missing
from storage.errors import N_, AlreadyDone, NotAllowed, NotFound, RuleError
from storage.models.common import OutboxMessage
from storage.models.org import Membership, MembershipStatus, Person, Village
from storage.models.votes import (
    Ballot,
    Proposal,
    ProposalStatus,
    Vote,
    VoteCard,
    VoteOption,
    VoteSettings,
    VoteStatus,
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
) -> Vote:
    """A new open vote; `post_cards` then puts it into the village's groups."""
    if not VotePermissions.can_manage(actor, village_id):
        raise NotAllowed(N_("Only this village's admins can put a vote."))
    await org.get_village(session, village_id)
    question = org.require_text(question, QUESTION_MAX)
    labels = clean_options(options)
    if not now + DEADLINE_MIN <= deadline <= now + DEADLINE_MAX:
        raise RuleError(N_("The deadline must be between one hour and 60 days from now."))
    if quorum_percent is not None and not 1 <= quorum_percent <= 100:
        raise RuleError(N_("The quorum is a percentage from 1 to 100."))
    if proposal_id is not None:
        proposal = await get_proposal(session, proposal_id)
        if proposal.village_id != village_id:
            raise NotFound(N_("That proposal no longer exists."))
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
    )
    session.add(vote)
    await session.flush()
    assert vote.id is not None
    session.add_all(
        VoteOption(vote_id=vote.id, position=n, label=label) for n, label in enumerate(labels)
    )
    audit.record(
        session,
        "vote.create",
        actor_id=actor.person_id,
        village_id=village_id,
        vote_id=vote.id,
        options=labels,
        secret=secret,
    )
    await session.flush()
    return vote


async def get_vote(session: AsyncSession, vote_id: int) -> Vote:
    return await get_or_missing(session, Vote, vote_id, N_("That vote no longer exists."))


async def options_of(session: AsyncSession, vote_id: int) -> list[VoteOption]:
    query = select(VoteOption).where(VoteOption.vote_id == vote_id)
    return list((await session.exec(query.order_by(col(VoteOption.position)))).all())


@dataclass(frozen=True)
class Cast:
    """The outcome of a press: a new ballot, a change of mind, or the same choice again."""

    vote: Vote
    option: VoteOption
    changed: bool


async def cast(
    session: AsyncSession,
    actor: Actor | None,
    *,
    vote_id: int,
    option_id: int,
    chat_id: int,
    now: datetime,
) -> Cast:
    """Record (or change) a ballot, after checking the card's group, the deadline and the voter.

    The unique (vote, voter key) row makes concurrent presses count once.
    """
    vote = await get_vote(session, vote_id)
    binding = await org.binding_of(session, chat_id)
    if binding is None or binding.village_id != vote.village_id:
        raise NotFound(N_("This vote belongs to another village."))
    if vote.status != VoteStatus.OPEN or now >= vote.deadline:
        raise AlreadyDone(N_("This vote is closed."))
    if actor is None or not VotePermissions.can_vote(actor, vote) or actor.residence is None:
        village = await org.get_village(session, vote.village_id)
        raise NotAllowed(
            N_("Only approved residents of {village} can vote here."), village=village.name
        )
    option = await session.get(VoteOption, option_id)
    if option is None or option.vote_id != vote_id:
        raise NotFound(N_("That option is not part of this vote."))
    household_id = actor.residence.household_id
    key = f"h{household_id}" if vote.per_household else f"p{actor.person_id}"
    if vote.per_household:
        await _check_household_voter(session, vote, actor, key)
    ballot = Ballot(
        vote_id=vote_id,
        voter_key=key,
        person_id=actor.person_id,
        household_id=household_id,
        option_id=option_id,
        cast_at=now,
    )
    if not await add_unique(session, ballot):  # this voter has a ballot: change it
        return await _change(session, vote, option, actor, key, now)
    audit.record(
        session, "vote.cast", actor_id=actor.person_id, village_id=vote.village_id, vote_id=vote_id
    )
    return Cast(vote, option, changed=False)


async def _change(
    session: AsyncSession, vote: Vote, option: VoteOption, actor: Actor, key: str, now: datetime
) -> Cast:
    """The voter key has a ballot: its own caster may change it; others of the household not."""
    query = select(Ballot).where(Ballot.vote_id == vote.id, Ballot.voter_key == key)
    existing = (await session.exec(query.with_for_update())).one()
    if existing.person_id != actor.person_id:
        raise AlreadyDone(N_("Someone of your household has already voted."))
    if existing.option_id == option.id:
        raise AlreadyDone(N_("Your vote is already recorded. You can still change it."))
    await session.exec(  # type: ignore[call-overload]
        update(Ballot)
        .where(col(Ballot.id) == existing.id)
        .values(option_id=option.id, changed_at=now)
    )
    audit.record(
        session,
        "vote.change",
        actor_id=actor.person_id,
        village_id=vote.village_id,
        vote_id=vote.id,
    )
    return Cast(vote, option, changed=True)


async def tally(session: AsyncSession, vote_id: int) -> dict[int, int]:
    """Ballots per option id (options without ballots are absent)."""
    query = (
        select(Ballot.option_id, func.count())
        .where(Ballot.vote_id == vote_id)
        .group_by(col(Ballot.option_id))
    )
    return dict((await session.exec(query)).all())


def _approved(village_id: int) -> list[object]:
    return [
        col(Membership.village_id) == village_id,
        col(Membership.status) == MembershipStatus.APPROVED,
    ]


async def _eligible(session: AsyncSession, vote: Vote) -> list[object]:
    """Who may vote: the approved residents now (a person who left is not), and in a
    per-household vote not tenants, unless the village lets tenants share the vote."""
    where = _approved(vote.village_id)
    if vote.per_household:
        village = await org.get_village(session, vote.village_id)
        if not village.tenants_vote:
            where.append(col(Membership.tenant).is_(False))
    return where


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
        )
    )
    if earlier.first() is not None:
        raise AlreadyDone(N_("You already voted in this vote for your former household."))


async def eligible_count(session: AsyncSession, vote: Vote) -> int:
    """Approved residents of the village, or their households when one vote per household."""
    counted = (
        func.count(func.distinct(Membership.household_id)) if vote.per_household else func.count()
    )
    query = select(counted).select_from(Membership).where(*await _eligible(session, vote))
    return (await session.exec(query)).one()


async def non_voters(session: AsyncSession, vote: Vote) -> list[Person]:
    """Eligible people who have not voted (nor their household, when per household)."""
    voted = select(Ballot.household_id if vote.per_household else Ballot.person_id).where(
        Ballot.vote_id == vote.id
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
    counts: dict[int, int]
    eligible: int
    proposal: Proposal | None = None

    @property
    def voters(self) -> int:
        return sum(self.counts.values())

    @property
    def quorum_needed(self) -> int | None:
        percent = self.vote.quorum_percent
        return None if percent is None else -(-self.eligible * percent // 100)

    @property
    def quorum_reached(self) -> bool | None:
        needed = self.quorum_needed
        return None if needed is None else self.voters >= needed

    @property
    def show_tally(self) -> bool:
        return not self.vote.secret or self.vote.status == VoteStatus.CLOSED


async def vote_view(session: AsyncSession, vote_id: int) -> VoteView:
    vote = await get_vote(session, vote_id)
    village = await org.get_village(session, vote.village_id)
    proposal = await session.get(Proposal, vote.proposal_id) if vote.proposal_id else None
    if vote.status == VoteStatus.CLOSED:
        counts = {int(k): v for k, v in vote.result.items()}
        eligible = vote.eligible or 0
    else:
        counts = await tally(session, vote_id)
        eligible = await eligible_count(session, vote)
    return VoteView(vote, village, await options_of(session, vote_id), counts, eligible, proposal)


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
        .where(Ballot.vote_id == vote_id)
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
    turnout = sum(counts.values())
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


# --- households that change (storage.org_changes) -----------------------------------------


async def follow_household_merge(
    session: AsyncSession, village_id: int, merged_id: int, keep_id: int
) -> int:
    """In every open per-household vote, the merged household's ballot becomes the kept one's.
    When both had voted, the later ballot is kept (the last choice made for the household,
    by its cast or change time; the kept household's on a tie) and the other is removed.
    Closed votes keep their record. Returns how many ballots were removed."""
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
    removed = 0
    for vote_id, pair in by_vote.items():
        kept = max(
            pair,
            key=lambda b: (b.changed_at or b.cast_at, b.voter_key == f"h{keep_id}"),
        )
        for other in pair:
            if other.id != kept.id:
                await session.exec(delete(Ballot).where(col(Ballot.id) == other.id))  # type: ignore[call-overload]
                removed += 1
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
