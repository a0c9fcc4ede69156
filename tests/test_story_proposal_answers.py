"""Public answers (书记信箱回复) end to end through the fake Bot API: one proposal sent without the
name for the public and declined with a reason, one put on the agenda, one merged into it; the
author hears the reason, a neighbour reads every answer in /agenda, and on the 1st the month's
answers are posted in the village group once, naming nobody."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sandbox.bot_api import SentMessage
from tests.harness import Talker, World
from tests.test_story_votes_to_projects import code_in
from tests.village_builder import VillagePlan

JUNE = datetime(2032, 6, 10, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
FIRST_OF_JULY = datetime(2032, 7, 1, 2, 0, tzinfo=UTC)  # 10:00, after the 09:00 post time


async def test_answers_to_proposals_are_public_and_name_nobody(world: World) -> None:
    fake = world.fake
    plan = VillagePlan("信箱村{base}").grid("一网格")
    for i, name in enumerate(("张大妈", "李大爷", "王阿姨")):
        plan.household(f"{i}号", grid="一网格").resident(name, home=f"{i}号")
    v = await plan.admin("书记", locale="en").group().build_in(world.app.sessions)
    aunt, uncle, neighbour = (
        world.person(v.person(n).telegram_id, n) for n in ("张大妈", "李大爷", "王阿姨")
    )
    admin = world.person(v.person("书记").telegram_id, "书记")
    group = v.group_id
    fake.group(group, f"信箱村{v.base}群")
    saved = world.clock.now() - datetime.now(UTC)
    world.clock.travel_to(JUNE)
    try:

        async def send(who: Talker, title: str, body: str, button: str) -> tuple[str, SentMessage]:
            await who.say("/propose", expect="书记信箱")
            await who.say(title, expect="具体内容")
            review = await who.say(body, expect=title)
            mark = fake.mark()
            code = code_in(await who.tap(review, button, expect="P-"))
            push = await fake.wait_for_message(
                admin.id, lambda m: code in (m.text or "") and bool(m.buttons()), after=mark
            )
            return code, push

        # 张大妈 asks without her name for the public; the admin declines with a reason.
        dog, push = await send(aunt, "邻居家狗总叫", "晚上睡不着。", "不对外公开姓名")
        assert "张大妈" in (push.text or "")  # the committee knows who asked
        ask = await admin.tap(push, "Decline", expect="Why is")
        assert "without the author's name" in (ask.text or "")
        mark = fake.mark()
        await admin.say("已请网格员上门调解", expect="is declined")
        told = await fake.wait_for_message(aunt.id, after=mark)
        assert "未采纳" in (told.text or "") and "上门调解" in (told.text or "")

        # 李大爷's proposal goes on the agenda; 王阿姨's duplicate is merged into it.
        lamp, push = await send(uncle, "村口路灯坏了", "晚上太黑。", "实名提交")
        await admin.tap(push, "Put on the agenda", expect="is on the agenda")
        same, push = await send(neighbour, "路口没有灯", "黑。", "实名提交")
        targets = await admin.tap(push, "Merge into", expect="Merge")
        await admin.tap(targets, lamp, expect="is merged into")

        # A neighbour reads every answer in /agenda; nobody's name is on it.
        page = await neighbour.say("/agenda", expect="书记信箱回复（近30天）")
        text = page.text or ""
        assert f"• {dog} 邻居家狗总叫 —— 未采纳：已请网格员上门调解" in text
        assert f"• {lamp} 村口路灯坏了 —— 已列入议题" in text
        assert f"• {same} 路口没有灯 —— 已合并到 {lamp} 村口路灯坏了" in text
        assert "张大妈" not in text and "李大爷" not in text

        # On the 1st of July the group gets June's answers, once, naming nobody.
        world.clock.travel_to(FIRST_OF_JULY)
        mark = fake.mark()
        ran = await world.app.runtime.run("proposal_answers")
        assert ran.get(f"2032-06/v{v.village_id}") == 3, ran
        post = await fake.wait_for_message(
            group, lambda m: "书记信箱回复" in (m.text or ""), after=mark
        )
        text = post.text or ""
        assert "2032年6月" in text and "上门调解" in text and lamp in text and same in text
        assert not any(name in text for name in ("张大妈", "李大爷", "王阿姨"))
        world.clock.advance(timedelta(hours=3))
        assert f"2032-06/v{v.village_id}" not in await world.app.runtime.run("proposal_answers")
        await fake.wait_idle(0.3)  # a second post, if one were queued, would be sent
        assert len([m for m in fake.sent(group) if "书记信箱回复" in (m.text or "")]) == 1
    finally:
        await fake.wait_idle(0.3)
        world.clock.travel_to(datetime.now(UTC) + saved)
