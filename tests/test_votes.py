"""Consultation and voting rules on both databases: eligibility, one vote per person or
household under concurrent presses, changes until the deadline, closing and reminding once,
secrecy, proposals and the export."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from sqlmodel import col, select

from exports.votes import export_votes
from schedules import votes as vote_jobs
from schedules.runtime import Runtime
from storage import org, votes
from storage.clock import Clock
from storage.db import SessionFactory, unit_of_work
from storage.errors import AlreadyDone, NotAllowed, NotFound, RuleError
from storage.models.common import OutboxMessage
from storage.models.org import MembershipStatus, Role
from storage.models.votes import Ballot, ProposalStatus, Vote, VoteStatus
from storage.permissions.org import Actor, Residence, RoleHeld
from storage.permissions.votes import VotePermissions
from tests.village_builder import VillagePlan
from views.i18n import PoI18n
from views.votes import card_markup, card_text

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)


@dataclass
class Place:
    village_id: int
    admin: Actor
    residents: list[Actor]  # approved; residents[0] and [1] share a household
    pending: Actor
    group_id: int


async def make_place(
    sessions: SessionFactory, residents: int = 4, *, per_household: bool = False
) -> Place:
    """A village with one grid, approved residents (two in one household), one pending, a
    bound group and an admin."""
    plan = VillagePlan().grid("一网格")
    for i in range(residents + 1):
        if i != 1:  # residents 0 and 1 share a household
            home = f"{plan.base}-{i}"
            plan.household(home, grid="一网格")
        status = MembershipStatus.APPROVED if i < residents else MembershipStatus.PENDING
        plan.resident(f"居民{i}", home=home, status=status)
    plan.admin("书记").group()
    async with unit_of_work(sessions) as session:
        v = await plan.build(session)
        if per_household:
            await votes.set_rule(
                session, v.actor("书记"), v.village_id, per_household=True, now=NOW
            )
    actors = [v.actor(f"居民{i}") for i in range(residents + 1)]
    return Place(v.village_id, v.actor("书记"), actors[:residents], actors[residents], v.group_id)


async def open_vote(
    sessions: SessionFactory,
    place: Place,
    *,
    secret: bool = False,
    quorum: int | None = None,
    question: str = "修路吗？",
    options: tuple[str, ...] = ("同意", "不同意", "弃权"),
    **rules: object,
) -> tuple[int, list[int]]:
    """An open vote with its card in the place's group; `rules`: max_picks, decide_rule,
    grid_ids."""
    async with unit_of_work(sessions) as session:
        vote = await votes.create_vote(
            session,
            place.admin,
            village_id=place.village_id,
            question=question,
            options=list(options),
            deadline=NOW + timedelta(days=3),
            secret=secret,
            quorum_percent=quorum,
            now=NOW,
            **rules,  # type: ignore[arg-type]
        )
        await votes.post_cards(session, vote, "card", {"inline_keyboard": []}, now=NOW)
        option_ids = [o.id or 0 for o in await votes.options_of(session, vote.id or 0)]
    return vote.id or 0, option_ids


async def press(
    sessions: SessionFactory,
    place: Place,
    actor: Actor | None,
    vote_id: int,
    option_id: int,
    *,
    at: datetime = NOW,
    chat_id: int | None = None,
) -> votes.Cast:
    async with unit_of_work(sessions) as session:
        return await votes.cast(
            session,
            actor,
            vote_id=vote_id,
            option_id=option_id,
            chat_id=place.group_id if chat_id is None else chat_id,
            now=at,
        )


async def confirm(
    sessions: SessionFactory,
    place: Place,
    actor: Actor | None,
    vote_id: int,
    *,
    at: datetime = NOW,
    chat_id: int | None = None,
) -> votes.Confirmed:
    """✔ 确认 on a pick-several card: the draft becomes the ballot."""
    async with unit_of_work(sessions) as session:
        return await votes.confirm(
            session,
            actor,
            vote_id=vote_id,
            chat_id=place.group_id if chat_id is None else chat_id,
            now=at,
        )


async def pick(
    sessions: SessionFactory,
    place: Place,
    actor: Actor,
    vote_id: int,
    options: list[int],
    *,
    at: datetime = NOW,
) -> votes.Confirmed:
    """Press each option of a pick-several card, then ✔ 确认: how an online voter votes."""
    for option in options:
        await press(sessions, place, actor, vote_id, option, at=at)
    return await confirm(sessions, place, actor, vote_id, at=at)


def runtime(sessions: SessionFactory, clock: Clock) -> Runtime:
    PoI18n().activate()
    jobs = {job.name: job for job in (vote_jobs.CARDS, vote_jobs.REMINDER, vote_jobs.CLOSE)}
    return Runtime(sessions, clock, SHANGHAI, jobs=jobs)


# --- permissions ---------------------------------------------------------------------------


def test_vote_permissions() -> None:
    vote = Vote(village_id=1, question="q", deadline=NOW)
    home = Residence(1, 1, 1, 1, MembershipStatus.APPROVED)
    resident = Actor(person_id=1, telegram_id=1, residence=home)
    pending = Actor(2, 2, residence=Residence(2, 1, 1, 1, MembershipStatus.PENDING))
    elsewhere = Actor(3, 3, residence=Residence(3, 2, 2, 2, MembershipStatus.APPROVED))
    admin = Actor(4, 4, roles=frozenset({RoleHeld(Role.VILLAGE_ADMIN, 1)}))
    assert VotePermissions.can_vote(resident, vote)
    assert not VotePermissions.can_vote(pending, vote)
    assert not VotePermissions.can_vote(elsewhere, vote)
    assert not VotePermissions.can_vote(admin, vote)  # a role is not a home
    assert VotePermissions.can_manage(admin, 1) and not VotePermissions.can_manage(resident, 1)
    assert VotePermissions.can_propose(resident) and not VotePermissions.can_propose(pending)
    vote.status = VoteStatus.CLOSED
    assert not VotePermissions.can_vote(resident, vote)


# --- casting -------------------------------------------------------------------------------


async def test_a_vote_is_cast_changed_and_refused_when_not_eligible(
    sessions: SessionFactory,
) -> None:
    place = await make_place(sessions)
    other = await make_place(sessions)
    vote_id, (agree, disagree, _abstain) = await open_vote(sessions, place)
    alice = place.residents[0]

    first = await press(sessions, place, alice, vote_id, agree)
    assert not first.changed and first.option.label == "同意"
    with pytest.raises(AlreadyDone):
        await press(sessions, place, alice, vote_id, agree)
    changed = await press(sessions, place, alice, vote_id, disagree)
    assert changed.changed

    with pytest.raises(NotAllowed):  # still pending
        await press(sessions, place, place.pending, vote_id, agree)
    with pytest.raises(NotAllowed):  # a resident of another village, in this group
        await press(sessions, place, other.residents[0], vote_id, agree)
    with pytest.raises(NotAllowed):  # an admin without a home here
        await press(sessions, place, place.admin, vote_id, agree)
    with pytest.raises(NotAllowed):  # someone the bot knows nothing of
        await press(sessions, place, None, vote_id, agree)
    with pytest.raises(NotFound):  # the card pressed in another village's group
        await press(sessions, place, other.residents[0], vote_id, agree, chat_id=other.group_id)
    with pytest.raises(NotFound):  # an option of no such vote
        await press(sessions, place, place.residents[2], vote_id, agree + 1000)
    with pytest.raises(AlreadyDone):  # at the deadline
        await press(
            sessions, place, place.residents[2], vote_id, agree, at=NOW + timedelta(days=3)
        )

    async with sessions() as session:
        assert await votes.tally(session, vote_id) == {disagree: 1}


async def test_concurrent_presses_count_once(sessions: SessionFactory) -> None:
    place = await make_place(sessions, residents=6)
    vote_id, (agree, disagree, abstain) = await open_vote(sessions, place)
    alice = place.residents[0]
    # The same person pressing eight times at once, and five others once each, concurrently.
    presses = [press(sessions, place, alice, vote_id, agree) for _ in range(8)]
    presses += [press(sessions, place, r, vote_id, disagree) for r in place.residents[1:]]
    outcomes = await asyncio.gather(*presses, return_exceptions=True)
    refused = [o for o in outcomes if isinstance(o, AlreadyDone)]
    assert len(refused) == 7 and not [o for o in outcomes if isinstance(o, Exception)][7:]
    async with sessions() as session:
        assert await votes.tally(session, vote_id) == {agree: 1, disagree: 5}
        ballots = (await session.exec(select(Ballot).where(Ballot.vote_id == vote_id))).all()
        assert len(ballots) == 6


async def test_one_vote_per_household_also_when_both_press_at_once(
    sessions: SessionFactory,
) -> None:
    place = await make_place(sessions, per_household=True)
    vote_id, (agree, disagree, _abstain) = await open_vote(sessions, place)
    husband, wife = place.residents[0], place.residents[1]
    outcomes = await asyncio.gather(
        press(sessions, place, husband, vote_id, agree),
        press(sessions, place, wife, vote_id, disagree),
        return_exceptions=True,
    )
    assert sum(isinstance(o, votes.Cast) for o in outcomes) == 1
    assert sum(isinstance(o, AlreadyDone) for o in outcomes) == 1
    async with sessions() as session:
        assert sum((await votes.tally(session, vote_id)).values()) == 1
        vote = await votes.get_vote(session, vote_id)
        # 4 approved residents in 3 households (the first two share one)
        assert await votes.eligible_count(session, vote) == 3
        non_voters = {p.id for p in await votes.non_voters(session, vote)}
        assert husband.person_id not in non_voters and wife.person_id not in non_voters
        assert len(non_voters) == 2


async def test_create_vote_checks(sessions: SessionFactory) -> None:
    place = await make_place(sessions)
    async with sessions() as session:
        with pytest.raises(NotAllowed):
            await votes.create_vote(
                session,
                place.residents[0],
                village_id=place.village_id,
                question="q",
                options=["a", "b"],
                deadline=NOW + timedelta(days=1),
                secret=False,
                quorum_percent=None,
                now=NOW,
            )
        for options, deadline in (
            (["a"], NOW + timedelta(days=1)),
            ([str(i) for i in range(11)], NOW + timedelta(days=1)),
            (["a", "a"], NOW + timedelta(days=1)),
            (["a", "b"], NOW + timedelta(minutes=5)),
        ):
            with pytest.raises(RuleError):
                await votes.create_vote(
                    session,
                    place.admin,
                    village_id=place.village_id,
                    question="q",
                    options=options,
                    deadline=deadline,
                    secret=False,
                    quorum_percent=None,
                    now=NOW,
                )


# --- jobs ----------------------------------------------------------------------------------


async def test_cards_are_edited_at_a_bounded_rate(sessions: SessionFactory) -> None:
    place = await make_place(sessions, residents=5)
    vote_id, options = await open_vote(sessions, place)
    async with unit_of_work(sessions) as session:  # the card was sent: message 7
        card, _ = (await votes.cards_of(session, vote_id))[0]
        row = await session.get(OutboxMessage, card.outbox_id)
        assert row is not None
        row.message_id, row.status = 7, "sent"
        session.add(row)
    clock = Clock()
    clock.travel_to(NOW + timedelta(seconds=10))
    jobs = runtime(sessions, clock)
    edits = 0
    for i, resident in enumerate(place.residents):
        await press(sessions, place, resident, vote_id, options[0], at=clock.now())
        clock.advance(timedelta(seconds=2))
        edits += (await jobs.run("vote_cards")).get("edits", 0)
        if i == 0:
            assert edits == 1  # the first vote shows at once
    # 5 presses 2 s apart: edits at most every 6 s; the last change shows after the pause.
    assert edits == 2
    clock.advance(timedelta(seconds=6))
    assert (await jobs.run("vote_cards")).get("edits") == 1
    assert (await jobs.run("vote_cards")).get("edits") is None  # nothing new
    async with sessions() as session:
        rows = (
            await session.exec(
                select(OutboxMessage).where(OutboxMessage.method == "editMessageText")
            )
        ).all()
        mine = [r for r in rows if r.chat_id == place.group_id]
        assert len(mine) == 3 and all(r.payload["message_id"] == 7 for r in mine)
        assert "5" in mine[-1].payload["text"]


async def test_closing_happens_once_and_after_downtime(sessions: SessionFactory) -> None:
    place = await make_place(sessions)
    vote_id, (agree, disagree, _abstain) = await open_vote(sessions, place, quorum=50)
    await press(sessions, place, place.residents[0], vote_id, agree)
    await press(sessions, place, place.residents[1], vote_id, disagree)
    await press(sessions, place, place.residents[2], vote_id, agree)
    clock = Clock()
    clock.travel_to(NOW + timedelta(days=3, hours=-1))
    jobs = runtime(sessions, clock)
    assert await jobs.run("vote_close") == {}  # not yet
    clock.travel_to(NOW + timedelta(days=5))  # the bot was down at the deadline
    first, second = await asyncio.gather(jobs.run("vote_close"), jobs.run("vote_close"))
    assert [first, second].count({}) == 1, (first, second)
    assert await jobs.run("vote_close") == {}
    async with sessions() as session:
        vote = await votes.get_vote(session, vote_id)
        assert vote.status == VoteStatus.CLOSED and vote.turnout == 3 and vote.eligible == 4
        assert vote.quorum_reached is True
        assert vote.result == {str(agree): 2, str(disagree): 1}
        posts = (
            await session.exec(
                select(OutboxMessage).where(
                    OutboxMessage.chat_id == place.group_id,
                    OutboxMessage.method == "sendMessage",
                    col(OutboxMessage.batch).is_not(None),
                )
            )
        ).all()
        assert len(posts) == 1
        assert "3" in posts[0].payload["text"] and "50%" in posts[0].payload["text"]
    with pytest.raises(AlreadyDone):
        await press(sessions, place, place.residents[3], vote_id, agree, at=NOW)


async def test_reminder_goes_once_to_those_who_have_not_voted(sessions: SessionFactory) -> None:
    place = await make_place(sessions)
    vote_id, options = await open_vote(sessions, place)
    await press(sessions, place, place.residents[0], vote_id, options[0])
    clock = Clock()
    clock.travel_to(NOW + timedelta(days=1))
    jobs = runtime(sessions, clock)
    assert await jobs.run("vote_reminder") == {}  # two days before: too early
    clock.travel_to(NOW + timedelta(days=2, hours=1))
    assert await jobs.run("vote_reminder") == {f"v{vote_id}": 3}
    clock.advance(timedelta(hours=1))
    assert await jobs.run("vote_reminder") == {}
    async with sessions() as session:
        rows = (
            await session.exec(
                select(OutboxMessage).where(OutboxMessage.batch == f"vote_reminder:v{vote_id}")
            )
        ).all()
        told = {r.chat_id for r in rows}
        ids = {a.telegram_id for a in place.residents[1:]}
        assert told == ids  # not the voter, not the pending one


async def test_a_secret_vote_never_shows_a_choice(
    sessions: SessionFactory, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level("DEBUG")
    place = await make_place(sessions)
    async with unit_of_work(sessions) as session:
        vote = await votes.create_vote(
            session,
            place.admin,
            village_id=place.village_id,
            question="选谁？",
            options=["张三ALPHA", "李四BRAVO"],
            deadline=NOW + timedelta(days=1),
            secret=True,
            quorum_percent=None,
            now=NOW,
        )
        vote_id = vote.id or 0
        options = await votes.options_of(session, vote_id)
        PoI18n().activate()

        view = await votes.vote_view(session, vote_id)
        await votes.post_cards(
            session, vote, card_text(view, "en", SHANGHAI), card_markup(view, "en"), now=NOW
        )
    await press(sessions, place, place.residents[0], vote_id, options[0].id or 0)
    await press(sessions, place, place.residents[1], vote_id, options[1].id or 0)
    await press(sessions, place, place.residents[1], vote_id, options[0].id or 0)
    clock = Clock()
    clock.travel_to(NOW + timedelta(days=1))
    jobs = runtime(sessions, clock)
    await jobs.run("vote_cards")
    await jobs.run("vote_close")
    out = tmp_path / "votes.xlsx"

    async with sessions() as session:
        village = await org.get_village(session, place.village_id)
        await export_votes(session, village.name, 2026, out)
        texts = [str(r.payload) for r in (await session.exec(select(OutboxMessage))).all()]
        audits = [str(a.detail) for a in await __import__("storage").audit.entries(session)]
    cells = [
        str(c.value) for ws in load_workbook(out) for row in ws.iter_rows() for c in row if c.value
    ]
    # The options are named in the card (as buttons) and the result; never next to a voter.
    for name in ("居民0", "居民1"):
        for text in [*texts, *audits, *(r.getMessage() for r in caplog.records)]:
            assert not (name in text and ("ALPHA" in text or "BRAVO" in text)), text
    # The public workbook names nobody; the admins' record lists who voted in named votes
    # only, so a secret vote is not in it at all.
    assert not [c for c in cells if "居民" in c]
    record = tmp_path / "record.xlsx"
    async with sessions() as session:
        await export_votes(session, village.name, 2026, record, record=True)
    record_cells = [
        str(c.value)
        for ws in load_workbook(record)
        for row in ws.iter_rows()
        for c in row
        if c.value
    ]
    assert not [c for c in record_cells if "居民" in c or "ALPHA" in c or "BRAVO" in c]
    assert sum(1 for c in cells if c == "2") >= 1  # the tally itself is exported after the close


# --- proposals -----------------------------------------------------------------------------


async def test_proposals_are_numbered_screened_and_decided_by_the_vote(
    sessions: SessionFactory,
) -> None:
    place = await make_place(sessions)
    async with unit_of_work(sessions) as session:
        made = await asyncio.gather(
            *[
                votes.submit_proposal(
                    session, r, title=f"路灯{i}", body="", anonymous=False, year=2026, now=NOW
                )
                for i, r in enumerate(place.residents[:1])
            ]
        )
    async with unit_of_work(sessions) as session:
        second = await votes.submit_proposal(
            session, place.residents[1], title="修桥", body="x", anonymous=True, year=2026, now=NOW
        )
    assert votes.proposal_code(made[0]) == "P-2026-0001"
    assert votes.proposal_code(second) == "P-2026-0002"
    async with unit_of_work(sessions) as session:
        with pytest.raises(NotAllowed):
            await votes.screen_proposal(
                session, place.residents[0], second.id or 0, accept=True, answer=None, now=NOW
            )
        with pytest.raises(NotAllowed):
            await votes.submit_proposal(
                session, place.pending, title="t", body="", anonymous=False, year=2026, now=NOW
            )
        await votes.screen_proposal(
            session, place.admin, made[0].id or 0, accept=False, answer="不归村里管", now=NOW
        )
        accepted = await votes.screen_proposal(
            session, place.admin, second.id or 0, accept=True, answer=None, now=NOW
        )
        assert accepted.status == ProposalStatus.ON_AGENDA
        with pytest.raises(AlreadyDone):
            await votes.screen_proposal(
                session, place.admin, second.id or 0, accept=True, answer=None, now=NOW
            )
        vote = await votes.create_vote(
            session,
            place.admin,
            village_id=place.village_id,
            question=accepted.title,
            options=["同意", "不同意"],
            deadline=NOW + timedelta(days=1),
            secret=False,
            quorum_percent=None,
            proposal_id=accepted.id,
            now=NOW,
        )
        assert (await votes.get_proposal(session, second.id or 0)).status == ProposalStatus.VOTING
        assert await votes.close_vote(session, vote, NOW + timedelta(days=1))
        assert (await votes.get_proposal(session, second.id or 0)).status == ProposalStatus.DECIDED
        declined = await votes.get_proposal(session, made[0].id or 0)
        assert declined.status == ProposalStatus.DECLINED and declined.answer == "不归村里管"
