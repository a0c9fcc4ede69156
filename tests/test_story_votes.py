"""The consultation story end to end through the fake Bot API: a resident's proposal is put on
the agenda, voted on in the group (with a change of mind, refusals, a reminder), closed by the
deadline job once, and shown in /agenda; and a secret vote whose choices show nowhere."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlmodel import select

from storage import org, votes
from storage.models.org import MembershipStatus
from storage.models.votes import Vote
from tests.harness import World
from tests.village_builder import BuiltVillage, VillagePlan


@dataclass
class Cast:
    village_id: int
    admin: int
    residents: list[int]
    pending: int
    group_id: int
    village: BuiltVillage


async def closed_here(world: World, cast: Cast) -> dict[str, int]:
    """Run the close job: what it posted for this village's votes (the shared database may
    hold other tests' open votes, which it closes too)."""
    closed = await world.app.runtime.run("vote_close")
    async with world.app.sessions() as session:
        query = select(Vote.id).where(Vote.village_id == cast.village_id)
        mine = {f"v{vote_id}" for vote_id in (await session.exec(query)).all()}
    return {key: count for key, count in closed.items() if key in mine}


def village_plan() -> VillagePlan:
    """An English-speaking admin, three approved residents (separate households), one
    pending, and a bound group."""
    plan = VillagePlan("议事村{base}").grid("一网格")
    for i in range(4):
        status = MembershipStatus.APPROVED if i < 3 else MembershipStatus.PENDING
        plan.household(f"{i}号", grid="一网格").resident(f"居民{i}", home=f"{i}号", status=status)
    return plan.admin("书记", locale="en").group()


async def setup_village(world: World, plan: VillagePlan | None = None) -> Cast:
    """The village of `village_plan()` (or of `plan`), its people and group known to the fake."""
    v = await (plan or village_plan()).build_in(world.app.sessions)
    ids = [v.person(f"居民{i}").telegram_id for i in range(4)]
    for i, user_id in enumerate(ids):
        world.fake.user(user_id, f"R{i}")
    admin = v.person("书记").telegram_id
    world.fake.user(admin, "Secretary")
    world.fake.group(v.group_id, f"议事村{v.base}群")
    return Cast(v.village_id, admin, ids[:3], ids[3], v.group_id, v)


async def test_a_proposal_is_voted_on_in_the_group_and_closed_by_the_deadline(
    world: World,
) -> None:
    fake = world.fake
    cast = await setup_village(world)
    admin = world.person(cast.admin)
    alice, bob, carol = (world.person(i) for i in cast.residents)
    pending = world.person(cast.pending)
    travelled = timedelta()
    try:
        # Alice sends a proposal; the admin puts it on the agenda; Alice is told.
        await alice.say("/propose", expect="书记信箱")
        await alice.say("村口路灯坏了", expect="具体内容")
        review = await alice.say("晚上太黑，建议修好。", expect="村口路灯坏了")
        mark = fake.mark()
        sent = await alice.tap(review, "实名提交", expect="P-")
        code = re.search(r"P-\d{4}-\d{4}", sent.text or "")
        assert code, sent.text
        push = await fake.wait_for_message(
            admin.id, lambda m: code.group(0) in (m.text or "") and bool(m.buttons()), after=mark
        )
        assert "居民0" in (push.text or "")
        mark = fake.mark()
        await admin.tap(push, "Put on the agenda", expect="is on the agenda")
        told = await fake.wait_for_message(alice.id, after=mark)
        assert "已列入议题" in (told.text or "")

        # The admin puts it to a vote with the usual options, 3 days, a 30% quorum.
        items = await admin.say("/vote", expect="Which agenda item")
        options = await admin.tap(items, code.group(0), expect="Which options")
        days = await admin.tap(options, "Agree / Disagree / Abstain", expect="How long")
        review = await admin.tap(days, "3 days", expect="Post this vote")
        review = await admin.tap(review, "Quorum", expect="30%")
        mark = fake.mark()
        await admin.tap(review, "Post", expect="posted in 1 groups")
        card = await fake.wait_for_message(
            cast.group_id, lambda m: "村口路灯坏了" in (m.text or ""), after=mark
        )
        assert card.buttons() == ["同意", "不同意", "弃权"]
        vote_data = card.button_data()["同意"]
        assert "已投票：0 / 3" in (card.text or "")

        # Presses: a vote, a change of mind, the same choice again, and two refusals.
        assert "同意" in await alice.tap_for_toast(card, "同意")
        assert "改为：不同意" in await alice.tap_for_toast(card, "不同意")
        assert "已记录" in await alice.tap_for_toast(card, "不同意")
        assert "只有" in await pending.tap_for_toast(card, "同意")
        stranger = world.person(cast.pending + 77, "Stranger")
        assert "只有" in await stranger.tap_for_toast(card, "同意")

        # The card shows the count and the tally after the batched edit.
        world.clock.advance(timedelta(seconds=7))
        travelled += timedelta(seconds=7)
        mark = fake.mark()
        assert (await world.app.runtime.run("vote_cards")).get("edits", 0) >= 1
        edited = await fake.wait_for_message(
            cast.group_id, lambda m: m.message_id == card.message_id, after=mark
        )
        assert "已投票：1 / 3" in (edited.text or "") and "不同意：1 票" in (edited.text or "")

        # A day before the deadline, Bob and Carol (not Alice, not the pending one) are reminded
        # once.
        world.clock.advance(timedelta(days=2, hours=1))
        travelled += timedelta(days=2, hours=1)
        mark = fake.mark()
        result = await world.app.runtime.run("vote_reminder")
        assert 2 in result.values(), result
        for person in (bob, carol):
            reminder = await fake.wait_for_message(person.id, after=mark)
            assert "还没有投票" in (reminder.text or "")
        await fake.assert_no_message(alice.id, after=mark, within=0.3)
        await fake.assert_no_message(pending.id, after=mark, within=0.1)
        assert await world.app.runtime.run("vote_reminder") == {}
        assert "同意" in await bob.tap_for_toast(card, "同意")

        # The deadline passes while the bot is down: the close job closes and posts once.
        world.clock.advance(timedelta(days=1))
        travelled += timedelta(days=1)
        mark = fake.mark()
        closed = await closed_here(world, cast)
        assert list(closed.values()) == [2], closed
        assert await closed_here(world, cast) == {}
        posted = await fake.wait_for_message(
            cast.group_id, lambda m: "表决结果" in (m.text or "") and not m.edited, after=mark
        )
        text = posted.text or ""
        assert "参与：2 / 3" in text and "法定人数 30%：已达到" in text
        final = await fake.wait_for_message(
            cast.group_id,
            lambda m: m.message_id == card.message_id and "表决结果" in (m.text or ""),
            after=mark,
        )
        assert final.buttons() == []
        await fake.wait_idle(0.3)  # a second result post, if one were queued, would be sent
        results = [m for m in fake.sent(cast.group_id) if "表决结果" in (m.text or "")]
        assert len(results) == 2  # the edited card and one result post
        assert "截止" in await carol.tap_for_toast(card, data=vote_data)

        agenda = await alice.say("/agenda", expect="已表决")
        assert "已决定" in (agenda.text or "")
        assert f"书记信箱回复（近30天）：\n• {code.group(0)} 村口路灯坏了 —— " in (
            agenda.text or ""
        )
    finally:
        world.clock.advance(-travelled)


async def test_a_secret_vote_shows_no_choice_anywhere(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)  # what production logs (the database driver's DEBUG
    caplog.set_level(logging.DEBUG, logger="linli")  # lines echo SQL, and are off there)
    fake = world.fake
    cast = await setup_village(world)
    labels = ["甲方案XQ", "乙方案YZ"]
    admin = world.person(cast.admin)
    items = await admin.say("/vote", expect="question")
    options = await admin.say("选哪个方案？", expect="Which options")
    own = await admin.tap(options, "My own options", expect="one per line")
    del own
    days = await admin.say("\n".join(labels), expect="How long")
    review = await admin.tap(days, "1 days", expect="Post this vote")
    review = await admin.tap(review, "Secret", expect="tally shows at the close")
    mark = fake.mark()
    await admin.tap(review, "Post", expect="posted in 1 groups")
    del items
    card = await fake.wait_for_message(
        cast.group_id, lambda m: "选哪个方案" in (m.text or ""), after=mark
    )
    assert "不记名" in (card.text or "")
    for i, user_id in enumerate(cast.residents):
        toast = await world.person(user_id).tap_for_toast(card, labels[i % 2])
        assert "保密" in toast
    world.clock.advance(timedelta(seconds=7))
    try:
        mark = fake.mark()
        assert (await world.app.runtime.run("vote_cards")).get("edits") == 1
        edited = await fake.wait_for_message(
            cast.group_id, lambda m: m.message_id == card.message_id, after=mark
        )
        assert "已投票：3 / 3" in (edited.text or "")
        assert "：2 票" not in (edited.text or "")  # no tally while open
        world.clock.advance(timedelta(days=1))
        mark = fake.mark()
        assert list((await closed_here(world, cast)).values()) == [3]
        result = await fake.wait_for_message(
            cast.group_id, lambda m: "表决结果" in (m.text or ""), after=mark
        )
        assert "：2 票" in (result.text or "")  # the tally after the close
        await fake.wait_idle(0.3)  # all the close's sends are made before the calls are searched
    finally:
        world.clock.advance(-timedelta(days=1, seconds=7))

    # No choice in any toast, voter's private chat or log line; in the group only the buttons
    # and the per-option tally.
    for call in fake.calls:
        flat = str(call.params)
        if call.chat_id in (cast.group_id, cast.admin):  # the card; the admin's own wizard
            continue
        assert not any(label in flat for label in labels), call
    for record in caplog.records:
        assert not any(label in record.getMessage() for label in labels), record.getMessage()
    async with world.app.sessions() as session:
        village = await org.get_village(session, cast.village_id)
        assert (await votes.closed_votes(session, village.id or 0))[0].secret


async def test_a_3_of_8_budget_vote_with_paper_ballots(world: World) -> None:
    """The year's 惠民项目: pick up to 3 of 8 on the card (a 4th refused, a pick taken back,
    🔍 shows one's picks), each voter's picks counted only once they press ✔ 确认, 10 paper
    ballots entered once by the admin, and the result names the three chosen, online and
    paper counted apart and together."""
    fake = world.fake
    cast = await setup_village(world, village_plan().admin("村会计", locale="en"))
    admin = world.person(cast.admin)
    alice, bob, carol = (world.person(i) for i in cast.residents)
    projects = ["修水渠", "装路灯", "修村道", "建广场", "买垃圾桶", "修桥", "建图书室", "装监控"]
    clerk = world.person(cast.village.person("村会计").telegram_id, "Clerk")
    travelled = timedelta()
    try:
        await admin.say("/vote", expect="question")
        options = await admin.say("明年的惠民项目选哪几个？", expect="Which options")
        await admin.tap(options, "My own options", expect="one per line")
        days = await admin.say("\n".join(projects), expect="How long")
        review = await admin.tap(days, "3 days", expect="Post this vote")
        review = await admin.tap(review, "How many to pick", expect="Each may pick: 2")
        review = await admin.tap(review, "How many to pick", expect="Each may pick: 3")
        mark = fake.mark()
        await admin.tap(review, "Post", expect="posted in 1 groups")
        card = await fake.wait_for_message(
            cast.group_id, lambda m: "惠民项目" in (m.text or ""), after=mark
        )
        assert "8 项中最多选 3 项；得票最多的 3 项通过" in (card.text or "")
        assert card.buttons()[-2:] == ["✔ 确认", "🔍 我的选择"]
        assert "选好后点「✔ 确认」，确认后才计票" in (card.text or "")

        for project in ("修水渠", "装路灯", "修村道"):
            assert "选好后请点「✔ 确认」，确认后才计票" in await alice.tap_for_toast(card, project)
        assert "最多只能选 3 项" in await alice.tap_for_toast(card, "建广场")
        assert "已取消：修村道" in await alice.tap_for_toast(card, "修村道")
        assert "已选 3 项：修水渠、装路灯、建广场" in await alice.tap_for_toast(card, "建广场")
        mine = await alice.tap_for_toast(card, "🔍 我的选择")
        assert "还没有计票" in mine and "修水渠、装路灯、建广场" in mine
        # Not confirmed yet: nothing counts, so the card has nothing new to show.
        world.clock.advance(timedelta(seconds=7))
        travelled += timedelta(seconds=7)
        assert (await world.app.runtime.run("vote_cards")).get("edits", 0) == 0
        confirmed = await alice.tap_for_toast(card, "✔ 确认")
        assert confirmed == "已确认：修水渠、装路灯、建广场。截止前还可以改，改完请再点确认。"
        assert "没有改动" in await alice.tap_for_toast(card, "✔ 确认")
        assert "已计入" in await alice.tap_for_toast(card, "🔍 我的选择")
        world.clock.advance(timedelta(seconds=7))
        travelled += timedelta(seconds=7)
        mark = fake.mark()
        assert (await world.app.runtime.run("vote_cards")).get("edits", 0) == 1
        edited = await fake.wait_for_message(
            cast.group_id, lambda m: m.message_id == card.message_id, after=mark
        )
        assert "已投票：1 / 3" in (edited.text or "") and "建广场：1 票" in (edited.text or "")
        for project in ("建广场", "修桥"):
            await bob.tap_for_toast(card, project)
        assert "已确认：建广场、修桥" in await bob.tap_for_toast(card, "✔ 确认")
        await carol.tap_for_toast(card, "修水渠")
        assert "已确认：修水渠" in await carol.tap_for_toast(card, "✔ 确认")
        # Carol presses one more but never confirms it: it is not counted.
        assert "已选 2 项：修水渠、装监控" in await carol.tap_for_toast(card, "装监控")

        # Another admin (the village clerk) enters the paper ballots, once.
        votes_list = await clerk.say("/paper", expect="Which vote")
        await clerk.tap(votes_list, "明年的惠民项目选哪几个？", expect="修水渠")
        paper = {"修水渠": 2, "装路灯": 6, "修村道": 1, "建广场": 3, "买垃圾桶": 0, "修桥": 7}
        paper |= {"建图书室": 0, "装监控": 1}
        for project in projects[:-1]:
            await clerk.say(str(paper[project]), expect="How many")
        await clerk.say(str(paper["装监控"]), expect="voted on paper in all")
        await clerk.say("十个", expect="Please send a number")
        confirm = await clerk.say("１０", expect="Enter them?")
        await clerk.tap(confirm, "✔ Enter", expect="Entered")
        again = await clerk.say("/paper", expect="No vote waits")
        assert "once" in (again.text or "")

        world.clock.advance(timedelta(days=3, minutes=1))
        travelled += timedelta(days=3, minutes=1)
        mark = fake.mark()
        await world.app.runtime.run("vote_close")
        posted = await fake.wait_for_message(
            cast.group_id, lambda m: "表决结果" in (m.text or "") and not m.edited, after=mark
        )
        text = posted.text or ""
        # online: 修水渠 2, 装路灯 1, 建广场 2, 修桥 1; with paper: 4, 7, 1, 5, 0, 8, 0, 1
        assert "通过的选项：修桥、装路灯、建广场" in text, text
        assert "装路灯：7" in text and "网上 1，纸质 6" in text
        assert "装监控：1 票" in text  # its paper ballot, not Carol's unconfirmed press
        assert "另有 10 人投票，合计 13 人" in text
    finally:
        world.clock.advance(-travelled)
