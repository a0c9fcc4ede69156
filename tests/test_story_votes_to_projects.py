"""The issue's whole path end to end through the fake Bot API, with a controlled clock:
proposed (one with a photo, one merged into it), screened onto the agenda, a participant chosen,
the notice sent by the job once, followed from the group, the meeting held (one item decided,
the other put to a vote with a change of mind and a reminder), the vote closed by its deadline
with the result posted, and both items followed as projects, one to done."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from sandbox.bot_api import SentMessage
from storage import council
from storage.db import unit_of_work
from tests.harness import Talker, World
from tests.test_story_votes import setup_village, village_plan
from tests.village_builder import report_village

START = datetime(2031, 3, 10, 2, 0, tzinfo=UTC)  # the 10th, 10:00 in Shanghai
MEETING = datetime(2031, 3, 15, 11, 0, tzinfo=UTC)  # the default: the 15th at 19:00


def code_in(message: SentMessage) -> str:
    found = re.search(r"P-\d{4}-\d{4}", message.text or "")
    assert found, message.text
    return found.group(0)


async def propose(world: World, who: Talker, title: str, body: str, *, photo: bool = False) -> str:
    """A resident's /propose; returns the proposal's number."""
    await who.say("/propose", expect="书记信箱")
    await who.say(title, expect="具体内容")
    review = await who.say(body, expect=title)
    if photo:
        mark = world.fake.mark()
        await who.user.send_photo()
        review = await who.next_message(after=mark, expect="已附照片")
    sent = await who.tap(review, "实名提交", expect="P-")
    return code_in(sent)


async def test_a_proposal_goes_from_the_mailbox_to_a_finished_project(world: World) -> None:
    fake = world.fake
    # Another village admin (the bot drops a person's updates past 20 in 10 s, so the story's
    # admin work is shared by two, as in a real 村两委).
    cast = await setup_village(world, village_plan().admin("主任", locale="en"))
    admin = world.person(cast.admin)
    alice, bob, carol = (world.person(i) for i in cast.residents)
    pending = world.person(cast.pending)
    director = world.person(cast.village.person("主任").telegram_id, "Director")
    saved = world.clock.now() - datetime.now(UTC)
    world.clock.travel_to(START)
    try:
        # Proposals: Alice's with a photo, Bob's, and Carol's duplicate of Alice's.
        mark = fake.mark()
        lights = await propose(world, alice, "村口路灯坏了", "晚上太黑，建议修好。", photo=True)
        push = await fake.wait_for_message(
            admin.id, lambda m: lights in (m.text or "") and bool(m.buttons()), after=mark
        )
        await fake.wait_for_message(admin.id, lambda m: m.method == "sendPhoto", after=mark)
        await admin.tap(push, "Put on the agenda", expect="is on the agenda")
        mark = fake.mark()
        square = await propose(world, bob, "修建健身广场", "村里缺少锻炼的地方。")
        push = await fake.wait_for_message(
            admin.id, lambda m: square in (m.text or "") and bool(m.buttons()), after=mark
        )
        await admin.tap(push, "Put on the agenda", expect="is on the agenda")
        mark = fake.mark()
        duplicate = await propose(world, carol, "路灯不亮", "村口一片黑。")
        push = await fake.wait_for_message(
            admin.id, lambda m: duplicate in (m.text or "") and bool(m.buttons()), after=mark
        )
        targets = await admin.tap(push, "Merge into", expect="Merge")
        mark = fake.mark()
        await admin.tap(targets, lights, expect="is merged into")
        told = await fake.wait_for_message(carol.id, after=mark)
        assert "已合并到" in (told.text or "") and lights in (told.text or "")

        # The admin chooses Carol as a residents' representative (the default day: the 15th).
        menu = await admin.say("/council", expect="Council")
        assert "day 15 at 19:00" in (menu.text or "")
        members = await admin.tap(menu, "Participants", expect="participant")
        ask = await admin.tap(members, "Add a participant", expect="name")
        del ask
        found = await admin.say("居民2", expect="Which one")
        category = await admin.tap(found, "居民2", expect="take part")
        await admin.tap(category, "residents' representative", expect="takes part")

        # Three days ahead the notice job sends the agenda once: Carol, and the group.
        world.clock.travel_to(MEETING - timedelta(days=2, hours=9))
        mark = fake.mark()
        key = f"2031-03/v{cast.village_id}"
        assert (await world.app.runtime.run("council_notice")).get(key) == 1
        assert key not in await world.app.runtime.run("council_notice")
        notice = await fake.wait_for_message(carol.id, after=mark)
        text = notice.text or ""
        assert "阳光议事会" in text and "群众代表" in text
        assert "村口路灯坏了" in text and "修建健身广场" in text and "路灯不亮" not in text
        agenda = await fake.wait_for_message(
            cast.group_id, lambda m: "阳光议事会" in (m.text or ""), after=mark
        )
        assert agenda.buttons() == [f"🔔 关注 {lights}", f"🔔 关注 {square}"]
        assert "您已关注" in await bob.tap_for_toast(agenda, f"🔔 关注 {lights}")
        assert "已经关注" in await bob.tap_for_toast(agenda, f"🔔 关注 {lights}")
        assert "只有本村居民" in await pending.tap_for_toast(agenda, f"🔔 关注 {lights}")
        await fake.wait_idle(0.2)  # a second notice, if one were queued, would be sent
        assert len([m for m in fake.sent(carol.id) if "阳光议事会" in (m.text or "")]) == 1

        # After the meeting: the lights are decided; the square goes to a vote.
        world.clock.travel_to(MEETING + timedelta(hours=1))
        menu = await admin.say("/council", expect="Council")
        item = await admin.tap(menu, "Record decisions", expect="村口路灯坏了")
        await admin.tap(item, "Decided", expect="What did the council decide")
        mark = fake.mark()
        await admin.say("本月内更换全部路灯", expect="planned project")
        posted = await fake.wait_for_message(
            cast.group_id, lambda m: "议事会对" in (m.text or ""), after=mark
        )
        assert "本月内更换全部路灯" in (posted.text or "")
        for person in (alice, bob, carol):  # the author, a follower, the merged one's author
            heard = await fake.wait_for_message(person.id, after=mark)
            assert "本月内更换全部路灯" in (heard.text or "")

        items = await director.say("/vote", expect="Which agenda item")
        assert items.buttons()[0].startswith(square)  # the decided item is off the agenda
        options = await director.tap(items, square, expect="Which options")
        days = await director.tap(options, "Agree / Disagree / Abstain", expect="How long")
        review = await director.tap(days, "3 days", expect="Post this vote")
        mark = fake.mark()
        await director.tap(review, "Post", expect="posted in 1 groups")
        card = await fake.wait_for_message(
            cast.group_id,
            lambda m: "修建健身广场" in (m.text or "") and bool(m.buttons()),
            after=mark,
        )
        assert "同意" in await alice.tap_for_toast(card, "同意")
        assert "改为：不同意" in await alice.tap_for_toast(card, "不同意")
        assert "同意" in await bob.tap_for_toast(card, "同意")

        # A day before the deadline Carol (only she has not voted) is reminded; she votes.
        world.clock.advance(timedelta(days=2, hours=1))
        mark = fake.mark()
        assert 1 in (await world.app.runtime.run("vote_reminder")).values()
        reminder = await fake.wait_for_message(carol.id, after=mark)
        assert "还没有投票" in (reminder.text or "")
        assert "同意" in await carol.tap_for_toast(card, "同意")

        # The deadline: closed once, the result posted, and the square becomes a project.
        world.clock.advance(timedelta(days=1))
        mark = fake.mark()
        closed = await world.app.runtime.run("vote_close")
        assert 3 in closed.values(), closed
        result = await fake.wait_for_message(
            cast.group_id, lambda m: "表决结果" in (m.text or "") and not m.edited, after=mark
        )
        assert "参与：3 / 3" in (result.text or "")
        planned = await fake.wait_for_message(bob.id, lambda m: "🏗" in (m.text or ""), after=mark)
        assert "修建健身广场" in (planned.text or "") and "已计划" in (planned.text or "")

        # The lights' project is followed to done: each change goes to the group and its people.
        card = await director.say("/projects", expect="村口路灯坏了")
        for button, shown in (("Started", "办理中"), ("Done", "已完成")):
            mark = fake.mark()
            card = await director.tap(card, button, expect="村口路灯坏了")
            post = await fake.wait_for_message(
                cast.group_id,
                lambda m: "🏗" in (m.text or "") and "村口路灯坏了" in (m.text or ""),
                after=mark,
            )
            assert shown in (post.text or ""), post.text
            for person in (alice, bob, carol):
                heard = await fake.wait_for_message(
                    person.id, lambda m: "🏗" in (m.text or ""), after=mark
                )
                assert shown in (heard.text or "")
        assert card.buttons() == []  # done: nothing more to press

        listing = await carol.say("/projects", expect="村口路灯坏了")
        assert "已完成" in (listing.text or "")
        page = await carol.say("/agenda", expect="路灯不亮")
        assert f"已合并到 {lights}" in (page.text or "")
    finally:
        await fake.wait_idle(0.3)  # outbox sends and jobs finish before the clock goes back
        world.clock.travel_to(datetime.now(UTC) + saved)


async def test_a_council_set_to_the_last_day_of_each_month(world: World) -> None:
    """Days 1–28 or "the last day": a short month meets on its last day, not never."""
    async with unit_of_work(world.app.sessions) as session:
        v = await report_village(session, world.clock.now())
    admin = world.person(v.person("村管理员").telegram_id, "Admin")
    card = await admin.say("/council", expect="阳光议事会")
    assert "每月15日 19:00 召开" in (card.text or "")  # the default
    day = next(t for t, d in card.button_data().items() if d.startswith("cc:day:"))
    days = await admin.tap(card, day, expect="几号")
    assert "28" in days.buttons() and "29" not in days.buttons()
    hours = await admin.tap(days, "每月最后一天", expect="几点")
    notice = await admin.tap(hours, "19:00", expect="提前几天")
    saved = await admin.tap(notice, "3", expect="已保存")
    assert "每月最后一天 19:00 召开议事会" in (saved.text or "")
    async with world.app.sessions() as session:
        setup = await council.settings_of(session, v.village_id)
    assert setup.day == 31
    february = council.meeting_start(setup, 2031, 2, world.app.settings.tz)
    assert (february.month, february.day) == (2, 28)
