"""✔ 确认 in a "pick up to N of M" vote: a press changes the voter's draft, only a confirmed
draft counts. The rules in storage, on SQLite and PostgreSQL: a draft is no vote (tally, card,
who voted, reminders, the close), confirming replaces the picks and withdraws nothing silently,
rapid presses and confirmations never hold more than N, one ballot (and one draft) per
household, the deadline, and every confirmation checked on arrival."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlmodel import select

from storage import audit, org_changes, votes
from storage.clock import Clock
from storage.db import SessionFactory, unit_of_work
from storage.errors import AlreadyDone, NotAllowed, NotFound, RuleError
from storage.models.common import OutboxMessage
from storage.models.votes import Ballot, BallotDraft, BallotPick, Vote, VoteOption
from storage.votes import Cast, Confirmation, Confirmed
from tests.test_votes import NOW, SHANGHAI, confirm, make_place, open_vote, pick, press, runtime
from tests.test_votes_several import BUDGET, budget_vote
from views.i18n import PoI18n
from views.votes import TOAST_MAX, card_text, confirm_answer, my_picks_answer, press_toast


async def test_a_draft_is_no_vote(sessions: SessionFactory) -> None:
    """Two residents press options and never confirm; one confirms. Only the confirmed ballot
    is counted: the tally, the card's count, who voted, the reminder and the close."""
    place = await make_place(sessions)
    vote_id, o = await budget_vote(sessions, place)
    await press(sessions, place, place.residents[0], vote_id, o[0])
    await press(sessions, place, place.residents[0], vote_id, o[1])
    await press(sessions, place, place.residents[2], vote_id, o[1])
    await pick(sessions, place, place.residents[3], vote_id, [o[2], o[1]])
    async with sessions() as session:
        vote = await votes.get_vote(session, vote_id)
        assert await votes.tally(session, vote_id) == {o[1]: 1, o[2]: 1}
        assert await votes.voter_count(session, vote_id) == 1
        assert await votes.eligible_count(session, vote) == 4
        voted = [p.full_name for p, _ballot in await votes.voters_of(session, vote_id)]
        waiting = [p.full_name for p in await votes.non_voters(session, vote)]
        view = await votes.vote_view(session, vote_id)
    assert voted == ["居民3"]
    assert waiting == ["居民0", "居民1", "居民2"]
    PoI18n().activate()
    text = card_text(view, "zh", SHANGHAI)
    assert "已投票：1 / 4" in text and "修水渠：0 票" in text and "装路灯：1 票" in text
    assert "选好后点「✔ 确认」，确认后才计票" in text

    clock = Clock()
    clock.travel_to(NOW + timedelta(days=2, hours=1))
    jobs = runtime(sessions, clock)
    assert await jobs.run("vote_reminder") == {f"v{vote_id}": 3}
    async with sessions() as session:
        reminders = (
            await session.exec(
                select(OutboxMessage).where(OutboxMessage.batch == f"vote_reminder:v{vote_id}")
            )
        ).all()
    assert len(reminders) == 3
    assert all("再点「✔ 确认」" in str(r.payload.get("text")) for r in reminders), reminders
    clock.travel_to(NOW + timedelta(days=3, minutes=1))
    await jobs.run("vote_close")
    async with sessions() as session:
        vote = await votes.get_vote(session, vote_id)
    assert vote.turnout == 1 and vote.result == {str(o[1]): 1, str(o[2]): 1}


async def test_confirming_replaces_the_picks_and_withdraws_nothing_silently(
    sessions: SessionFactory,
) -> None:
    place = await make_place(sessions)
    vote_id, o = await budget_vote(sessions, place)
    voter = place.residents[2]
    nothing = await confirm(sessions, place, voter, vote_id)  # no ballot at all
    assert nothing.outcome == Confirmation.EMPTY and nothing.picks == []
    first = await pick(sessions, place, voter, vote_id, [o[4], o[0]])
    assert first.outcome == Confirmation.CAST
    assert [x.id for x in first.picks] == [o[0], o[4]]  # in the card's order
    again = await confirm(sessions, place, voter, vote_id)
    assert again.outcome == Confirmation.UNCHANGED and [x.id for x in again.picks] == [o[0], o[4]]

    # every pick taken back: the draft is empty, and confirming it withdraws nothing
    await press(sessions, place, voter, vote_id, o[0])
    emptied = await press(sessions, place, voter, vote_id, o[4])
    assert emptied.picks == [] and [x.id for x in emptied.confirmed] == [o[0], o[4]]
    kept = await confirm(sessions, place, voter, vote_id)
    assert kept.outcome == Confirmation.EMPTY and [x.id for x in kept.picks] == [o[0], o[4]]
    async with sessions() as session:
        assert await votes.tally(session, vote_id) == {o[0]: 1, o[4]: 1}

    # the next draft starts from nothing (what the voter left it at), and replaces the picks
    restart = await press(sessions, place, voter, vote_id, o[7])
    assert [x.id for x in restart.picks] == [o[7]]
    changed = await confirm(sessions, place, voter, vote_id)
    assert changed.outcome == Confirmation.CHANGED and [x.id for x in changed.picks] == [o[7]]
    async with sessions() as session:
        assert await votes.tally(session, vote_id) == {o[7]: 1}
        assert await votes.voter_count(session, vote_id) == 1
        history = await audit.entries(session, village_id=place.village_id)
    mine = [e.action for e in history if e.detail.get("vote_id") == vote_id]
    assert mine.count("vote.cast") == 1 and mine.count("vote.change") == 1
    assert all(str(o[7]) not in str(e.detail) for e in history if e.action.startswith("vote."))


async def test_rapid_presses_and_confirmations_never_hold_more_than_n(
    sessions: SessionFactory,
) -> None:
    """Rounds of eight presses (one per option) and three confirmations at once, by one voter:
    neither the draft nor the counted ballot ever holds more than 3, and the first
    confirmation that found something counts once as the cast."""
    place = await make_place(sessions)
    vote_id, o = await budget_vote(sessions, place)
    voter = place.residents[1]
    for _round in range(3):
        outcomes = await asyncio.gather(
            *(press(sessions, place, voter, vote_id, option) for option in o),
            *(confirm(sessions, place, voter, vote_id) for _ in range(3)),
            return_exceptions=True,
        )
        unexpected = [x for x in outcomes if not isinstance(x, Cast | Confirmed | RuleError)]
        assert unexpected == [], unexpected
        async with sessions() as session:
            drafts = (
                await session.exec(select(BallotDraft).where(BallotDraft.vote_id == vote_id))
            ).all()
            picks = (
                await session.exec(select(BallotPick).where(BallotPick.vote_id == vote_id))
            ).all()
            ballots = (await session.exec(select(Ballot).where(Ballot.vote_id == vote_id))).all()
        assert len(ballots) == 1
        assert len(drafts) <= 3 and len({d.option_id for d in drafts}) == len(drafts)
        assert len(picks) <= 3 and len({p.option_id for p in picks}) == len(picks)
    async with sessions() as session:  # whatever the draft is now: empty it, pick two
        left = await votes.draft_of(session, voter, vote_id)
    for option in [x.id or 0 for x in left] + [o[6], o[7]]:
        await press(sessions, place, voter, vote_id, option)
    final = await confirm(sessions, place, voter, vote_id)
    assert [x.id for x in final.picks] == [o[6], o[7]]
    async with sessions() as session:
        draft = await votes.draft_of(session, voter, vote_id)
        counted = await votes.picks_of(session, voter, vote_id)
        casts = await audit.entries(session, village_id=place.village_id, action="vote.cast")
    assert [x.id for x in counted] == [x.id for x in draft] == [x.id for x in final.picks]
    assert len([e for e in casts if e.detail.get("vote_id") == vote_id]) == 1


async def test_a_household_drafts_together_and_votes_once(sessions: SessionFactory) -> None:
    """Per household: the draft is the household's (one member's press is in the other's), a
    draft is no vote for it, and when both confirm at once one ballot is cast, by one of
    them; the other can then neither press nor confirm."""
    place = await make_place(sessions, per_household=True)
    vote_id, o = await budget_vote(sessions, place)
    husband, wife = place.residents[0], place.residents[1]
    await press(sessions, place, wife, vote_id, o[0])
    shared = await press(sessions, place, husband, vote_id, o[1])
    assert [x.id for x in shared.picks] == [o[0], o[1]]
    async with sessions() as session:
        vote = await votes.get_vote(session, vote_id)
        waiting = {p.full_name for p in await votes.non_voters(session, vote)}
        assert await votes.voter_count(session, vote_id) == 0
    assert {"居民0", "居民1"} <= waiting
    outcomes = await asyncio.gather(
        confirm(sessions, place, husband, vote_id),
        confirm(sessions, place, wife, vote_id),
        return_exceptions=True,
    )
    cast = [x for x in outcomes if isinstance(x, Confirmed)]
    refused = [x for x in outcomes if isinstance(x, AlreadyDone)]
    assert len(cast) == 1 and len(refused) == 1, outcomes
    assert cast[0].outcome == Confirmation.CAST
    async with sessions() as session:
        ballot = (await session.exec(select(Ballot).where(Ballot.vote_id == vote_id))).one()
        assert await votes.tally(session, vote_id) == {o[0]: 1, o[1]: 1}
        assert await votes.voter_count(session, vote_id) == 1
        waiting = {p.full_name for p in await votes.non_voters(session, vote)}
    assert waiting.isdisjoint({"居民0", "居民1"})
    voter = husband if ballot.person_id == husband.person_id else wife
    other = wife if voter is husband else husband
    with pytest.raises(AlreadyDone) as household:
        await press(sessions, place, other, vote_id, o[2])
    assert "household" in household.value.message
    with pytest.raises(AlreadyDone):
        await confirm(sessions, place, other, vote_id)
    await pick(sessions, place, voter, vote_id, [o[2]])  # the one who cast it may change it
    async with sessions() as session:
        assert await votes.tally(session, vote_id) == {o[0]: 1, o[1]: 1, o[2]: 1}


async def test_merged_households_keep_the_ballot_that_counts_over_a_draft(
    sessions: SessionFactory,
) -> None:
    """Two households that are one merge during a per-household vote: one had confirmed its
    picks, the other (later) only pressed. The confirmed ballot is the household's; the draft
    goes with its ballot, and no counted ballot was removed."""
    place = await make_place(sessions, per_household=True)
    vote_id, o = await budget_vote(sessions, place)
    first, second = place.residents[2], place.residents[3]
    await pick(sessions, place, first, vote_id, [o[0]])
    await press(sessions, place, second, vote_id, o[1], at=NOW + timedelta(hours=1))
    assert first.residence is not None and second.residence is not None
    async with unit_of_work(sessions) as session:
        merged = await org_changes.merge_households(
            session,
            place.admin,
            second.residence.household_id,
            first.residence.household_id,
            NOW + timedelta(hours=2),
        )
    assert merged.ballots_removed == 0
    async with sessions() as session:
        ballots = (await session.exec(select(Ballot).where(Ballot.vote_id == vote_id))).all()
        drafts = (
            await session.exec(select(BallotDraft).where(BallotDraft.vote_id == vote_id))
        ).all()
        assert await votes.tally(session, vote_id) == {o[0]: 1}
    assert [(b.person_id, b.voter_key) for b in ballots] == [
        (first.person_id, f"h{second.residence.household_id}")
    ]
    assert [d.option_id for d in drafts] == [o[0]]
    with pytest.raises(AlreadyDone):  # the household has voted, by the other member
        await press(sessions, place, second, vote_id, o[2], at=NOW + timedelta(hours=3))


async def test_a_confirmation_is_checked_on_arrival(sessions: SessionFactory) -> None:
    place = await make_place(sessions)
    elsewhere = await make_place(sessions)
    vote_id, o = await budget_vote(sessions, place, picks=2)
    voter = place.residents[0]
    await press(sessions, place, voter, vote_id, o[0])
    with pytest.raises(NotFound):  # the card of another village's group (or forged there)
        await confirm(sessions, place, voter, vote_id, chat_id=elsewhere.group_id)
    with pytest.raises(NotAllowed):  # pending, not yet a resident
        await confirm(sessions, place, place.pending, vote_id)
    with pytest.raises(NotAllowed):  # a resident of another village
        await confirm(sessions, place, elsewhere.residents[0], vote_id)
    with pytest.raises(NotAllowed):  # nobody known
        await confirm(sessions, place, None, vote_id)
    with pytest.raises(NotFound):  # a vote that does not exist
        await confirm(sessions, place, voter, vote_id + 10_000)
    one_choice, _options = await open_vote(sessions, place)
    with pytest.raises(RuleError) as single:
        await confirm(sessions, place, voter, one_choice)
    assert "nothing to confirm" in single.value.message
    # in the voter's own private chat (the card opened from /agenda) no group is involved
    done = await confirm(sessions, place, voter, vote_id, chat_id=voter.telegram_id)
    assert done.outcome == Confirmation.CAST
    async with sessions() as session:
        assert await votes.tally(session, vote_id) == {o[0]: 1}


def test_the_answers_say_what_counts_and_fit_a_toast() -> None:
    """The toasts in Chinese, and within Telegram's 200 characters even with long options."""
    PoI18n().activate()
    vote = Vote(id=1, village_id=1, question="q", deadline=NOW, max_picks=3)
    options = [VoteOption(id=n, vote_id=1, position=n, label=BUDGET[n]) for n in range(8)]
    drafted = Cast(vote, options[1], changed=True, picked=True, picks=options[:2])
    assert press_toast(drafted, "zh") == (
        "已选 2 项：修水渠、装路灯。选好后请点「✔ 确认」，确认后才计票。"
    )
    back = Cast(vote, options[1], changed=True, picked=False, picks=[], confirmed=options[:2])
    assert press_toast(back, "zh") == "已取消：装路灯。现在一项也没选。您之前确认的选择仍然有效。"
    done = Confirmed(vote, Confirmation.CAST, options[:3])
    assert confirm_answer(done, "zh") == (
        "已确认：修水渠、装路灯、修村道。截止前还可以改，改完请再点确认。"
    )
    assert "没有改动" in confirm_answer(Confirmed(vote, Confirmation.UNCHANGED, options[:1]), "zh")
    assert "您还没有选" in confirm_answer(Confirmed(vote, Confirmation.EMPTY, []), "zh")
    pending = my_picks_answer(vote, options[:1], options[1:3], "zh")
    assert pending.startswith("已计票：修水渠。新选的还没确认：装路灯、修村道。")
    english = confirm_answer(done, "en")
    assert english.startswith("Confirmed: 修水渠、装路灯、修村道.")

    secret = Vote(id=2, village_id=1, question="q", deadline=NOW, max_picks=3, secret=True)
    hidden = press_toast(Cast(secret, options[0], changed=False, picked=True, picks=options[:2]))
    assert "修水渠" not in hidden and "2" in hidden
    for outcome in (Confirmation.CAST, Confirmation.UNCHANGED, Confirmation.EMPTY):
        said = confirm_answer(Confirmed(secret, outcome, options[:2]), "zh")
        assert "2 项" in said and not any(o.label in said for o in options), said
    assert "已确认您选的 2 项，不公开" in confirm_answer(
        Confirmed(secret, Confirmation.CHANGED, options[:2]), "zh"
    )

    long = [
        VoteOption(id=n, vote_id=1, position=n, label=f"{n}号" + "很长的选项名称" * 5)
        for n in range(10)
    ]
    wide = Vote(id=3, village_id=1, question="q", deadline=NOW, max_picks=9)
    for text in (
        press_toast(Cast(wide, long[0], changed=True, picked=True, picks=long[:9]), "zh"),
        confirm_answer(Confirmed(wide, Confirmation.CHANGED, long[:9]), "en"),
        my_picks_answer(wide, long[:9], long[1:], "en"),
    ):
        assert len(text) <= TOAST_MAX, text
        assert "8号" in text  # every pick is still named, only shorter
