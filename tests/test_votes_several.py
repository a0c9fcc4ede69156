"""Votes with several choices (pick up to N of M), a narrower electorate and paper ballots:
the rules in storage, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlmodel import select

from storage import audit, org, votes
from storage.clock import Clock
from storage.db import SessionFactory, unit_of_work
from storage.errors import AlreadyDone, NotAllowed, RuleError
from storage.models.org import Grid, Household, Membership, MembershipStatus, Person
from storage.models.votes import BallotDraft, BallotPick, DecideRule
from tests.test_votes import (
    NOW,
    SHANGHAI,
    Place,
    confirm,
    make_place,
    open_vote,
    pick,
    press,
    runtime,
)
from views.i18n import PoI18n
from views.votes import card_markup, card_text, result_text

BUDGET = ["修水渠", "装路灯", "修村道", "建广场", "买垃圾桶", "修桥", "建图书室", "装监控"]


async def budget_vote(
    sessions: SessionFactory,
    place: Place,
    *,
    picks: int = 3,
    secret: bool = False,
    rule: DecideRule = DecideRule.TOP,
    grid_ids: list[int] | None = None,
) -> tuple[int, list[int]]:
    return await open_vote(
        sessions,
        place,
        secret=secret,
        question="明年的惠民项目选哪几个？",
        options=tuple(BUDGET),
        max_picks=picks,
        decide_rule=rule,
        grid_ids=grid_ids,
    )


async def test_a_ballot_picks_up_to_n_and_a_second_press_takes_a_pick_back(
    sessions: SessionFactory,
) -> None:
    """Presses make a draft (up to N; a second press takes a pick back); ✔ 确认 counts it, and
    the next presses start from what was confirmed."""
    place = await make_place(sessions)
    vote_id, options = await budget_vote(sessions, place)
    voter = place.residents[2]
    for option in options[:3]:
        result = await press(sessions, place, voter, vote_id, option)
        assert result.picked
    assert [o.id for o in result.picks] == options[:3] and result.confirmed == []
    with pytest.raises(RuleError) as refused:
        await press(sessions, place, voter, vote_id, options[3])
    assert "{count}" in refused.value.message and refused.value.params["count"] == 3
    async with sessions() as session:  # a draft is not a vote
        assert await votes.tally(session, vote_id) == {}
        assert await votes.voter_count(session, vote_id) == 0
    confirmed = await confirm(sessions, place, voter, vote_id)
    assert confirmed.outcome == votes.Confirmation.CAST
    assert [o.id for o in confirmed.picks] == options[:3]
    taken_back = await press(sessions, place, voter, vote_id, options[1])
    assert not taken_back.picked and [o.id for o in taken_back.picks] == [options[0], options[2]]
    assert [o.id for o in taken_back.confirmed] == options[:3]
    await press(sessions, place, voter, vote_id, options[3])
    async with sessions() as session:  # not confirmed yet: the confirmed picks stand
        assert await votes.tally(session, vote_id) == dict.fromkeys(options[:3], 1)
    changed = await confirm(sessions, place, voter, vote_id)
    assert changed.outcome == votes.Confirmation.CHANGED
    async with sessions() as session:
        assert await votes.tally(session, vote_id) == {options[0]: 1, options[2]: 1, options[3]: 1}
        assert await votes.voter_count(session, vote_id) == 1
        mine = await votes.picks_of(session, voter, vote_id)
        draft = await votes.draft_of(session, voter, vote_id)
    assert [o.id for o in mine] == [options[0], options[2], options[3]] == [o.id for o in draft]


async def test_rapid_presses_never_pick_more_than_n(sessions: SessionFactory) -> None:
    """Eight presses at once, each on another option, by one voter: three are taken."""
    place = await make_place(sessions)
    vote_id, options = await budget_vote(sessions, place)
    voter = place.residents[3]
    outcomes = await asyncio.gather(
        *(press(sessions, place, voter, vote_id, o) for o in options), return_exceptions=True
    )
    kept = [o for o in outcomes if isinstance(o, votes.Cast)]
    refused = [o for o in outcomes if isinstance(o, RuleError)]
    assert len(kept) == 3 and len(refused) == 5, outcomes
    async with sessions() as session:
        drafts = (
            await session.exec(select(BallotDraft).where(BallotDraft.vote_id == vote_id))
        ).all()
        rows = (await session.exec(select(BallotPick).where(BallotPick.vote_id == vote_id))).all()
    assert len(drafts) == 3 and rows == []  # nothing counts before ✔ 确认
    await confirm(sessions, place, voter, vote_id)
    async with sessions() as session:
        rows = (await session.exec(select(BallotPick).where(BallotPick.vote_id == vote_id))).all()
    assert len(rows) == 3


async def test_one_ballot_per_household_holds_for_several_choices(
    sessions: SessionFactory,
) -> None:
    place = await make_place(sessions, per_household=True)
    vote_id, options = await budget_vote(sessions, place)
    husband, wife = place.residents[0], place.residents[1]
    await press(sessions, place, husband, vote_id, options[0])
    await pick(sessions, place, husband, vote_id, [options[1]])
    with pytest.raises(AlreadyDone):
        await press(sessions, place, wife, vote_id, options[2])
    with pytest.raises(AlreadyDone):
        await confirm(sessions, place, wife, vote_id)
    async with sessions() as session:
        assert await votes.voter_count(session, vote_id) == 1
        assert sum((await votes.tally(session, vote_id)).values()) == 2


async def test_a_vote_for_some_grids_refuses_the_others_and_counts_only_them(
    sessions: SessionFactory,
) -> None:
    place = await make_place(sessions)
    async with unit_of_work(sessions) as session:
        first = (await session.exec(select(Grid).where(Grid.village_id == place.village_id))).one()
        second = Grid(village_id=place.village_id, name="二网格")
        session.add(second)
        await session.flush()
        household = Household(grid_id=second.id or 0, label="二组 1号")
        person = Person(telegram_id=9_400_001 + place.village_id, full_name="外网格居民")
        session.add_all([household, person])
        await session.flush()
        session.add(
            Membership(
                person_id=person.id or 0,
                village_id=place.village_id,
                grid_id=second.id or 0,
                household_id=household.id or 0,
                status=MembershipStatus.APPROVED,
            )
        )
        await session.flush()
        outsider = await org.load_actor(session, person)
    vote_id, options = await budget_vote(sessions, place, picks=2, grid_ids=[first.id or 0])
    with pytest.raises(NotAllowed) as refused:
        await press(sessions, place, outsider, vote_id, options[0])
    assert "some grids" in refused.value.message
    with pytest.raises(NotAllowed):
        await confirm(sessions, place, outsider, vote_id)
    await pick(sessions, place, place.residents[0], vote_id, [options[0]])
    async with sessions() as session:
        vote = await votes.get_vote(session, vote_id)
        assert await votes.eligible_count(session, vote) == len(place.residents)
        assert outsider.person_id not in {p.id for p in await votes.non_voters(session, vote)}
        view = await votes.vote_view(session, vote_id)
    PoI18n().activate()
    assert "一网格" in card_text(view, "zh", SHANGHAI)


async def test_paper_ballots_go_in_once_by_an_admin_and_count_in_the_result(
    sessions: SessionFactory,
) -> None:
    """The 3-of-8 budget vote: 4 residents online, 10 on paper; the top three are chosen."""
    place = await make_place(sessions)
    vote_id, o = await budget_vote(sessions, place)
    online = {0: [o[0], o[1], o[2]], 1: [o[0], o[3]], 2: [o[0], o[1]], 3: [o[4]]}
    for index, picks in online.items():
        await pick(sessions, place, place.residents[index], vote_id, picks)
    paper = dict.fromkeys(o, 0)
    paper.update({o[3]: 9, o[1]: 2, o[2]: 1, o[0]: 1})
    async with unit_of_work(sessions) as session:
        with pytest.raises(NotAllowed):
            await votes.enter_paper(
                session, place.residents[0], vote_id, counts=paper, voters=10, now=NOW
            )
        with pytest.raises(RuleError):  # more on one option than there are paper voters
            await votes.enter_paper(
                session, place.admin, vote_id, counts={**paper, o[3]: 11}, voters=10, now=NOW
            )
        with pytest.raises(RuleError):  # every option needs its count
            await votes.enter_paper(
                session, place.admin, vote_id, counts={o[3]: 9}, voters=10, now=NOW
            )
        await votes.enter_paper(session, place.admin, vote_id, counts=paper, voters=10, now=NOW)
    async with unit_of_work(sessions) as session:
        with pytest.raises(AlreadyDone):
            await votes.enter_paper(
                session, place.admin, vote_id, counts=paper, voters=10, now=NOW
            )

    clock = Clock()
    clock.travel_to(NOW + timedelta(days=3))
    await runtime(sessions, clock).run("vote_close")
    async with sessions() as session:
        view = await votes.vote_view(session, vote_id)
        history = await audit.entries(session)
    # online 3, 2, 1, 1, 1 for o0..o4; with paper 4, 4, 2, 10, 1
    assert [view.total(option) for option in view.options[:5]] == [4, 4, 2, 10, 1]
    assert view.online_voters == 4 and view.voters == 14
    assert [w.label for w in view.winners] == ["建广场", "修水渠", "装路灯"]
    PoI18n().activate()
    text = result_text(view, "zh", SHANGHAI)
    assert "通过的选项：建广场、修水渠、装路灯" in text
    assert "网上 3，纸质 1" in text and "另有 10 人" in text
    assert [e for e in history if e.action == "vote.paper"]

    late = NOW + timedelta(days=3, hours=1, minutes=1)
    async with unit_of_work(sessions) as session:
        vote = await votes.get_vote(session, vote_id)
        assert not votes.paper_open(vote, late)


async def test_paper_ballots_close_an_hour_after_the_vote(sessions: SessionFactory) -> None:
    place = await make_place(sessions)
    vote_id, o = await budget_vote(sessions, place, picks=1)
    clock = Clock()
    clock.travel_to(NOW + timedelta(days=3))
    await runtime(sessions, clock).run("vote_close")
    counts = dict.fromkeys(o, 0)
    async with unit_of_work(sessions) as session:
        with pytest.raises(RuleError):
            await votes.enter_paper(
                session,
                place.admin,
                vote_id,
                counts=counts,
                voters=0,
                now=NOW + timedelta(days=3, hours=2),
            )
    async with unit_of_work(sessions) as session:
        await votes.enter_paper(
            session, place.admin, vote_id, counts=counts, voters=0, now=NOW + timedelta(days=3)
        )


async def test_a_secret_vote_with_several_choices_shows_nothing_before_the_close(
    sessions: SessionFactory,
) -> None:
    place = await make_place(sessions)
    vote_id, o = await budget_vote(sessions, place, secret=True)
    await pick(sessions, place, place.residents[0], vote_id, [o[0], o[5]])
    async with sessions() as session:
        view = await votes.vote_view(session, vote_id)
    assert view.voters == 1
    PoI18n().activate()
    text = card_text(view, "zh", SHANGHAI)
    assert "投票后公布" in text or "截止后" in text
    assert "修桥：" not in text and "修水渠：" not in text
    markup = card_markup(view, "zh")
    assert [b["text"] for b in markup["inline_keyboard"][-1]] == ["✔ 确认", "🔍 我的选择"]


async def test_the_majority_rule_chooses_what_more_than_half_picked(
    sessions: SessionFactory,
) -> None:
    place = await make_place(sessions)
    vote_id, o = await budget_vote(sessions, place, picks=2, rule=DecideRule.MAJORITY)
    for index, picks in {0: [o[6], o[7]], 1: [o[6], o[7]], 2: [o[6]], 3: [o[2]]}.items():
        await pick(sessions, place, place.residents[index], vote_id, picks)
    async with sessions() as session:
        view = await votes.vote_view(session, vote_id)
    # 4 voters: 建图书室 3 (75%), 装监控 2 (50%, not more than half), 修村道 1
    assert [w.label for w in view.winners] == ["建图书室"]


async def test_how_many_may_be_picked_is_checked(sessions: SessionFactory) -> None:
    place = await make_place(sessions)
    with pytest.raises(RuleError):
        await budget_vote(sessions, place, picks=8)
    with pytest.raises(RuleError):
        await budget_vote(sessions, place, picks=0)


async def test_picks_change_until_the_deadline_and_not_after(sessions: SessionFactory) -> None:
    """A pick-several ballot changes up to the last minute; at the deadline (before the close
    job has run) a press is refused and the picks stay as they were; the result counts them."""
    place = await make_place(sessions)
    vote_id, o = await budget_vote(sessions, place, picks=2)
    voter, late = place.residents[0], place.residents[2]
    await pick(sessions, place, voter, vote_id, [o[0], o[1]])
    last_minute = NOW + timedelta(days=3, minutes=-1)
    taken = await press(sessions, place, voter, vote_id, o[1], at=last_minute)
    assert not taken.picked
    await pick(sessions, place, voter, vote_id, [o[5]], at=last_minute)
    await press(sessions, place, late, vote_id, o[3], at=last_minute)  # never confirmed
    deadline = NOW + timedelta(days=3)
    for option in (o[0], o[6]):  # neither a take-back nor a new pick
        with pytest.raises(AlreadyDone):
            await press(sessions, place, voter, vote_id, option, at=deadline)
    with pytest.raises(AlreadyDone):  # nor a confirmation
        await confirm(sessions, place, late, vote_id, at=deadline)
    clock = Clock()
    clock.travel_to(deadline + timedelta(minutes=1))
    await runtime(sessions, clock).run("vote_close")
    async with sessions() as session:
        view = await votes.vote_view(session, vote_id)
    assert view.counts == {o[0]: 1, o[5]: 1} and view.online_voters == 1


async def test_paper_ballots_entered_twice_at_once_count_once(sessions: SessionFactory) -> None:
    """Two admins' 确认 at the same moment: one entry is kept, the other is told it is done."""
    place = await make_place(sessions)
    vote_id, o = await budget_vote(sessions, place)
    counts = dict.fromkeys(o, 1)

    async def enter(voters: int) -> object:
        async with unit_of_work(sessions) as session:
            return await votes.enter_paper(
                session, place.admin, vote_id, counts=counts, voters=voters, now=NOW
            )

    outcomes = await asyncio.gather(enter(5), enter(6), return_exceptions=True)
    assert sum(isinstance(x, AlreadyDone) for x in outcomes) == 1, outcomes
    async with sessions() as session:
        vote = await votes.get_vote(session, vote_id)
        entries = [e for e in await audit.entries(session) if e.action == "vote.paper"]
    assert vote.paper_voters in (5, 6) and len(entries) == 1
