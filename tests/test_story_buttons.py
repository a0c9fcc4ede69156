"""Buttons first, end to end: a resident reports, claims, proposes, votes and reads their points
from /start on without typing a command (only the description); a spoken description reaches
the grid worker; typed "路灯坏了" becomes a report in three taps; typed text matching a button is
that press; the "/" menus of a resident and an admin differ, in both languages; the household
search; the hints that fit each person."""

from __future__ import annotations

import itertools
import re
from datetime import timedelta

from sqlmodel import select

from bot.middlewares import ThrottlingMiddleware
from sandbox.bot_api import SentMessage
from storage import org, votes
from storage.db import unit_of_work
from storage.models.org import Household, Membership, Person
from storage.models.points import PointClaim
from storage.models.reports import Task
from storage.models.voice import VoiceNote
from storage.models.votes import Ballot, Proposal
from tests.harness import Talker, World, link_code
from tests.village_builder import BuiltVillage, report_village

_bases = itertools.count(0)


def base_id() -> int:
    return 4_300_000 + next(_bases) * 100


def has(text: str) -> object:
    return lambda m: text in (m.text or m.caption or "")


async def start(talker: Talker) -> SentMessage:
    """/start: the quick keyboard first, then the home screen's buttons (returned)."""
    mark = talker.world.fake.mark()
    await talker.user.send("/start")
    return await talker.next_message(after=mark, expect="？")


def catch_breath(world: World, user_id: int) -> None:
    """A person taps slower than a test: forget their recent updates (the flood limit counts
    20 in 10 s, and the whole tour takes more)."""
    for middleware in world.app.dp.update.outer_middleware:
        if isinstance(middleware, ThrottlingMiddleware):
            middleware._seen.pop(user_id, None)


async def village(world: World, base: int) -> BuiltVillage:
    async with unit_of_work(world.app.sessions) as session:
        return await report_village(session, world.clock.now(), base)


async def test_a_resident_does_everything_with_buttons(world: World) -> None:
    fake, clock = world.fake, world.clock
    base = base_id()
    v = await village(world, base)
    async with unit_of_work(world.app.sessions) as session:
        admin = await org.load_actor(session, v.person("村管理员"))
        vote = await votes.create_vote(
            session,
            admin,
            village_id=v.village_id,
            question="修村东小路",
            options=["同意", "不同意"],
            deadline=clock.now() + timedelta(days=3),
            secret=False,
            quorum_percent=None,
            now=clock.now(),
        )
    resident = world.person(v.person("张三").telegram_id, "Zhang")
    worker = world.person(v.person("王网格员").telegram_id, "Wang")
    committee = world.person(v.person("村管理员").telegram_id, "Admin")  # hears of the proposal

    mark = fake.mark()
    await resident.user.send("/start")
    quick = await resident.next_message(after=mark)
    assert quick.params.get("reply_markup", {}).get("is_persistent") is True
    assert "🏠 主页" in quick.buttons() and "📣 报事" in quick.buttons()
    home = await resident.next_message(after=mark, expect="张三")
    for label in ("📣 报事", "⭐ 申报积分", "📋 我的积分", "📮 书记信箱", "🗳 议事表决"):
        assert label in home.buttons()
    assert "📥 我的任务" not in home.buttons()  # a resident's home has no worker's entries

    # 📣 报事: kind, the description (the only words typed), next, name shown, send
    kinds = await resident.tap(home, "📣 报事", expect="哪一类问题")
    await resident.tap(kinds, "道路设施", expect="话筒")
    mark = fake.mark()
    extras = await resident.say("村口的路灯不亮了", expect="地点")
    privacy = await resident.tap(extras, "下一步")
    check = await resident.tap(privacy, "显示我的名字", expect="请核对")
    done = await resident.tap(check, "提交报事", expect="已提交")
    assert "🏠 主页" in done.buttons()
    pushed = await fake.wait_for_message(worker.id, has("村口的路灯不亮了"), after=mark)
    assert "张三" in (pushed.text or "")

    # ⭐ 申报积分: the kinds hold no deduction; an item, skip the note, send
    home = await start(resident)
    kinds = await resident.tap(home, "⭐ 申报积分", expect="哪一类事情")
    assert not any("乡规民约" in b for b in kinds.buttons())
    items = await resident.tap(kinds, "志愿服务", expect="具体事项")
    assert all("-" not in b for b in items.buttons() if "取消" not in b)
    item = await resident.tap(items, items.buttons()[0])
    if "跳过" in item.buttons():
        check = await resident.tap(item, "跳过", expect="请核对")
    else:
        check = await resident.say("帮邻居搬家", expect="请核对")
    sent = await resident.tap(check, "发送", expect="积分管理小组")
    assert "#" in (sent.text or "")

    catch_breath(world, resident.id)
    # 📮 书记信箱: the title is the words; skip the details; send with the name
    home = await start(resident)
    await resident.tap(home, "📮 书记信箱", expect="标题")
    details = await resident.say("村里缺少健身器材", expect="具体内容")
    check = await resident.tap(details, "跳过", expect="村里缺少健身器材")
    mark = fake.mark()
    await resident.tap(check, "实名提交", expect="P-")
    await fake.wait_for_message(committee.id, has("村里缺少健身器材"), after=mark)

    # 🗳 议事表决: the open vote's card in the private chat; a press votes
    home = await start(resident)
    agenda = await resident.tap(home, "🗳 议事表决", expect="修村东小路")
    card = await resident.tap(agenda, "修村东小路", expect="修村东小路")
    toast = await resident.tap_for_toast(card, "同意")
    assert "同意" in toast

    # 📋 我的积分
    home = await start(resident)
    mine = await resident.tap(home, "📋 我的积分", expect="本人积分")
    assert "周" in (mine.text or "")

    async with unit_of_work(world.app.sessions) as session:
        person_id = v.person("张三").id
        tasks = (await session.exec(select(Task).where(Task.reporter_id == person_id))).all()
        claims = (
            await session.exec(select(PointClaim).where(PointClaim.person_id == person_id))
        ).all()
        proposals = (
            await session.exec(select(Proposal).where(Proposal.author_id == person_id))
        ).all()
        ballots = (await session.exec(select(Ballot).where(Ballot.vote_id == vote.id))).all()
    assert [t.description for t in tasks] == ["村口的路灯不亮了"]
    assert len(claims) == 1 and claims[0].points > 0
    assert [p.title for p in proposals] == ["村里缺少健身器材"]
    assert [b.person_id for b in ballots] == [person_id]
    async with unit_of_work(world.app.sessions) as session:  # no open vote left for others
        open_vote = await votes.get_vote(session, vote.id or 0)
        assert await votes.close_vote(session, open_vote, open_vote.deadline)


async def test_a_spoken_description_reaches_the_worker(world: World) -> None:
    fake = world.fake
    base = base_id()
    v = await village(world, base)
    resident = world.person(v.person("张三").telegram_id, "Zhang")
    worker = world.person(v.person("王网格员").telegram_id, "Wang")
    home = await start(resident)
    kinds = await resident.tap(home, "📣 报事", expect="哪一类问题")
    ask = await resident.tap(kinds, "道路设施", expect="话筒")
    assert "说" in (ask.text or "")  # it says a voice note is welcome

    mark = fake.mark()
    await resident.user.send_voice(75)  # too long: refused kindly, nothing lost
    refused = await resident.next_message(after=mark)
    assert "75" in (refused.text or "") and "一分钟" in (refused.text or "")

    mark = fake.mark()
    await resident.user.send_voice(23)
    extras = await resident.next_message(after=mark, expect="地点")
    assert "0:23" in (extras.text or "")
    privacy = await resident.tap(extras, "下一步")
    check = await resident.tap(privacy, "匿名", expect="请核对")
    assert "🎤 语音 (0:23)" in (check.text or "")
    mark = fake.mark()
    await resident.tap(check, "提交报事", expect="已提交")
    card = await fake.wait_for_message(worker.id, has("🎤 语音 (0:23)"), after=mark)
    assert "张三" in (card.text or "")
    heard = await fake.wait_for_message(worker.id, lambda m: m.method == "sendVoice", after=mark)
    assert (heard.media or {}).get("voice", {}).get("duration") == 23
    async with unit_of_work(world.app.sessions) as session:
        task = (
            await session.exec(select(Task).where(Task.reporter_id == v.person("张三").id))
        ).one()
        notes = (await session.exec(select(VoiceNote).where(VoiceNote.object_id == task.id))).all()
    assert [(n.kind, n.duration) for n in notes] == [("report", 23)]
    assert heard.params.get("voice") == notes[0].file_id

    # the worker answers with a voice note too: the resident hears it with "is it fixed?"
    accept = next(t for t, d in card.button_data().items() if d.startswith("ta:acc:"))
    accepted = await worker.tap(card, accept, expect="王网格员")
    resolve = next(t for t, d in accepted.button_data().items() if d.startswith("ta:res:"))
    await worker.tap(accepted, resolve, expect="做了哪些处理")
    mark = fake.mark()
    await worker.user.send_voice(8)
    photo = await worker.next_message(after=mark, expect="不发照片")
    assert "0:08" in (photo.text or "")
    mark = fake.mark()
    nophoto = next(t for t, d in photo.button_data().items() if d == "fl:nophoto")
    await worker.tap(photo, nophoto, expect=task.number)
    await fake.wait_for_message(resident.id, lambda m: bool(m.buttons()), after=mark)
    answer = await fake.wait_for_message(
        resident.id, lambda m: m.method == "sendVoice", after=mark
    )
    assert (answer.media or {}).get("voice", {}).get("duration") == 8


async def test_typed_words_become_a_report_in_three_taps(world: World) -> None:
    fake = world.fake
    base = base_id()
    v = await village(world, base)
    resident = world.person(v.person("张三").telegram_id, "Zhang")
    worker = world.person(v.person("王网格员").telegram_id, "Wang")
    world.person(v.person("村管理员").telegram_id, "Admin")  # hears of the proposal
    offer = await resident.say("路灯坏了", expect="报事")
    assert "路灯坏了" in (offer.text or "")
    kinds = await resident.tap(offer, "📣 报事", expect="哪一类问题")  # tap 1
    check = await resident.tap(kinds, "道路设施", expect="请核对")  # tap 2
    assert "路灯坏了" in (check.text or "")
    mark = fake.mark()
    await resident.tap(check, "✔ 提交报事", expect="已提交")  # tap 3
    await fake.wait_for_message(worker.id, has("路灯坏了"), after=mark)

    # or as a proposal: the words are its title, ready to send
    offer = await resident.say("希望村里装个快递柜", expect="报事")
    check = await resident.tap(offer, "📮 提建议", expect="提交这条建议吗")
    assert "希望村里装个快递柜" in (check.text or "")
    await resident.tap(check, "实名提交", expect="P-")
    cancelled = await resident.say("算了吧", expect="报事")
    gone = await resident.tap(cancelled, "取消", expect="没有发送")
    assert "📣 报事" in gone.buttons()

    # inside a flow: typed text matching a button is that button; other text shows them again
    menu = await resident.say("/claim", expect="哪一类事情")
    items = await resident.say("志愿服务", expect="具体事项")
    assert items.message_id == menu.message_id  # the same as pressing it
    again = await resident.say("随便说点什么", expect="请点下面的按钮")
    assert "文字" not in (again.text or "")
    assert again.buttons() == items.buttons()
    await resident.say("/cancel")

    # someone who has not joined is not offered a report, but their home
    stranger = world.person(base + 50, "Visitor")
    answer = await stranger.say("路灯坏了")
    assert "邀请链接" in (answer.text or "") or "按钮" in (answer.text or "")
    assert "📣 报事" not in answer.buttons()


async def test_menus_differ_by_role_and_language(world: World) -> None:
    fake = world.fake
    base = base_id()
    v = await village(world, base)
    resident = world.person(v.person("张三").telegram_id, "Zhang")
    admin = world.person(v.person("村管理员").telegram_id, "Admin")
    await start(resident)
    await start(admin)
    await fake.wait_idle()

    def menu_of(user_id: int) -> dict[str, str]:
        key = fake._commands_key({"scope": {"type": "chat", "chat_id": user_id}})
        return {c["command"]: c["description"] for c in fake._commands.get(key, [])}

    mine, theirs = menu_of(resident.id), menu_of(admin.id)
    assert {"report", "claim", "mypoints", "propose"} <= set(mine)
    assert "appoint" not in mine and "tasks" not in mine
    assert {"appoint", "tasks", "proposals", "vote"} <= set(theirs)
    assert mine["report"] == "报事"

    # in English the menu follows the language
    lang = await resident.say("/language", expect="语言")
    await resident.tap(lang, "English")
    home = await resident.say("/start", expect="what would you like")
    assert "📣 Report a problem" in home.buttons()
    await fake.wait_idle()
    mine = menu_of(resident.id)
    assert mine["report"] == "Report a problem"
    assert "appoint" not in mine


async def test_a_cadre_files_for_a_visitor_and_closes_it(world: World) -> None:
    fake = world.fake
    base = base_id()
    v = await village(world, base)
    admin = world.person(v.person("村管理员").telegram_id, "Admin")
    worker = world.person(v.person("王网格员").telegram_id, "Wang")
    home = await start(admin)
    assert "⚙ 管理" in home.buttons() and "🤝 代报" in home.buttons()
    what = await admin.tap(home, "🤝 代报", expect="代办哪件事")
    assert what.buttons()[:3] == ["📣 报事", "📮 提建议", "⭐ 申报积分"]
    ask = await admin.tap(what, "📣 报事", expect="代报")
    name = await admin.tap(ask, "不在系统里的人", expect="名字")
    assert name.message_id == ask.message_id
    await admin.say("李大爷", expect="哪一户")
    await admin.say("5组 3号", expect="电话")
    kinds = await admin.say("13800001111", expect="李大爷")
    await admin.tap(kinds, "道路设施", expect="语音")
    check = await admin.say("家门口下水道堵了", expect="请核对")
    assert "李大爷" in (check.text or "")
    mark = fake.mark()
    filed = await admin.tap(check, "提交报事", expect="已为")
    number = re.findall(r"R-\d{4}-\d{5}", filed.text or "")[0]
    card = await fake.wait_for_message(worker.id, has(number), after=mark)
    text = card.text or ""
    assert "由 村管理员 代报" in text and "李大爷" in text and "13800001111" in text
    assert "家门口下水道堵了" in text

    # the worker accepts and resolves; the cadre who filed it is asked "is it fixed?"
    accept = next(t for t, d in card.button_data().items() if d.startswith("ta:acc:"))
    accepted = await worker.tap(card, accept, expect="王网格员")
    resolve = next(t for t, d in accepted.button_data().items() if d.startswith("ta:res:"))
    await worker.tap(accepted, resolve, expect="做了哪些处理")
    photo = await worker.say("已疏通", expect="不发照片")
    mark = fake.mark()
    nophoto = next(t for t, d in photo.button_data().items() if d == "fl:nophoto")
    await worker.tap(photo, nophoto, expect=number)
    asked = await fake.wait_for_message(admin.id, lambda m: bool(m.buttons()), after=mark)
    assert number in (asked.text or "") and "已疏通" in (asked.text or "")
    await admin.tap(asked, "👍", expect="满意")
    async with unit_of_work(world.app.sessions) as session:
        task = (
            await session.exec(
                select(Task).where(Task.village_id == v.village_id, Task.number == number)
            )
        ).one()
    assert task.status == "closed" and task.reporter_id == v.person("村管理员").id


async def test_a_worker_files_for_a_resident_who_hears_of_it(world: World) -> None:
    fake = world.fake
    base = base_id()
    v = await village(world, base)
    worker = world.person(v.person("王网格员").telegram_id, "Wang")
    resident = world.person(v.person("张三").telegram_id, "Zhang")
    what = await worker.say("/behalf", expect="代报")
    ask = await worker.tap(what, "📣 报事", expect="姓名")
    found = await worker.say("张", expect="点选")
    kinds = await worker.tap(found, "张三 · 3组 12号", expect="张三")
    await worker.tap(kinds, "环境", expect="语音")
    mark = fake.mark()
    await worker.user.send_voice(12)
    check = await worker.next_message(after=mark, expect="请核对")
    assert "🎤 语音 (0:12)" in (check.text or "")
    mark = fake.mark()
    await worker.tap(check, "提交报事", expect="已为")
    told = await fake.wait_for_message(resident.id, has("王网格员 为您代报"), after=mark)
    assert "R-" in (told.text or "")
    await fake.wait_for_message(worker.id, lambda m: m.method == "sendVoice", after=mark)
    assert ask


async def test_the_household_search(world: World) -> None:
    base = base_id()
    v = await village(world, base)
    async with unit_of_work(world.app.sessions) as session:
        for n, (label, status) in enumerate(
            (("1组 10号", "approved"), ("1组 2号", "approved"), ("9组 1号", "rejected"))
        ):
            household = Household(grid_id=v.grid("一网格").id or 0, label=label)
            session.add(household)
            await session.flush()
            someone = Person(telegram_id=base + 60 + n, full_name=f"住户{n}")
            session.add(someone)
            await session.flush()
            session.add(
                Membership(
                    person_id=someone.id or 0,
                    village_id=v.village_id,
                    grid_id=v.grid("一网格").id or 0,
                    household_id=household.id or 0,
                    status=status,
                    requested_at=world.clock.now(),
                )
            )
    worker = world.person(v.person("王网格员").telegram_id, "Wang")
    invite = await worker.say("/invite", expect="start=g_")
    code = link_code(invite.text or "", "g_")
    newcomer = world.person(base + 70, "New")
    await newcomer.say(f"/start {code}", expect="名字")
    listed = await newcomer.say("钱七", expect="哪一户")
    labels = [b for b in listed.buttons() if "组" in b and "➕" not in b]
    assert labels == ["1组 2号", "1组 10号", "3组 12号"]  # numeric order; no rejected label
    found = await newcomer.say("3组12", expect="3组12")
    assert [b for b in found.buttons() if "组" in b and "➕" not in b] == ["3组 12号"]
    await newcomer.tap(found, "3组 12号", expect="手机")
    await newcomer.say("/cancel")

    # a new label written differently is the same household
    async with unit_of_work(world.app.sessions) as session:
        same = await org.find_or_create_household(session, v.grid("一网格").id or 0, "3组12号")
    assert same.label == "3组 12号"


async def test_hints_fit_the_person(world: World) -> None:
    base = base_id()
    stranger = world.person(base + 80, "Visitor")
    points = await stranger.say("/mypoints")
    assert "/claim" not in (points.text or "") and "邀请链接" in (points.text or "")
    board = await stranger.say("/leaderboard")
    assert "绑定" not in (board.text or "") and "邀请链接" in (board.text or "")

    english = world.person(base + 81, "Visitor")
    lang = await english.say("/language", expect="语言")
    await english.tap(lang, "English")
    points = await english.say("/mypoints")
    assert "/claim" not in (points.text or "") and "invite link" in (points.text or "")
    board = await english.say("/leaderboard")
    assert "invite link" in (board.text or "")

    v = await village(world, base)
    resident = world.person(v.person("张三").telegram_id, "Zhang")
    points = await resident.say("/mypoints")
    assert "申报积分" in (points.text or "")


async def test_voice_notes_for_a_claim_and_a_proposal(world: World) -> None:
    fake = world.fake
    base = base_id()
    v = await village(world, base)
    resident = world.person(v.person("张三").telegram_id, "Zhang")
    committee = world.person(v.person("村管理员").telegram_id, "Admin")
    kinds = await resident.say("/claim", expect="哪一类事情")
    items = await resident.tap(kinds, "志愿服务", expect="具体事项")
    item = await resident.tap(items, items.buttons()[0], expect="话筒")
    assert item
    mark = fake.mark()
    await resident.user.send_voice(9)
    check = await resident.next_message(after=mark, expect="请核对")
    assert "🎤 语音 (0:09)" in (check.text or "")
    await resident.tap(check, "发送", expect="积分管理小组")

    ask = await resident.say("/propose", expect="标题")
    assert ask
    mark = fake.mark()
    await resident.user.send_voice(30)
    check = await resident.next_message(after=mark, expect="提交这条建议吗")
    assert "0:30" in (check.text or "")
    mark = fake.mark()
    await resident.tap(check, "实名提交", expect="P-")
    heard = await fake.wait_for_message(
        committee.id, lambda m: m.method == "sendVoice", after=mark
    )
    assert (heard.media or {}).get("voice", {}).get("duration") == 30
    async with unit_of_work(world.app.sessions) as session:
        kinds_kept = (
            await session.exec(
                select(VoiceNote.kind).where(VoiceNote.added_by == v.person("张三").id)
            )
        ).all()
    assert sorted(kinds_kept) == ["claim", "proposal"]
