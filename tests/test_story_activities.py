"""An activity from creation to closing, end to end through the fake Bot API: the admin makes
it with buttons and it is posted to the group; residents sign up with the card's buttons until
it is full, the next waits, moves up when someone cancels and is told privately; an outsider's
press is refused; the day before, those signed up are reminded once; at the activity one
resident checks in by the QR link (a second use credits nothing), an expired code is refused,
another is checked in from the organiser's list; closing posts the summary, and the points are
in the next weekly post."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from datetime import timedelta

from sqlmodel import col, select

from sandbox.bot_api import SentMessage
from storage import activities
from storage.activities import aware
from storage.db import unit_of_work
from storage.models.activities import Activity
from storage.models.org import (
    BoundChat,
    Grid,
    Household,
    Membership,
    MembershipStatus,
    Person,
    Role,
    RoleAssignment,
    Village,
)
from tests.harness import World

_n = itertools.count(1)
BASE = 63_000_000


@dataclass
class Cast:
    village: str
    admin: int
    residents: list[int]
    outsider: int  # pending
    group_id: int


async def setup_village(world: World) -> Cast:
    n = next(_n) + int(str(id(world))[-3:]) * 10
    base = BASE + n * 100
    name = f"活动村{n}"
    async with unit_of_work(world.app.sessions) as session:
        village = Village(name=name)
        session.add(village)
        await session.flush()
        grid = Grid(village_id=village.id or 0, name="一网格")
        session.add(grid)
        await session.flush()
        ids = []
        for i in range(4):
            household = Household(grid_id=grid.id or 0, label=f"{i + 1}号")
            session.add(household)
            await session.flush()
            person = Person(telegram_id=base + i, full_name=f"居民{i}", household_id=household.id)
            session.add(person)
            await session.flush()
            session.add(
                Membership(
                    person_id=person.id or 0,
                    village_id=village.id or 0,
                    grid_id=grid.id or 0,
                    household_id=household.id or 0,
                    status=MembershipStatus.APPROVED if i < 3 else MembershipStatus.PENDING,
                )
            )
            ids.append(base + i)
        admin = Person(telegram_id=base + 50, full_name="书记")
        session.add(admin)
        await session.flush()
        session.add(
            RoleAssignment(
                person_id=admin.id or 0, village_id=village.id or 0, role=Role.VILLAGE_ADMIN
            )
        )
        group_id = -3_100_000_000 - n
        session.add(BoundChat(chat_id=group_id, village_id=village.id or 0))
    for i, user_id in enumerate(ids):
        world.fake.user(user_id, f"R{i}")
    world.fake.user(base + 50, "书记")
    world.fake.group(group_id, f"{name}群")
    return Cast(name, base + 50, ids[:3], ids[3], group_id)


def data_with(message: SentMessage, part: str) -> str:
    """The text of the button whose data contains `part`."""
    found = [text for text, data in message.button_data().items() if part in data]
    assert found, (part, message.button_data())
    return found[0]


async def test_an_activity_from_creation_to_the_weekly_post(world: World) -> None:
    fake = world.fake
    cast = await setup_village(world)
    admin = world.person(cast.admin)
    alice, bob, carol = (world.person(i) for i in cast.residents)
    outsider = world.person(cast.outsider)
    travelled = timedelta()

    def travel(delta: timedelta) -> None:
        nonlocal travelled
        world.clock.advance(delta)
        travelled += delta

    tz = world.app.settings.tz
    try:
        # The admin makes the activity with buttons: 2 places, the whole village, +2 points.
        await admin.say("/activity", expect="活动叫什么名字")
        await admin.say("清扫村道", expect="在哪里")
        days = await admin.say("村委会门口", expect="哪一天")
        hours = await admin.tap(days, days.buttons()[1], expect="几点开始")
        lasts = await admin.tap(hours, "09:00", expect="多长时间")
        places = await admin.tap(lasts, "2 小时", expect="限多少人")
        del places
        who = await admin.say("2", expect="哪些人可以报名")
        item = await admin.tap(who, "全村", expect="记哪一项积分")
        plus_two = next(b for b in item.buttons() if b.endswith("+2"))
        words = await admin.tap(item, plus_two, expect="给居民说几句")
        review = await admin.tap(words, "跳过", expect="发到")
        assert "人数：2" in (review.text or "")
        mark = fake.mark()
        posted = await admin.tap(review, data_with(review, "confirm"), expect="已发到 1 个群")
        card = await fake.wait_for_message(
            cast.group_id, lambda m: "清扫村道" in (m.text or ""), after=mark
        )
        assert "已报名：0 / 2 人" in (card.text or "")
        assert card.buttons() == ["✋ 报名", "取消报名"]
        sign_data = card.button_data()["✋ 报名"]

        # Two sign up, the third waits; a pending resident and a stranger are refused.
        assert "您已报名" in await alice.tap_for_toast(card, "✋ 报名")
        assert "已经报过名" in await alice.tap_for_toast(card, "✋ 报名")
        assert "您已报名" in await bob.tap_for_toast(card, "✋ 报名")
        assert "候补第 1 位" in await carol.tap_for_toast(card, "✋ 报名")
        assert "不能报名" in await outsider.tap_for_toast(card, "✋ 报名")
        stranger = world.person(cast.outsider + 77, "Stranger")
        assert "不能报名" in await stranger.tap_for_toast(card, "✋ 报名")
        mark = fake.mark()
        assert (await world.app.runtime.run("activity_cards")).get("edits", 0) >= 1
        edited = await fake.wait_for_message(
            cast.group_id, lambda m: m.message_id == card.message_id, after=mark
        )
        assert "已报名：2 / 2 人" in (edited.text or "") and "候补：1 人" in (edited.text or "")

        # Bob cancels: Carol moves up and is told privately.
        mark = fake.mark()
        assert "已取消报名" in await bob.tap_for_toast(card, "取消报名")
        moved = await fake.wait_for_message(carol.id, after=mark)
        assert "您已递补报名" in (moved.text or "")

        # The day before, Alice and Carol (not Bob) are reminded, once.
        async with world.app.sessions() as session:
            activity = (
                await session.exec(
                    select(Activity)
                    .join(Village, col(Village.id) == col(Activity.village_id))
                    .where(Village.name == cast.village)
                )
            ).one()
        start_utc = aware(activity.starts_at)
        travel(start_utc - timedelta(hours=20) - world.clock.now())
        mark = fake.mark()
        reminded = await world.app.runtime.run("activity_reminder")
        assert 2 in reminded.values(), reminded
        for person in (alice, carol):
            note = await fake.wait_for_message(
                person.id, lambda m: "提醒" in (m.text or ""), after=mark
            )
            assert "清扫村道" in (note.text or "")
        await fake.assert_no_message(bob.id, after=mark, within=0.3)
        assert await world.app.runtime.run("activity_reminder") == {}

        # At the activity: the QR code; Alice opens the link, twice.
        travel(start_utc + timedelta(minutes=5) - world.clock.now())
        photo = await admin.tap(posted, "📱 签到码", expect="签到码")
        assert photo.method == "sendPhoto"
        payload = re.search(r"start=(ck\d+_\d{6})", photo.caption or photo.text or "")
        assert payload, photo.caption
        checked = await alice.say(f"/start {payload.group(1)}", expect="签到成功")
        assert "2 分" in (checked.text or "")
        again = await alice.say(f"/start {payload.group(1)}", expect="已经签过到")
        del again
        # Carol got a forwarded picture; ten minutes later its code no longer works.
        travel(timedelta(minutes=10))
        code = payload.group(1).split("_")[1]
        refused = await carol.say(code, expect="不能用了")
        del refused
        # The organiser checks Carol in from the list.
        roster = await admin.tap(posted, "📋 名单签到", expect="点名字即可签到")
        assert "⬜ 居民2" in roster.buttons() and "✅ 居民0" in roster.buttons()
        assert "居民2 已签到" in await admin.tap_for_toast(roster, "⬜ 居民2")

        # Closing: a note; the summary goes to the group; the card shows it.
        travel(timedelta(hours=2))
        ask = await admin.tap(posted, "✅ 结束活动", expect="简单写几句")
        del ask
        mark = fake.mark()
        done = await admin.say("大家辛苦了，村道干净了。", expect="已结束")
        assert "报名 2 人，到场 2 人，共记 4 分" in (done.text or "")
        summary = await fake.wait_for_message(
            cast.group_id, lambda m: "圆满结束" in (m.text or "") and not m.edited, after=mark
        )
        assert "到场 2 人" in (summary.text or "") and "大家辛苦了" in (summary.text or "")
        closed_card = await fake.wait_for_message(
            cast.group_id,
            lambda m: m.message_id == card.message_id and "圆满结束" in (m.text or ""),
            after=mark,
        )
        assert closed_card.buttons() == []
        assert "已结束" in await bob.tap_for_toast(card, data=sign_data)

        # The next weekly post (Sunday 20:00) has the two check-ins.
        local = world.clock.now().astimezone(tz)
        sunday = (local + timedelta(days=(6 - local.weekday()) % 7)).replace(
            hour=20, minute=5, second=0, microsecond=0
        )
        if sunday <= local:
            sunday += timedelta(days=7)
        travel(sunday - local)
        mark = fake.mark()
        await world.app.runtime.run("points_weekly")
        weekly = await fake.wait_for_message(
            cast.group_id,
            lambda m: "积分" in (m.text or "") and "清扫村道" in (m.text or ""),
            after=mark,
        )
        assert "居民0" in (weekly.text or "") and "居民2" in (weekly.text or "")
        assert "居民1" not in (weekly.text or "")
    finally:
        world.clock.advance(-travelled)


async def test_an_admin_keeps_a_group_of_residents(world: World) -> None:
    cast = await setup_village(world)
    admin = world.person(cast.admin)
    groups = await admin.say("/tags", expect="居民分组")
    assert groups.buttons()[:3] == ["老年人", "青少年家庭", "新居民"]
    names = await admin.tap(groups, "老年人", expect="点名字即可添加")
    assert "⬜ 居民0" in names.buttons()
    mark = world.fake.mark()
    await admin.tap_for_toast(names, "⬜ 居民0")
    await world.fake.wait_for_message(
        admin.id,
        lambda m: m.message_id == names.message_id and "✅ 居民0" in m.buttons(),
        after=mark,
    )
    resident = world.person(cast.residents[0])
    assert "只有村管理员" in (await resident.say("/tags")).text  # type: ignore[operator]
    async with world.app.sessions() as session:
        village = (await session.exec(select(Village).where(Village.name == cast.village))).one()
        assert await activities.village_tags(session, village.id or 0) == ["老年人"]
