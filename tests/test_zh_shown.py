"""No English reaches a Chinese-speaking person: a few flows for people whose language is the
default (zh) — a report's whole life with a second press of 受理, /gridstats, /notice where no
group is linked, a report made in the grid's group, /start, /me, /help, /mypoints,
/leaderboard — and every text, caption, button and toast the bot showed them (and the group)
is scanned for raw status values and ASCII words outside the allow-list of tests/zh_text.py."""

from __future__ import annotations

from sqlmodel import select

from sandbox.bot_api import SentMessage
from storage.db import unit_of_work
from storage.models.org import BoundChat, Person
from tests.harness import Talker, World
from tests.village_builder import report_village
from tests.zh_text import english_words, raw_values, status_values


async def tap_data(talker: Talker, message: SentMessage, prefix: str, **kw: object) -> SentMessage:
    text = next(t for t, d in message.button_data().items() if d.startswith(prefix))
    return await talker.tap(message, text, **kw)  # type: ignore[arg-type]


def has(text: str) -> object:
    return lambda m: text in (m.text or m.caption or "")


async def test_nothing_shown_to_a_chinese_speaker_is_english(world: World) -> None:
    fake, clock = world.fake, world.clock
    await world.app.delivery.drain(5)  # what earlier tests left in the outbox goes first
    async with unit_of_work(world.app.sessions) as session:
        v = await report_village(session, clock.now())
    resident = world.person(v.person("张三").telegram_id, "张三")
    worker = world.person(v.person("王网格员").telegram_id, "王网格员")
    admin = world.person(v.person("村管理员").telegram_id, "村管理员")
    since = len(fake.calls)

    # A report's whole life, with a second press of 受理.
    menu = await resident.say("/report", expect="报事")
    await tap_data(resident, menu, "pk:rcat:")
    await resident.say("桥头护栏断了，晚上很危险")
    await resident.say("村东桥头", expect="村东桥头")
    privacy = await tap_data(resident, fake.last(resident.id), "fl:next")
    review = await tap_data(resident, privacy, "fl:anonymous")
    mark = fake.mark()
    filed = await tap_data(resident, review, "fl:confirm")
    number = next(w for w in (filed.text or "").split() if w.startswith("R-"))
    push = await fake.wait_for_message(worker.id, has(number), after=mark)
    accept = next(d for d in push.button_data().values() if d.startswith("ta:acc:"))
    accepted = await tap_data(worker, push, "ta:acc:", expect="王网格员")
    toast = await worker.tap_for_toast(push, data=accept)
    prompt = await tap_data(worker, accepted, "ta:res:", expect="做了哪些处理")
    del prompt
    photo_prompt = await worker.say("已临时加固", expect="不发照片")
    mark = fake.mark()
    await tap_data(worker, photo_prompt, "fl:nophoto", expect=number)
    ask = await fake.wait_for_message(resident.id, lambda m: bool(m.buttons()), after=mark)
    thanks = await resident.tap(ask, "👍", expect="满意")
    await resident.tap(thanks, "⭐⭐⭐⭐⭐")
    await resident.say("/myreports", expect=number)

    # /gridstats, /notice with no group linked, and the everyday screens.
    figures = await admin.say("/gridstats", expect="一网格")
    targets = await worker.say("/notice", expect="通知")
    await tap_data(worker, targets, "pk:ntarget:")
    confirm = await worker.say("本周六上午在村委会开展义诊。", expect="确定")
    sent = await tap_data(worker, confirm, "fl:confirm", expect="通知")
    await world.app.delivery.drain(5)
    await worker.tap_for_toast(sent, "📊")
    # A report made in the grid's group, by replying to the bot; then /report R-… there.
    group = fake.group(-2_900_000 - v.base, "一网格群")
    async with unit_of_work(world.app.sessions) as session:
        session.add(
            BoundChat(chat_id=group.id, village_id=v.village_id, grid_id=v.grid("一网格").id)
        )
    mark = fake.mark()
    await resident.user.send("/report", chat=group)
    how = await fake.wait_for_message(group.id, has("回复"), after=mark)
    mark = fake.mark()
    await resident.user.send("路灯坏了三天了", chat=group, reply_to=how)
    await fake.wait_for_message(group.id, has("路灯坏了"), after=mark)
    mark = fake.mark()
    await resident.user.send(f"/report {number}", chat=group)
    await fake.wait_for_message(group.id, has(number), after=mark)
    for talker in (resident, worker, admin):
        for command in ("/start", "/me", "/help", "/mypoints", "/leaderboard"):
            await talker.say(command)
    await fake.wait_idle()

    async with world.app.sessions() as session:
        ids = [
            v.person("张三").id,
            v.person("王网格员").id,
            v.person("村管理员").id,
            v.person("赵六").id,
        ]
        people = (await session.exec(select(Person).where(Person.id.in_(ids)))).all()  # type: ignore[union-attr]
    chats = {p.telegram_id for p in people if (p.locale or "zh") == "zh"}
    assert len(chats) == 4
    chats.add(group.id)
    values = status_values()
    shown = fake.shown(chats, since=since)
    methods = {method.split()[0] for method, _ in shown}
    assert len(shown) > 50 and {"sendMessage", "editMessageText", "answerCallbackQuery"} <= methods
    found = [
        f"{method}: {text!r} → {sorted({*english_words(text), *raw_values(text, values)})}"
        for method, text in shown
        if english_words(text) or raw_values(text, values)
    ]
    assert not found, "English shown to a Chinese speaker:\n" + "\n".join(found)
    assert "已受理" in toast, toast
    assert "不到1小时" in (figures.text or ""), figures.text
    assert "0 个群" not in (sent.text or ""), sent.text
