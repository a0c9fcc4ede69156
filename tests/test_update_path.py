"""The update path, end to end on SQLite and PostgreSQL: an update delivered twice changes the
database once and is not answered again; a handler whose commit fails says only the apology;
nothing is sent to Telegram while the update's transaction is open."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from sqlalchemy import event, func
from sqlalchemy.orm import Session
from sqlmodel import col, select

from storage import org, points, votes
from storage.db import active_session, unit_of_work
from storage.models.common import HandledUpdate
from storage.models.org import Person
from storage.models.points import PointClaim, PointEntry
from storage.models.reports import Task
from storage.models.votes import Ballot, BallotPick
from tests.harness import World
from tests.test_story_reports import has, report_in_group
from tests.test_story_votes import setup_village, village_plan
from tests.village_builder import report_village
from views.votes import card_markup, card_text

APOLOGY = "抱歉，出了点问题"


async def deliver_again(world: World, update_id: int) -> None:
    """The same update once more, as a webhook retry or a second worker would hand it over."""
    await world.app.dp.feed_raw_update(world.app.bot, world.fake.update(update_id))


def answers_to(world: World, update_id: int) -> list[str]:
    """The texts of every answerCallbackQuery made for the press behind `update_id`."""
    query_id = world.fake._callback_by_update[update_id]
    return [
        str(call.params.get("text") or "")
        for call in world.fake.calls
        if call.method == "answerCallbackQuery"
        and str(call.params.get("callback_query_id")) == query_id
    ]


async def posted_vote(world: World) -> tuple[int, list[int], object]:
    """A vote on a card in the cast's group: (vote id, resident ids, the card)."""
    cast = await setup_village(world)
    now = world.clock.now()
    async with unit_of_work(world.app.sessions) as session:
        admin = (await session.exec(select(Person).where(Person.telegram_id == cast.admin))).one()
        vote = await votes.create_vote(
            session,
            await org.load_actor(session, admin),
            village_id=cast.village_id,
            question="是否同意硬化村东道路？",
            options=["同意", "不同意"],
            deadline=now + timedelta(days=3),
            secret=False,
            quorum_percent=None,
            now=now,
        )
        view = await votes.vote_view(session, vote.id or 0)
        await votes.post_cards(
            session,
            vote,
            card_text(view, "zh", world.app.settings.tz),
            card_markup(view, "zh"),
            now=now,
        )
    world.app.delivery.wake()
    card = await world.fake.wait_for_message(cast.group_id, has("硬化村东道路"), after=0)
    return vote.id or 0, cast.residents, card


async def test_a_vote_press_delivered_again_changes_nothing(world: World) -> None:
    vote_id, residents, card = await posted_vote(world)
    alice = world.fake.user(residents[0])
    first = await alice.press(card, "同意")  # type: ignore[arg-type]
    assert "同意" in str((await world.fake.callback_answer(first)).params.get("text"))
    second = await alice.press(card, "不同意")  # type: ignore[arg-type]
    assert "不同意" in str((await world.fake.callback_answer(second)).params.get("text"))

    await deliver_again(world, first)  # the first press, again, after the second one

    async with world.app.sessions() as session:
        ballots = (await session.exec(select(Ballot).where(Ballot.vote_id == vote_id))).all()
        picks = (await session.exec(select(BallotPick).where(BallotPick.vote_id == vote_id))).all()
        options = {o.id: o.label for o in await votes.options_of(session, vote_id)}
    assert len(ballots) == 1
    assert [options[p.option_id] for p in picks] == ["不同意"]
    assert len(answers_to(world, first)) == 1  # not answered again


async def test_a_report_filed_by_reply_delivered_again_is_filed_once(world: World) -> None:
    async with unit_of_work(world.app.sessions) as session:
        v = await report_village(session, world.clock.now())
    resident = world.person(v.person("张三").telegram_id, "Zhang")
    world.fake.user(v.person("王网格员").telegram_id, "Wang")
    world.fake.user(v.person("李网格员").telegram_id, "Li")
    group, mark = await report_in_group(world, v, resident, "村西井盖松动了")
    await world.fake.wait_for_message(
        v.person("王网格员").telegram_id, has("村西井盖"), after=mark
    )
    thanks = await world.fake.wait_for_message(group.id, has("R-"), after=mark)
    reply_update = max(
        u for u, body in world.fake._updates.items() if "村西井盖" in str(body.get("message"))
    )
    sent_before = len(world.fake.sent(group.id))

    await deliver_again(world, reply_update)

    async with world.app.sessions() as session:
        filed = (
            await session.exec(
                select(func.count()).where(col(Task.description) == "村西井盖松动了")
            )
        ).one()
        recorded = await session.get(HandledUpdate, reply_update)
    assert filed == 1
    assert recorded is not None
    assert len(world.fake.sent(group.id)) == sent_before, "the group is not answered again"
    assert thanks.text


async def test_a_claim_approval_delivered_again_awards_once(world: World) -> None:
    cast = await setup_village(world, village_plan().reviewer("审核员"))
    reviewer_id = cast.village.person("审核员").telegram_id
    now = world.clock.now()
    async with unit_of_work(world.app.sessions) as session:
        await points.ensure_catalogue(session, cast.village_id)
        items = await points.catalogue(session, cast.village_id)
        item = next(i for i in items if i.points > 0)
        claimant = (
            await session.exec(select(Person).where(Person.telegram_id == cast.residents[0]))
        ).one()
        claim = await points.make_claim(
            session,
            await org.load_actor(session, claimant),
            item.id or 0,
            note="帮邻居修了院墙",
            photo_file_id=None,
            now=now,
            tz=world.app.settings.tz,
        )
    reviewing = world.person(reviewer_id, "Reviewer")
    card = await reviewing.say("/review", expect="帮邻居修了院墙")
    approve = await reviewing.user.press(card, "✔ 通过")
    await world.fake.callback_answer(approve)
    await world.fake.wait_for_message(cast.residents[0], has("已通过"))

    await deliver_again(world, approve)
    await world.app.delivery.drain(5)  # a second "approved" push would have gone out by now

    async with world.app.sessions() as session:
        entries = (
            await session.exec(select(PointEntry).where(PointEntry.claim_id == claim.id))
        ).all()
        decided = await session.get(PointClaim, claim.id)
    assert len(entries) == 1
    assert decided is not None and decided.status == "approved"
    # Answered at most once more, and never as a second approval (the repeat read and wrote
    # nothing, so it may say "already reviewed"); the claimant is told once.
    answers = answers_to(world, approve)
    assert len(answers) <= 2 and "已通过" in answers[0], answers
    assert not any("已通过" in a for a in answers[1:]), answers
    told = [m for m in world.fake.sent(cast.residents[0]) if "已通过" in (m.text or "")]
    assert len(told) == 1


@contextmanager
def failing_commit() -> Iterator[list[int]]:
    """The next commit of an update's transaction that wrote something fails (once)."""
    failed: list[int] = []

    def fail(session: Session) -> None:
        update_id = session.info.get("update_id")
        if update_id is not None and not failed:
            failed.append(update_id)
            raise RuntimeError("injected commit failure")

    event.listen(Session, "before_commit", fail)
    try:
        yield failed
    finally:
        event.remove(Session, "before_commit", fail)


async def test_a_press_whose_commit_fails_says_only_the_apology(world: World) -> None:
    vote_id, residents, card = await posted_vote(world)
    bob = world.fake.user(residents[1])
    with failing_commit() as failed:
        press = await bob.press(card, "同意")  # type: ignore[arg-type]
        answer = await world.fake.callback_answer(press)
        await world.fake.wait_idle(0.2)  # anything else this press might still say
    assert failed == [press]
    assert APOLOGY in str(answer.params.get("text")), answer.params
    assert answers_to(world, press) == [str(answer.params.get("text"))]
    assert not [m for m in world.fake.sent(residents[1]) if "已记录" in (m.text or "")]
    async with world.app.sessions() as session:
        ballots = (await session.exec(select(Ballot).where(Ballot.vote_id == vote_id))).all()
    assert ballots == []

    again = await bob.press(card, "同意")  # type: ignore[arg-type]  # and now it works
    assert "同意" in str((await world.fake.callback_answer(again)).params.get("text"))


async def test_no_telegram_call_is_made_while_an_update_holds_a_transaction(
    world: World,
) -> None:
    """Every call made on behalf of an update is made once its transaction has ended."""
    _vote_id, residents, card = await posted_vote(world)
    calls: list[tuple[str, bool]] = []  # (method, made inside an open transaction)
    original = world.app.bot.session.make_request

    async def watched(bot, method, timeout=None):  # type: ignore[no-untyped-def]
        session = active_session.get()  # set while the update's handler runs
        if method.__api_method__ != "getUpdates":
            inside = session is not None and session.in_transaction()
            calls.append((method.__api_method__, inside))
        return await original(bot, method, timeout)

    world.app.bot.session.make_request = watched  # type: ignore[method-assign]
    try:
        carol = world.person(residents[2])
        await carol.say("/me", expect="议事村")
        press = await carol.user.press(card, "同意")  # type: ignore[arg-type]
        await world.fake.callback_answer(press)
        await carol.say("/propose", expect="书记信箱")
        await carol.say("/cancel")
    finally:
        world.app.bot.session.make_request = original  # type: ignore[method-assign]
    assert len(calls) >= 4, calls  # the answers were seen
    assert [method for method, inside in calls if inside] == []


async def test_ids_of_old_updates_are_forgotten_daily(world: World) -> None:
    now = world.clock.now()
    async with unit_of_work(world.app.sessions) as session:
        session.add(HandledUpdate(update_id=9_000_000_001, handled_at=now - timedelta(days=4)))
        session.add(HandledUpdate(update_id=9_000_000_002, handled_at=now - timedelta(days=1)))
    first = await world.app.runtime.run("update_ledger", at=now)
    again = await world.app.runtime.run("update_ledger", at=now)
    async with world.app.sessions() as session:
        old = await session.get(HandledUpdate, 9_000_000_001)
        recent = await session.get(HandledUpdate, 9_000_000_002)
    assert old is None and recent is not None
    assert first["forgotten"] >= 1, first
    assert again["skipped"], again  # once a day
