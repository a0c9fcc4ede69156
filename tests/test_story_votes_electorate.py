"""Narrower electorates end to end through the fake Bot API.

A vote for the people an agenda item concerns (利益相关方): a resident's proposal goes on the
agenda, the council's notice lets a neighbour follow it, the admin puts it to a vote for "the
residents concerned by this item", the card says who may vote, those on the roll are told
privately and vote from there or from the group, an outsider and a neighbour who follows too
late are refused, the reminder goes to the roll's non-voter only, and the result counts the
roll. And a vote for one grid of two: the card names it, the other grid is refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from storage import council
from storage.db import unit_of_work
from storage.models.council import MemberCategory
from tests.harness import World
from tests.test_story_votes_to_projects import propose
from tests.village_builder import VillagePlan
from tests.zh_text import english_words, raw_values, status_values

START = datetime(2032, 5, 10, 2, 0, tzinfo=UTC)  # the 10th, 10:00 in Shanghai
NOTICE = datetime(2032, 5, 13, 2, 0, tzinfo=UTC)  # two days before the 15th's council


async def test_a_vote_for_the_residents_concerned_by_an_agenda_item(world: World) -> None:
    fake = world.fake
    plan = VillagePlan("桥头村{base}").grid("一网格")
    names = ("居民0", "居民1", "居民2", "居民3", "代表")
    for i, name in enumerate(names):
        plan.household(f"{i}号", grid="一网格").resident(name, home=f"{i}号")
    v = await plan.admin("书记", locale="en").group().build_in(world.app.sessions)
    async with unit_of_work(world.app.sessions) as session:  # the council's residents' rep
        await council.add_member(
            session,
            v.actor("书记"),
            v.village_id,
            v.person("代表").id or 0,
            MemberCategory.RESIDENT_REP,
            START,
        )
    people = {n: world.person(v.person(n).telegram_id, n) for n in (*names, "书记")}
    alice, bob, carol, dave, eve = (people[n] for n in names)
    admin = people["书记"]
    group = v.group_id
    fake.group(group, f"桥头村{v.base}群")
    saved = world.clock.now() - datetime.now(UTC)
    world.clock.travel_to(START)
    await world.app.delivery.drain(5)  # what earlier tests left in the outbox goes first
    since = len(fake.calls)
    try:
        # Alice's concern goes on the agenda.
        mark = fake.mark()
        code = await propose(world, alice, "桥头护栏坏了", "小孩过桥很危险，建议修护栏。")
        push = await fake.wait_for_message(
            admin.id, lambda m: code in (m.text or "") and bool(m.buttons()), after=mark
        )
        await admin.tap(push, "Put on the agenda", expect="is on the agenda")

        # The council's notice reaches the group; Bob follows the item from it.
        world.clock.travel_to(NOTICE)
        mark = fake.mark()
        assert (await world.app.runtime.run("council_notice")).get(f"2032-05/v{v.village_id}")
        agenda = await fake.wait_for_message(
            group, lambda m: "阳光议事会" in (m.text or ""), after=mark
        )
        assert "您已关注" in await bob.tap_for_toast(agenda, f"🔔 关注 {code}")

        # The admin puts it to a vote for the residents concerned by the item.
        items = await admin.say("/vote", expect="Which agenda item")
        options = await admin.tap(items, code, expect="Which options")
        days = await admin.tap(options, "Agree / Disagree / Abstain", expect="How long")
        review = await admin.tap(days, "3 days", expect="Post this vote")
        assert "Who may vote: the whole village" in (review.text or "")
        who = await admin.tap(review, "Who may vote", expect="Who may vote?")
        assert "fixed when the vote is posted" in (who.text or "")
        # Alice, Bob and the council's representative (the admin has no home here)
        who = await admin.tap(who, "The residents concerned by this item (3 people)")
        assert "✓ The residents concerned by this item (3 people)" in who.buttons()
        review = await admin.tap(who, "✔ Done", expect="Post this vote")
        assert "Who may vote: the residents concerned by this item (3 people)" in (
            review.text or ""
        )
        mark = fake.mark()
        posted = await admin.tap(review, "Post", expect="posted in 1 groups")
        assert "Only the 3 residents concerned by the item may vote" in (posted.text or "")
        card = await fake.wait_for_message(
            group, lambda m: "桥头护栏坏了" in (m.text or "") and bool(m.buttons()), after=mark
        )
        text = card.text or ""
        assert f"投票人：议题 {code} 的相关居民" in text and "已投票：0 / 3" in text
        assert "5月16日 10:00" in text  # the group's language, not the English admin's

        # Those on the roll are told privately, with a button to vote there.
        for person in (alice, bob, eve):
            invite = await fake.wait_for_message(
                person.id, lambda m: "开始表决" in (m.text or ""), after=mark
            )
            assert "您是其中一位" in (invite.text or "") and invite.buttons() == ["🗳 去投票"]
            assert "5月16日 10:00 截止" in (invite.text or "")
        await fake.assert_no_message(carol.id, after=mark, within=0.2)
        invite = fake.sent(bob.id)[-1]
        mine = await bob.tap(invite, "🗳 去投票", expect="桥头护栏坏了")
        assert "同意" in await bob.tap_for_toast(mine, "同意")

        # An outsider, and Dave who follows only now, are refused with the reason.
        assert "只请议题的相关居民" in await carol.tap_for_toast(card, "同意")
        assert "您已关注" in await dave.tap_for_toast(agenda, f"🔔 关注 {code}")
        refused = await dave.tap_for_toast(card, "同意")
        assert "表决开始前关注" in refused
        assert "不同意" in await alice.tap_for_toast(card, "不同意")

        # A day before the deadline only Eve (on the roll, not voted) is reminded.
        world.clock.advance(timedelta(days=2, hours=1))
        mark = fake.mark()
        assert 1 in (await world.app.runtime.run("vote_reminder")).values()
        reminder = await fake.wait_for_message(eve.id, after=mark)
        assert "还没有投票" in (reminder.text or "")
        for person in (carol, dave):
            await fake.assert_no_message(person.id, after=mark, within=0.1)

        # The close counts the roll.
        world.clock.advance(timedelta(days=1))
        mark = fake.mark()
        assert 2 in (await world.app.runtime.run("vote_close")).values()
        result = await fake.wait_for_message(
            group, lambda m: "表决结果" in (m.text or "") and not m.edited, after=mark
        )
        text = result.text or ""
        assert "参与：2 / 3" in text and f"议题 {code} 的相关居民" in text
        assert "• 同意：1 票" in text and "• 不同意：1 票" in text

        # Nothing the residents (all Chinese speakers) or the group were shown is English.
        await fake.wait_idle(0.3)
        chats = {p.id for p in (alice, bob, carol, dave, eve)} | {group}
        values = status_values()
        seen = fake.shown(chats, since=since)
        assert len(seen) > 20 and any("相关居民" in shown for _method, shown in seen)
        english = [
            f"{method}: {shown!r}"
            for method, shown in seen
            if english_words(shown) or raw_values(shown, values)
        ]
        assert not english, "\n".join(english)
    finally:
        await fake.wait_idle(0.3)
        world.clock.travel_to(datetime.now(UTC) + saved)


async def test_a_vote_for_one_grid_of_the_village(world: World) -> None:
    """投票范围 = some grids: the admin ticks 一网格; the card names it; a resident of 二网格 is
    refused, and the count is the grid's."""
    fake = world.fake
    plan = VillagePlan("两格村{base}").grid("一网格", "二网格")
    for i, (name, grid) in enumerate((("东一", "一网格"), ("东二", "一网格"), ("西一", "二网格"))):
        plan.household(f"{i}号", grid=grid).resident(name, home=f"{i}号")
    v = await plan.admin("书记", locale="en").group().build_in(world.app.sessions)
    east, _east_two, west = (
        world.person(v.person(n).telegram_id, n) for n in ("东一", "东二", "西一")
    )
    admin = world.person(v.person("书记").telegram_id, "书记")
    fake.group(v.group_id, f"两格村{v.base}群")
    await admin.say("/vote", expect="question")
    options = await admin.say("一网格的水渠要不要清淤？", expect="Which options")
    days = await admin.tap(options, "Agree / Disagree / Abstain", expect="How long")
    review = await admin.tap(days, "1 days", expect="Post this vote")
    who = await admin.tap(review, "Who may vote", expect="Tick the grids")
    assert "residents concerned" not in " ".join(who.buttons())  # no agenda item: no roll
    who = await admin.tap(who, "一网格", expect="Tick the grids")
    assert "✓ 一网格" in who.buttons()
    review = await admin.tap(who, "✔ Done", expect="Who may vote: 一网格")
    mark = fake.mark()
    await admin.tap(review, "Post", expect="posted in 1 groups")
    card = await fake.wait_for_message(
        v.group_id, lambda m: "水渠" in (m.text or "") and bool(m.buttons()), after=mark
    )
    assert "一网格已审核的居民" in (card.text or "") and "已投票：0 / 2" in (card.text or "")
    assert "只限部分网格" in await west.tap_for_toast(card, "同意")
    assert "同意" in await east.tap_for_toast(card, "同意")
