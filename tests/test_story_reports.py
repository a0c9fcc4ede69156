"""The life of reports, end to end through the fake Bot API with a controlled clock: filed with
a photo (an over-large one refused), pushed, accepted (strangers refused), resolved, "not fixed"
→ reopened, resolved, closed and rated; a report made in a group escalated for lateness; a duty
task to all grids; a notice to a grid; /gridstats with its chart; the Open311 export."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlmodel import select

from exports.reports import GEOREPORT_FIELDS, export_village
from sandbox.bot_api import FakeGroup, SentMessage
from storage import org, reports
from storage.db import unit_of_work
from storage.models.org import BoundChat
from storage.models.reports import ReportCategory, ReportReward, Task, TaskStatus
from tests.harness import Talker, World
from tests.village_builder import BuiltVillage, report_village


async def tap_data(talker: Talker, message: SentMessage, prefix: str, **kw: object) -> SentMessage:
    """Press the button whose callback data starts with `prefix`."""
    text = next(t for t, d in message.button_data().items() if d.startswith(prefix))
    return await talker.tap(message, text, **kw)  # type: ignore[arg-type]


async def report_in_group(
    world: World, v: BuiltVillage, resident: Talker, text: str
) -> tuple[FakeGroup, int]:
    """Bind grid A's group, then the resident asks /report there and replies to the bot with
    `text`. Returns the group and the mark taken just before the reply."""
    fake = world.fake
    group = fake.group(-2_000_000 - v.base, "一网格群")
    async with unit_of_work(world.app.sessions) as session:
        session.add(
            BoundChat(chat_id=group.id, village_id=v.village_id, grid_id=v.grid("一网格").id)
        )
    mark = fake.mark()
    await resident.user.send("/report", chat=group)
    how = await fake.wait_for_message(group.id, has("回复"), after=mark)
    mark = fake.mark()
    await resident.user.send(text, chat=group, reply_to=how)
    return group, mark


def has(text: str) -> object:
    return lambda m: text in (m.text or m.caption or "")


async def test_a_reports_whole_life(world: World) -> None:
    fake, clock = world.fake, world.clock
    async with unit_of_work(world.app.sessions) as session:
        v = await report_village(session, clock.now())
        await reports.configure(
            session,
            await _admin_actor(session, v),
            v.village_id,
            clock.now(),
            reward_item_code="隐患上报",
        )
    resident = world.person(v.person("张三").telegram_id, "Zhang")
    worker = world.person(v.person("王网格员").telegram_id, "Wang")
    other = world.person(v.person("李网格员").telegram_id, "Li")
    admin = world.person(v.person("村管理员").telegram_id, "Admin")
    neighbour = world.person(v.person("赵六").telegram_id, "Zhao")

    # /report: category, description, a photo (an over-large one refused), the place typed.
    menu = await resident.say("/report", expect="报事")
    prompt = await tap_data(resident, menu, "pk:rcat:")
    assert "500" in (prompt.text or "")
    await resident.say("桥头护栏断了，晚上很危险")
    mark = fake.mark()
    await resident.user.send_photo(file_size=25 * 1024 * 1024)
    refused = await resident.next_message(after=mark)
    assert "20 兆" in (refused.text or "")
    mark = fake.mark()
    await resident.user.send_photo(file_size=90_000)
    added = await resident.next_message(after=mark)
    assert "1" in (added.text or "")
    await resident.say("村东桥头", expect="村东桥头")
    extras = fake.last(resident.id)
    privacy = await tap_data(resident, extras, "fl:next")
    review = await tap_data(resident, privacy, "fl:anonymous")
    assert "村东桥头" in (review.text or "") and "桥头护栏断了" in (review.text or "")
    mark = fake.mark()
    filed = await tap_data(resident, review, "fl:confirm")
    number = next(w for w in (filed.text or "").split() if w.startswith("R-"))
    assert number.startswith("R-20") and len(number) == 12

    # The grid's worker gets the card with buttons and the photo; the other grid's does not.
    push = await fake.wait_for_message(worker.id, has(number), after=mark)
    assert "张三" in (push.text or "") and "✔" in " ".join(push.buttons())
    await fake.wait_for_message(worker.id, lambda m: m.method == "sendPhoto", after=mark)
    await fake.assert_no_message(other.id, has(number), within=0.3)

    # Strangers' presses are refused: the other grid's worker, the resident, a forged id.
    accept_data = next(d for d in push.button_data().values() if d.startswith("ta:acc:"))
    assert "网格员" in await other.tap_for_toast(push, data=accept_data)
    assert await resident.tap_for_toast(push, data=accept_data)
    assert await worker.tap_for_toast(push, data="ta:acc:999999999")

    # Accept: the card shows the owner; the resident hears of it.
    mark = fake.mark()
    accepted = await tap_data(worker, push, "ta:acc:", expect="王网格员")
    await fake.wait_for_message(resident.id, has(number), after=mark)
    toast = await worker.tap_for_toast(push, data=accept_data)  # a double press
    assert toast and "已" in toast

    async def resolve(card: SentMessage, note: str) -> None:
        prompt = await tap_data(worker, card, "ta:res:", expect="做了哪些处理")
        assert number in (prompt.text or "")
        photo_prompt = await worker.say(note, expect="不发照片")
        await tap_data(worker, photo_prompt, "fl:nophoto", expect=number)

    mark = fake.mark()
    await resolve(accepted, "已临时加固")
    ask = await fake.wait_for_message(resident.id, lambda m: bool(m.buttons()), after=mark)
    assert number in (ask.text or "") and "已临时加固" in (ask.text or "")

    # "Not fixed": reopened for the same grid, pushed again; then resolved, fixed, rated.
    mark = fake.mark()
    await resident.tap(ask, "👎")
    again = await fake.wait_for_message(
        worker.id, lambda m: number in (m.text or "") and "🔁" in (m.text or ""), after=mark
    )
    accepted = await tap_data(worker, again, "ta:acc:", expect="王网格员")
    mark = fake.mark()
    await resolve(accepted, "已更换护栏")
    ask = await fake.wait_for_message(resident.id, lambda m: bool(m.buttons()), after=mark)
    thanks = await resident.tap(ask, "👍", expect="满意")
    rated = await resident.tap(thanks, "⭐⭐⭐⭐⭐")
    assert "⭐⭐⭐⭐⭐" in (rated.text or "")
    async with world.app.sessions() as session:
        task = (
            await session.exec(
                select(Task).where(Task.village_id == v.village_id, Task.number == number)
            )
        ).one()
        rewards = (
            await session.exec(select(ReportReward).where(ReportReward.task_id == task.id))
        ).all()
    assert task.status == TaskStatus.CLOSED and task.rating == 5 and task.reopen_count == 1
    assert len(rewards) == 1 and rewards[0].item_code == "隐患上报"
    mine = await resident.say("/myreports", expect=number)
    assert "已办结" in (mine.text or "")
    # Its own page: who had it and what happened when, in order; strangers' presses refused.
    open_page = mine.button_data()[f"{number} · 已办结"]
    page = await resident.tap(mine, f"{number} · 已办结", expect="已提交")
    steps = [line[12:] for line in (page.text or "").split("\n") if line[:2].isdigit()]
    twice = ["已受理", "已处理"]  # resolved, "not fixed", resolved again
    assert steps == ["已提交", *twice, "重新打开", *twice, "已办结", "已评价"]
    assert "负责人：王网格员" in (page.text or "") and "已更换护栏" in (page.text or "")
    toast = await neighbour.tap_for_toast(page, data=open_page)
    assert "只有报事人" in toast
    back = await resident.tap(page, "◀ 返回", expect="点下面的编号")
    assert back.message_id == mine.message_id

    # A report made in the grid's group by replying to the bot; its public page names nobody
    # who asked to stay anonymous; a neighbour follows it.
    group, mark = await report_in_group(world, v, resident, "路灯坏了三天了")
    page = await fake.wait_for_message(group.id, has("路灯坏了"), after=mark)
    late = next(w for w in (page.text or "").replace("，", " ").split() if w.startswith("R-"))
    await fake.wait_for_message(worker.id, has(late), after=mark)
    toast = await neighbour.tap_for_toast(page, "👀")
    assert late in toast
    mark = fake.mark()
    await resident.user.send(f"/report {number}", chat=group)
    public = await fake.wait_for_message(group.id, has(number), after=mark)
    assert "张三" not in (public.text or "") and "匿名" in (public.text or "")

    # Nobody accepts it: past its time it is pushed again to the grid and the admin, once.
    start = clock.now()
    try:
        clock.advance(timedelta(hours=25))
        mark = fake.mark()
        result = await world.app.runtime.run("report_deadlines")
        assert result["pushed_again"] >= 1, result
        await fake.wait_for_message(
            worker.id, lambda m: late in (m.text or "") and "⏰" in (m.text or ""), after=mark
        )
        await fake.wait_for_message(
            admin.id, lambda m: late in (m.text or "") and "⏰" in (m.text or ""), after=mark
        )
        again_result = await world.app.runtime.run("report_deadlines")
        assert again_result["pushed_again"] == 0
        await fake.assert_no_message(worker.id, has("⏰"), within=0.3)
        # Past its time to resolve (7 days for "other"): escalated to the admin.
        clock.advance(timedelta(days=7))
        mark = fake.mark()
        result = await world.app.runtime.run("report_deadlines")
        assert result["escalated"] >= 1, result
        await fake.wait_for_message(
            admin.id, lambda m: late in (m.text or "") and "⚠" in (m.text or ""), after=mark
        )
        # The daily digest lists the open task for the worker, once a day.
        digest = await world.app.runtime.run(
            "task_digest", at=clock.now().replace(hour=1, minute=5)
        )
        assert digest["digests"] >= 1, digest
    finally:
        clock.travel_to(start)

    # A duty task to all grids: both workers get it; one closes it with a note.
    duty_menu = await admin.say("/newtask", expect="职责")
    prompt = await tap_data(admin, duty_menu, "pk:duty:")
    mark = fake.mark()
    due = await admin.say("宣传冬季防火政策", expect="什么时候")
    grids = await tap_data(admin, due, "pk:due:3")
    review = await tap_data(admin, grids, "fl:all")
    created = await tap_data(admin, review, "fl:confirm", expect="T-")
    assert "2" in (created.text or "")
    push_a = await fake.wait_for_message(worker.id, has("📋"), after=mark)
    await fake.wait_for_message(other.id, has("📋"), after=mark)
    accepted = await tap_data(worker, push_a, "ta:acc:", expect="王网格员")
    prompt = await tap_data(worker, accepted, "ta:res:", expect="做了哪些处理")
    photo_prompt = await worker.say("已在网格群宣传", expect="不发照片")
    done = await tap_data(worker, photo_prompt, "fl:nophoto", expect="办结")
    del prompt, done

    # A notice to the grid: its residents and group get it; the worker sees the count.
    mark = fake.mark()
    targets = await worker.say("/notice", expect="通知")
    ask_text = await tap_data(worker, targets, "pk:ntarget:")
    confirm = await worker.say("本周六上午在村委会开展义诊。", expect="确定")
    sent = await tap_data(worker, confirm, "fl:confirm", expect="2")
    await fake.wait_for_message(resident.id, has("义诊"), after=mark)
    await fake.wait_for_message(neighbour.id, has("义诊"), after=mark)
    await fake.wait_for_message(group.id, has("义诊"), after=mark)
    await world.app.delivery.drain(5)
    status = await worker.tap_for_toast(sent, "📊")
    assert "已送达：3" in status, status
    del ask_text

    # /gridstats: figures per grid and a chart picture.
    mark = fake.mark()
    await admin.user.send("/gridstats")
    figures = await fake.wait_for_message(admin.id, has("一网格"), after=mark)
    assert "收到 2 件" in (figures.text or "")
    chart = await fake.wait_for_message(admin.id, lambda m: m.method == "sendPhoto", after=mark)
    assert chart.media

    # The Open311 export: every GeoReport v2 field, and no anonymous reporter's name.
    requests = await export_village(world.app.sessions, v.village.name)
    assert [r["service_request_id"] for r in requests] == [number, late]
    for request in requests:
        assert set(request) == set(GEOREPORT_FIELDS)
        assert request["status"] in ("open", "closed")
    assert requests[0]["status"] == "closed" and requests[1]["status"] == "open"
    assert requests[0]["address"] == "村东桥头"
    assert "张三" not in json.dumps(requests, ensure_ascii=False)
    for message in fake.sent(group.id):
        assert not ("张三" in (message.text or "") and number in (message.text or ""))


async def test_report_settings_change_a_categorys_times_and_remove_it(world: World) -> None:
    clock = world.clock
    async with unit_of_work(world.app.sessions) as session:
        v = await report_village(session, clock.now())
    admin = world.person(v.person("村管理员").telegram_id, "Admin")
    resident = world.person(v.person("张三").telegram_id, "Zhang")

    settings = await admin.say("/reportsettings", expect="报事设置")
    assert "✓ 8:00" in settings.buttons()  # the digest hour, ticked
    settings = await admin.tap(settings, "⏰ 9:00", expect="9:00")
    assert "✓ 9:00" in settings.buttons() and "⏰ 8:00" in settings.buttons()
    mark = world.fake.mark()
    toast = await admin.tap_for_toast(settings, "✓ 9:00")  # the same again changes nothing
    assert toast == "已保存。"
    await world.fake.assert_no_message(admin.id, has("出了点问题"), after=mark)
    hazard = next(t for t in settings.buttons() if "隐患" in t)
    assert hazard == "⚙ 隐患 · 4小时 / 48小时"
    card = await admin.tap(settings, hazard, expect="接单时限")
    assert "接单时限：4 小时" in (card.text or "") and "✓ 4 小时" in card.buttons()
    card = await admin.tap(card, "8 小时", expect="接单时限：8 小时")
    assert "✓ 8 小时" in card.buttons() and "✓ 4 小时" not in card.buttons()
    card = await admin.tap(card, "14 天", expect="办结时限：14 天")

    # Every press is checked again: a resident's forged press changes nothing.
    forged = next(d for d in card.button_data().values() if d.endswith(":accept:2"))
    toast = await resident.tap_for_toast(card, data=forged)
    assert "只有本村管理员" in toast

    # Removing asks first; the second press of a stale "yes" is refused kindly.
    ask = await admin.tap(card, "🗑 删除此类别", expect="确定删除")
    yes = ask.button_data()["🗑 确定删除"]
    after = await admin.tap(ask, "🗑 确定删除", expect="报事设置")
    assert not any("隐患" in t for t in after.buttons())
    toast = await admin.tap_for_toast(ask, data=yes)
    assert "已不可用" in toast
    menu = await resident.say("/report", expect="报事")
    assert "隐患" not in " ".join(menu.buttons())
    await tap_data(resident, menu, "fl:cancel")

    async with world.app.sessions() as session:
        found = (
            await session.exec(
                select(ReportCategory).where(
                    ReportCategory.village_id == v.village_id, ReportCategory.code == "hazard"
                )
            )
        ).one()
    assert (found.accept_hours, found.resolve_hours) == (8, 336)
    assert found.removed_at is not None


async def test_a_group_report_refiled_as_a_hazard_gets_a_hazards_deadlines(world: World) -> None:
    fake, clock = world.fake, world.clock
    async with unit_of_work(world.app.sessions) as session:
        v = await report_village(session, clock.now())
    resident = world.person(v.person("张三").telegram_id, "Zhang")
    worker = world.person(v.person("王网格员").telegram_id, "Wang")
    other = world.person(v.person("李网格员").telegram_id, "Li")
    _group, mark = await report_in_group(world, v, resident, "桥下电线垂到水面了")
    replied_at = clock.now()  # the report is filed between these two moments
    push = await fake.wait_for_message(worker.id, has("桥下电线"), after=mark)
    assert "其他" in (push.text or "")
    filed_at = clock.now()

    kinds = await worker.tap(push, "🏷 改类别")
    assert kinds.message_id == push.message_id and "桥下电线" in (kinds.text or "")
    assert "✓ 其他" in kinds.buttons()
    hazard_data = next(d for t, d in kinds.button_data().items() if t == "隐患")
    toast = await other.tap_for_toast(kinds, data=hazard_data)  # another grid's worker
    assert "只有本网格" in toast
    card = await worker.tap(kinds, "隐患", expect="隐患")
    assert "✔ 受理" in card.buttons()  # the card's own buttons are back
    tz = world.app.settings.tz
    dues = {f"{(at + timedelta(hours=4)).astimezone(tz):%H:%M}" for at in (replied_at, filed_at)}
    assert any(due in (card.text or "") for due in dues), (dues, card.text)
    toast = await worker.tap_for_toast(kinds, data=hazard_data)  # a second press
    assert "已经是这个类别" in toast

    async with world.app.sessions() as session:
        task = (
            await session.exec(select(Task).where(Task.description == "桥下电线垂到水面了"))
        ).one()
    filed = reports.aware(task.created_at)
    assert filed is not None and reports.aware(task.accept_due_at) == filed + timedelta(hours=4)


async def _admin_actor(session, v):  # type: ignore[no-untyped-def]

    return await org.load_actor(session, v.person("村管理员"))
