"""What neighbours reported, end to end through the fake Bot API.

From 🏠 → 📣 报事 → 👀 看看邻居报的 a resident sees the grid's reports (no anonymous
reporter named) and follows one with 关注 (a second press, and a forged one for another
grid, answered clearly); someone not yet approved is told what to do next; the grid worker
turns the weekly 报事进展 on from /tasks and the grid's group gets it, anonymous reporters
unnamed. Filing, the wizard hints at a neighbour's open report that looks alike: 就是这个，
关注它 ends the wizard with a confirmation and files nothing; an unrelated report goes
straight on; 不是，继续报事 files (typed outside a flow too); /gridstats counts the
duplicate avoided."""

from __future__ import annotations

import itertools
from datetime import datetime, time, timedelta
from typing import Any

from sqlmodel import select

from bot.middlewares import ThrottlingMiddleware
from sandbox.bot_api import SentMessage
from storage.db import unit_of_work
from storage.models.reports import FollowedInstead, Task, TaskFollower
from tests.harness import Talker, World
from tests.test_reports_neighbours import file_view, neighbours_plan
from tests.village_builder import BuiltVillage

_bases = itertools.count(0)


def has(text: str) -> object:
    return lambda m: text in (m.text or m.caption or "")


def catch_breath(world: World, *talkers: Talker) -> None:
    """People tap slower than a test: forget their recent updates (the flood limit)."""
    for middleware in world.app.dp.update.outer_middleware:
        if isinstance(middleware, ThrottlingMiddleware):
            for talker in talkers:
                middleware._seen.pop(talker.id, None)


async def village(world: World) -> BuiltVillage:
    plan = neighbours_plan(
        "邻居村{base}", base=4_700_000 + next(_bases) * 100, now=world.clock.now()
    )
    async with unit_of_work(world.app.sessions) as session:
        v = await plan.build(session)
    world.fake.group(v.group("一网格群"), "一网格群")
    return v


async def file(world: World, v: BuiltVillage, who: str, text: str, **options: Any) -> str:
    """`who` files a report now (by the world's clock); its number."""
    view = await file_view(world.app.sessions, v, who, text, now=world.clock.now(), **options)
    return view.task.number


async def home(talker: Talker) -> SentMessage:
    mark = talker.world.fake.mark()
    await talker.user.send("/start")
    return await talker.next_message(after=mark, expect="？")


def next_monday_morning(world: World) -> datetime:
    """08:30 local on the Monday after now: the weekly post of this week is due."""
    tz = world.app.settings.tz
    today = world.clock.now().astimezone(tz).date()
    monday = today + timedelta(days=7 - today.weekday())
    return datetime.combine(monday, time(8, 30), tzinfo=tz)


async def test_neighbours_reports_followed_and_posted_weekly(world: World) -> None:
    fake = world.fake
    v = await village(world)
    lamp = await file(world, v, "张三", "村东桥头路灯不亮了", place="村东桥头")
    river = await file(world, v, "周九", "有人往河里倒垃圾", kind="environment", anonymous=True)
    elsewhere = await file(world, v, "钱七", "二网格的井盖丢了")
    zhao = world.person(v.person("赵六").telegram_id, "Zhao")
    worker = world.person(v.person("王网格员").telegram_id, "Wang")
    pending = world.person(v.person("孙八").telegram_id, "Sun")

    # 🏠 → 📣 报事 → 👀 看看邻居报的: the grid's reports, the anonymous one unnamed.
    start = await home(zhao)
    kinds = await zhao.tap(start, "📣 报事", expect="哪一类问题")
    listed = await zhao.tap(kinds, "👀 看看邻居报的", expect="一网格的报事")
    text = listed.text or ""
    assert lamp in text and river in text and elsewhere not in text
    assert "报事人：张三" in text and "一位村民（匿名）" in text and "周九" not in text
    assert "今天报的" in text and "还在办的 2 件" in text
    assert f"👀 关注 {lamp}" in listed.buttons() and "📣 报事" in listed.buttons()

    # 关注: the list shows it followed; a second press of the old button and a forged press
    # for another grid's report get a clear answer, and nothing more happens.
    follow_data = listed.button_data()[f"👀 关注 {lamp}"]
    followed = await zhao.tap(listed, f"👀 关注 {lamp}", expect="✓ 您已关注")
    assert f"👀 关注 {lamp}" not in followed.buttons()
    assert "已经关注" in await zhao.tap_for_toast(followed, data=follow_data)
    async with world.app.sessions() as session:
        other_id = (
            await session.exec(
                select(Task.id).where(Task.number == elsewhere, Task.village_id == v.village_id)
            )
        ).one()
    forged = f"nf:{other_id}:0"  # 关注 of another grid's report
    assert "只能关注本网格" in await zhao.tap_for_toast(followed, data=forged)
    async with world.app.sessions() as session:
        followers = (
            await session.exec(
                select(TaskFollower.person_id)
                .join(Task, Task.id == TaskFollower.task_id)
                .where(Task.village_id == v.village_id)
            )
        ).all()
    assert followers == [v.person("赵六").id]

    # Someone whose request to join still waits is told what happens next.
    answer = await pending.say("/reports", expect="加入本村的居民")
    assert "网格员" in (answer.text or "")

    # The worker turns the weekly post on from /tasks; the card says what happens next.
    catch_breath(world, zhao, worker)
    tasks = await worker.say("/tasks", expect="任务")
    card = await worker.tap(tasks, "📰 每周往群里发报事进展", expect="每周报事进展")
    assert "一网格：没打开 · 点这里打开" in card.buttons()
    assert "二网格" not in " ".join(card.buttons())  # not the worker's grid
    toggle = card.button_data()["一网格：没打开 · 点这里打开"]
    assert "只有本网格" in await zhao.tap_for_toast(card, data=toggle)  # a resident's press
    turned = await worker.tap(card, "一网格：没打开 · 点这里打开", expect="已打开")
    assert "下周一第一次发" in (turned.text or "")
    assert "✓ 一网格：已打开 · 点这里关掉" in turned.buttons()

    # Monday morning: the group gets the week's progress, once; the anonymous reporter unnamed.
    mark = fake.mark()
    group = v.group("一网格群")
    result = await world.app.runtime.run("report_progress", at=next_monday_morning(world))
    assert list(result.values()) == [1], result
    post = await fake.wait_for_message(group, has("报事进展"), after=mark)
    assert lamp in (post.text or "") and river in (post.text or "")
    assert "张三" in (post.text or "") and "周九" not in (post.text or "")
    assert "本周新报 2 件" in (post.text or "") and elsewhere not in (post.text or "")
    again = await world.app.runtime.run(
        "report_progress", at=next_monday_morning(world) + timedelta(hours=1)
    )
    assert again == {}


async def test_the_hint_when_filing_and_the_duplicates_avoided(world: World) -> None:
    fake = world.fake
    v = await village(world)
    lamp = await file(world, v, "张三", "村东桥头路灯不亮了", place="村东桥头")
    zhao = world.person(v.person("赵六").telegram_id, "Zhao")
    zhou = world.person(v.person("周九").telegram_id, "Zhou")
    admin = world.person(v.person("村管理员").telegram_id, "Admin")

    # 赵六 types the same problem in other words: the hint shows 张三's report.
    start = await home(zhao)
    kinds = await zhao.tap(start, "📣 报事", expect="哪一类问题")
    await zhao.tap(kinds, "道路设施", expect="话筒")
    extras = await zhao.say("桥头的路灯坏了", expect="地点")
    hint = await zhao.tap(extras, "下一步", expect="邻居已经报过")
    assert lamp in (hint.text or "") and "村东桥头路灯不亮了" in (hint.text or "")
    assert "张三" not in (hint.text or "")
    assert hint.buttons()[:2] == ["👀 就是这个，关注它", "➡ 不是，继续报事"]
    done = await zhao.tap(hint, "👀 就是这个，关注它", expect="不用再报了")
    assert lamp in (done.text or "") and "一网格的网格员" in (done.text or "")
    assert "🏠 主页" in done.buttons()

    # 周九: something unrelated goes straight on to the name; then the lamp again, but
    # 不是，继续报事 goes on and files it.
    catch_breath(world, zhao, zhou)
    start = await home(zhou)
    kinds = await zhou.tap(start, "📣 报事", expect="哪一类问题")
    await zhou.tap(kinds, "矛盾纠纷", expect="话筒")
    extras = await zhou.say("邻居家狗晚上一直叫", expect="地点")
    privacy = await zhou.tap(extras, "下一步", expect="显示")
    await zhou.tap(privacy, "✖ 取消")
    catch_breath(world, zhou)
    start = await home(zhou)
    kinds = await zhou.tap(start, "📣 报事", expect="哪一类问题")
    await zhou.tap(kinds, "道路设施", expect="话筒")
    extras = await zhou.say("桥头路灯坏了，晚上看不见", expect="地点")
    hint = await zhou.tap(extras, "下一步", expect="邻居已经报过")
    privacy = await zhou.tap(hint, "➡ 不是，继续报事", expect="显示")
    check = await zhou.tap(privacy, "显示我的名字", expect="请核对")
    await zhou.tap(check, "提交报事", expect="已提交")

    # Typed outside a flow, the quick way: the kind, then the hint, then the check.
    catch_breath(world, zhou)
    offer = await zhou.say("桥头的路灯又不亮了", expect="报事")
    kinds = await zhou.tap(offer, "📣 报事", expect="哪一类问题")
    hint = await zhou.tap(kinds, "道路设施", expect="邻居已经报过")
    assert lamp in (hint.text or "")
    check = await zhou.tap(hint, "➡ 不是，继续报事", expect="请核对")
    assert "桥头的路灯又不亮了" in (check.text or "")
    await zhou.tap(check, "✖ 取消")

    async with world.app.sessions() as session:
        filed = (
            await session.exec(select(Task.reporter_id).where(Task.village_id == v.village_id))
        ).all()
        avoided = (
            await session.exec(
                select(FollowedInstead).where(FollowedInstead.village_id == v.village_id)
            )
        ).all()
    assert v.person("赵六").id not in filed and v.person("周九").id in filed
    assert [a.person_id for a in avoided] == [v.person("赵六").id]

    # /gridstats counts it for the grid.
    mark = fake.mark()
    await admin.user.send("/gridstats")
    figures = await fake.wait_for_message(admin.id, has("各网格报事情况"), after=mark)
    lines = (figures.text or "").split("\n")
    assert any("一网格" in line and "避免重复报事 1 件" in line for line in lines), lines
    assert any("二网格" in line and "避免重复报事 0 件" in line for line in lines), lines


async def test_a_long_list_is_paged_with_buttons(world: World) -> None:
    """Seven open reports: five on the first page, two on the next (较早 ▶, then ◀ 较新); a
    forged page past the end shows the last one."""
    v = await village(world)
    numbers = [
        await file(world, v, "张三", f"第{n}处台阶松动了，老人走路不方便") for n in range(1, 8)
    ]
    zhao = world.person(v.person("赵六").telegram_id, "Zhao")
    first = await zhao.say("/reports", expect="第 1 页，共 2 页")
    newest_five, oldest_two = numbers[:1:-1], numbers[1::-1]
    assert all(n in (first.text or "") for n in newest_five)
    assert not any(n in (first.text or "") for n in oldest_two)
    assert "◀ 较新" not in first.buttons()
    second = await zhao.tap(first, "较早 ▶", expect="第 2 页，共 2 页")
    assert all(n in (second.text or "") for n in oldest_two)
    assert "较早 ▶" not in second.buttons()
    back = await zhao.tap(second, "◀ 较新", expect="第 1 页，共 2 页")
    assert newest_five[0] in (back.text or "")
    mark = world.fake.mark()
    await zhao.user.press(back, data="nb:99")  # forged: no such page
    beyond = await zhao.next_message(after=mark, expect="第 2 页，共 2 页")
    assert all(n in (beyond.text or "") for n in oldest_two)
