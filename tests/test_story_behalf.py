"""More of "buttons first", end to end through the fake Bot API: a cadre sends a proposal and
claims points for a resident (代报) from their home's buttons, and both hear the outcome; a
proposal for a visitor; a visitor cannot get points; a reviewer never decides a claim they
filed. The keyboard under the text box stays hidden once hidden (also after a restart) until
the person asks for it again. Hints that fit, in Chinese and English: a district admin's
/appoint before any village exists, a rejected applicant's /mypoints, an admin's "/" menu."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

from sqlmodel import select

from sandbox.bot_api import SentMessage
from storage import profiles
from storage.db import unit_of_work
from storage.models.behalf import OnBehalf
from storage.models.org import MembershipStatus, Person
from storage.models.points import PointClaim
from storage.models.votes import Proposal
from tests.harness import DISTRICT_ADMIN_ID, Talker, World, running_world
from tests.test_story_buttons import catch_breath, has, start
from tests.village_builder import BuiltVillage, VillagePlan, report_plan

_bases = itertools.count(0)


def base_id() -> int:
    return 4_400_000 + next(_bases) * 100


async def village(world: World, plan: VillagePlan | None = None) -> BuiltVillage:
    async with unit_of_work(world.app.sessions) as session:
        return await (plan or report_plan(world.clock.now(), base_id())).build(session)


async def file_for(cadre: Talker, what: str, name: str = "张") -> SentMessage:
    """🏠 → 🤝 代报 → what to file → the resident found by name: their row of buttons."""
    home = await start(cadre)
    choose = await cadre.tap(home, "🤝 代报", expect="代办哪件事")
    await cadre.tap(choose, what, expect="姓名")
    return await cadre.say(name, expect="点选")


async def test_a_proposal_sent_for_a_resident_and_its_answer(world: World) -> None:
    fake = world.fake
    v = await village(world)
    worker = world.person(v.person("王网格员").telegram_id, "Wang")
    resident = world.person(v.person("张三").telegram_id, "Zhang")
    committee = world.person(v.person("村管理员").telegram_id, "Admin")

    found = await file_for(worker, "📮 提建议")
    title = await worker.tap(found, "张三 · 3组 12号", expect="标题")
    assert "张三" in (title.text or "")
    details = await worker.say("村里缺少健身器材", expect="具体内容")
    check = await worker.say("老人们想在村委会旁边装几件", expect="提交这条建议吗")
    assert "代报对象：张三" in (check.text or "") and "✔ 实名提交" in check.buttons()
    assert details
    mark = fake.mark()
    sent = await worker.tap(check, "实名提交", expect="已为 张三 提交建议")
    code = re.findall(r"P-\d{4}-\d{4}", sent.text or "")[0]
    assert "🏠 主页" in sent.buttons()
    told = await fake.wait_for_message(resident.id, has(code), after=mark)
    assert "王网格员 为您向村两委提交了建议" in (told.text or "")
    card = await fake.wait_for_message(committee.id, has(code), after=mark)
    assert "张三" in (card.text or "") and "由 王网格员 代报" in (card.text or "")

    # the committee puts it on the agenda: the resident and the cadre both hear it
    mark = fake.mark()
    await committee.tap(card, "列入议题", expect=code)
    heard = await fake.wait_for_message(resident.id, has("您的建议 " + code), after=mark)
    assert "已列入议题" in (heard.text or "")
    followed = await fake.wait_for_message(worker.id, has("您为 张三 代报的建议"), after=mark)
    assert code in (followed.text or "") and "已列入议题" in (followed.text or "")

    # the resident's own list says who filed it
    mine = await resident.say("/agenda", expect="村里缺少健身器材")
    assert "由 王网格员 代报" in (mine.text or "")
    async with unit_of_work(world.app.sessions) as session:
        proposal = (
            await session.exec(select(Proposal).where(Proposal.village_id == v.village_id))
        ).one()
    assert proposal.author_id == v.person("张三").id and proposal.status == "on_agenda"


async def test_a_proposal_for_a_visitor_is_answered_to_the_cadre(world: World) -> None:
    fake = world.fake
    v = await village(world)
    admin = world.person(v.person("村管理员").telegram_id, "Admin")
    home = await start(admin)
    choose = await admin.tap(home, "🤝 代报", expect="代办哪件事")
    ask = await admin.tap(choose, "📮 提建议", expect="姓名")
    await admin.tap(ask, "不在系统里的人", expect="名字")
    await admin.say("李大爷", expect="哪一户")
    await admin.say("5组 3号", expect="电话")
    phone = await admin.say("13800001111", expect="标题")
    assert "李大爷" in (phone.text or "")
    details = await admin.say("希望修一下村东的桥", expect="具体内容")
    check = await admin.tap(details, "跳过", expect="提交这条建议吗")
    mark = fake.mark()
    sent = await admin.tap(check, "不对外公开其姓名", expect="已为 李大爷 提交建议")
    code = re.findall(r"P-\d{4}-\d{4}", sent.text or "")[0]
    card = await fake.wait_for_message(admin.id, has("新建议 " + code), after=mark)
    text = card.text or ""
    assert "李大爷" in text and "5组 3号" in text and "13800001111" in text
    assert "由 村管理员 代报" in text

    ask = await admin.tap(card, "不予采纳", expect="理由")
    mark = fake.mark()
    await admin.say("桥归镇里管，已转交镇里", expect="告知")
    answer = await fake.wait_for_message(admin.id, has("您为 李大爷 代报的建议"), after=mark)
    assert "未采纳" in (answer.text or "") and "桥归镇里管" in (answer.text or "")
    assert ask
    async with unit_of_work(world.app.sessions) as session:
        proposal = (
            await session.exec(select(Proposal).where(Proposal.village_id == v.village_id))
        ).one()
        record = (
            await session.exec(
                select(OnBehalf).where(
                    OnBehalf.kind == "proposal", OnBehalf.object_id == proposal.id
                )
            )
        ).one()
    assert proposal.author_id == v.person("村管理员").id and proposal.anonymous
    assert (record.kind, record.visitor_name, record.for_person_id) == ("proposal", "李大爷", None)


async def test_points_claimed_for_a_resident_and_reviewed_by_someone_else(world: World) -> None:
    fake = world.fake
    plan = report_plan(world.clock.now(), base_id()).reviewer("王网格员").reviewer("孙委员")
    v = await village(world, plan)
    worker = world.person(v.person("王网格员").telegram_id, "Wang")
    resident = world.person(v.person("张三").telegram_id, "Zhang")
    reviewer = world.person(v.person("孙委员").telegram_id, "Sun")

    # a visitor cannot be given points: said kindly, and the step stays
    home = await start(worker)
    choose = await worker.tap(home, "🤝 代报", expect="代办哪件事")
    ask = await worker.tap(choose, "⭐ 申报积分", expect="积分记在本人名下")
    toast = await worker.tap_for_toast(ask, "不在系统里的人")
    assert "积分记在本人名下" in toast and "邀请链接" in toast
    found = await worker.say("张", expect="点选")
    kinds = await worker.tap(found, "张三 · 3组 12号", expect="为 张三 申报积分")
    assert not any("乡规民约" in b for b in kinds.buttons())
    items = await worker.tap(kinds, "志愿服务", expect="具体事项")
    item = await worker.tap(items, items.buttons()[0])
    if "跳过" in item.buttons():
        check = await worker.tap(item, "跳过", expect="请核对")
    else:
        check = await worker.say("帮孤寡老人打扫院子", expect="请核对")
    assert "为 张三 代报的申报" in (check.text or "")
    mark = fake.mark()
    sent = await worker.tap(check, "发送", expect="已为 张三 代报积分申报")
    number = re.findall(r"#(\d+)", sent.text or "")[0]
    assert "您本人不能审核" in (sent.text or "")
    told = await fake.wait_for_message(resident.id, has("#" + number), after=mark)
    assert "王网格员 为您代报了积分申报" in (told.text or "")

    # the cadre who filed it does not get it to review, and a forged press is refused
    none = await worker.say("/review", expect="没有需要您审核的申报")
    assert none
    refused = await worker.tap_for_toast(sent, data=f"rv:{number}:a")
    assert "代报" in refused or "不能审核" in refused

    # another member of the points group approves it: the resident and the cadre hear it
    catch_breath(world, worker.id)
    card = await reviewer.say("/review", expect="#" + number)
    assert "张三" in (card.text or "") and "由 王网格员 代报" in (card.text or "")
    mark = fake.mark()
    await reviewer.tap(card, "通过")
    approved = await fake.wait_for_message(resident.id, has("已通过"), after=mark)
    assert "#" + number in (approved.text or "")
    followed = await fake.wait_for_message(worker.id, has("您为 张三 代报的积分申报"), after=mark)
    assert "已通过" in (followed.text or "")
    mine = await resident.say("/myclaims", expect="#" + number)
    assert "由 王网格员 代报" in (mine.text or "")
    async with unit_of_work(world.app.sessions) as session:
        claim = await session.get(PointClaim, int(number))
    assert claim is not None and claim.person_id == v.person("张三").id
    assert claim.status == "approved" and claim.decided_by == v.person("孙委员").id


async def test_a_hidden_keyboard_stays_hidden_until_asked_for(world: World) -> None:
    fake = world.fake
    v = await village(world)
    resident = world.person(v.person("张三").telegram_id, "Zhang")

    def persistent(m: SentMessage) -> bool:
        return bool((m.params.get("reply_markup") or {}).get("is_persistent"))

    home = await start(resident)
    mark = fake.mark()
    await resident.user.press(home, "⌨ 收起下方按钮")
    removed = await fake.wait_for_message(resident.id, has("收起"), after=mark)
    assert (removed.params.get("reply_markup") or {}).get("remove_keyboard") is True
    edited = await fake.wait_for_message(resident.id, has("张三"), after=mark)
    assert "⌨ 显示常用按钮" in edited.buttons() and "⌨ 收起下方按钮" not in edited.buttons()

    # later messages leave it hidden: /start, /cancel, and after a restart (memory forgotten)
    mark = fake.mark()
    home = await start(resident)
    assert "⌨ 显示常用按钮" in home.buttons()
    await resident.say("/cancel", expect="取消")
    profiles.forget_everywhere({profiles.EVERYONE}, set())
    home = await start(resident)
    assert "⌨ 显示常用按钮" in home.buttons()
    await fake.assert_no_message(resident.id, persistent, after=mark, within=0.3)
    async with unit_of_work(world.app.sessions) as session:
        person = await session.get(Person, v.person("张三").id)
        assert person is not None and person.keys_hidden

    # asked for again: back at once, and on the next /start
    mark = fake.mark()
    await resident.user.press(home, "⌨ 显示常用按钮")
    back = await fake.wait_for_message(resident.id, persistent, after=mark)
    assert "📣 报事" in back.buttons()
    mark = fake.mark()
    home = await start(resident)
    assert "⌨ 收起下方按钮" in home.buttons()
    await fake.wait_for_message(resident.id, persistent, after=mark)


async def test_a_rejected_applicants_hints_and_an_admins_menu_in_both_languages(
    world: World,
) -> None:
    fake = world.fake
    plan = (
        report_plan(world.clock.now(), base_id())
        .resident("钱七", home="3组 12号", status=MembershipStatus.REJECTED)
        .resident("Qian", home="3组 12号", status=MembershipStatus.REJECTED, locale="en")
    )
    v = await village(world, plan)
    rejected = world.person(v.person("钱七").telegram_id, "Qian")
    points = await rejected.say("/mypoints")
    assert "/claim" not in (points.text or "") and "申报积分" not in (points.text or "")
    assert "邀请链接" in (points.text or "")
    english = world.person(v.person("Qian").telegram_id, "Qian")
    points = await english.say("/mypoints")
    assert "/claim" not in (points.text or "") and "invite link" in (points.text or "")

    # a village admin's "/" menu holds the admin's commands, in Chinese, then in English
    admin = world.person(v.person("村管理员").telegram_id, "Admin")

    def menu_of(user_id: int) -> dict[str, str]:
        key = fake._commands_key({"scope": {"type": "chat", "chat_id": user_id}})
        return {c["command"]: c["description"] for c in fake._commands.get(key, [])}

    await start(admin)
    await fake.wait_idle()
    assert menu_of(admin.id)["appoint"] == "任命人员"
    assert menu_of(admin.id)["tasks"] == "我的任务"
    lang = await admin.say("/language", expect="语言")
    await admin.tap(lang, "English")
    await admin.say("/start", expect="what would you like")
    await fake.wait_idle()
    menu = menu_of(admin.id)
    assert menu["appoint"] == "Appoint someone" and menu["behalf"] == "File for someone"
    assert menu["tasks"] == "My tasks" and "claim" not in menu


async def test_a_district_admins_appoint_before_any_village(tmp_path: Path) -> None:
    """In a bot with no village yet, /appoint (and ⚙ 管理 → 任命人员) says to create one first,
    in Chinese and in English."""
    async with running_world("sqlite", tmp_path) as world:
        admin = world.person(DISTRICT_ADMIN_ID, "District")
        answer = await admin.say("/appoint")
        text = answer.text or ""
        assert "还没有" in text and "新建村" in text and "只有村管理员" not in text
        home = await start(admin)
        manage = await admin.tap(home, "⚙ 管理", expect="管理")
        mark = world.fake.mark()
        await admin.user.press(manage, "任命人员")
        pressed = await admin.next_message(after=mark, expect="新建村")
        assert "只有村管理员" not in (pressed.text or "")

        lang = await admin.say("/language", expect="语言")
        await admin.tap(lang, "English")
        answer = await admin.say("/appoint")
        text = answer.text or ""
        assert "There is no village yet" in text and "New village" in text
        assert "Only village admins" not in text
