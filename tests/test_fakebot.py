"""Tests of the fake Bot API server against the real aiogram client."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest
from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.filters import CommandStart
from aiogram.methods import SendMessage
from aiogram.types import (
    BotCommand,
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
)
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web

from sandbox.bot_api import FakeBotAPI

TOKEN = "123:abc"


def kb(*buttons: tuple[str, str]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text=t, callback_data=d)] for t, d in buttons]
    )


def make_bot(fake: FakeBotAPI) -> Bot:
    api = TelegramAPIServer.from_base(fake.base_url)
    return Bot(token=TOKEN, session=AiohttpSession(api=api))


async def test_get_me_and_send_message(fake: FakeBotAPI, bot: Bot) -> None:
    me = await bot.get_me()
    assert (me.id, me.username, me.is_bot) == (4242, "linli_test_bot", True)
    alice = fake.user(1001, "Alice")
    msg = await bot.send_message(
        alice.id, "<b>Hi</b> &lt;3", parse_mode="HTML", reply_markup=kb(("Yes", "y"), ("No", "n"))
    )
    assert msg.text == "Hi <3"
    assert msg.chat.id == alice.id and msg.from_user is not None and msg.from_user.is_bot
    assert msg.reply_markup is not None
    (sent,) = fake.sent(alice.id)
    assert (sent.message_id, sent.text, sent.raw_text) == (
        msg.message_id,
        "Hi <3",
        "<b>Hi</b> &lt;3",
    )
    assert sent.buttons() == ["Yes", "No"]
    assert sent.button_data() == {"Yes": "y", "No": "n"}
    second = await bot.send_message(alice.id, "again")
    assert second.message_id == msg.message_id + 1
    assert fake.stats() == {"getMe": 1, "sendMessage": 2}
    assert fake.calls[1].chat_id == alice.id and fake.calls[1].ok


async def test_edit_and_delete(fake: FakeBotAPI, bot: Bot) -> None:
    alice = fake.user(1001, "Alice")
    msg = await bot.send_message(alice.id, "one", reply_markup=kb(("A", "a")))
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text(
            text="one", chat_id=alice.id, message_id=msg.message_id, reply_markup=kb(("A", "a"))
        )
    mark = fake.mark()
    edited = await bot.edit_message_text(text="two", chat_id=alice.id, message_id=msg.message_id)
    assert isinstance(edited, Message) and edited.text == "two" and edited.reply_markup is None
    got = await fake.wait_for_message(alice.id, after=mark)
    assert got.edited and got.text == "two" and got.buttons() == []
    await bot.edit_message_reply_markup(
        chat_id=alice.id, message_id=msg.message_id, reply_markup=kb(("B", "b"))
    )
    assert fake.last(alice.id).button_data() == {"B": "b"}
    assert await bot.delete_message(alice.id, msg.message_id)
    assert fake.sent(alice.id) == []
    with pytest.raises(TelegramBadRequest, match="message to delete not found"):
        await bot.delete_message(alice.id, msg.message_id)
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text(text="x", chat_id=alice.id, message_id=msg.message_id)


async def test_strictness(fake: FakeBotAPI, bot: Bot) -> None:
    alice = fake.user(1001, "Alice")
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.send_message(999, "hello")
    for bad in ("<b>unclosed", "a < b", "<foo>x</foo>", "<b><i>x</b></i>", "line<br/>"):
        with pytest.raises(TelegramBadRequest, match="can't parse entities"):
            await bot.send_message(alice.id, bad, parse_mode="HTML")
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(alice.id, "x" * 4097)
    await bot.send_message(alice.id, "x" * 4096)
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(alice.id, "hi", reply_markup=kb(("A", "x" * 65)))
    await bot.send_message(alice.id, "hi", reply_markup=kb(("A", "x" * 64)))
    with pytest.raises(TelegramBadRequest, match="message text is empty"):
        await bot.send_message(alice.id, "<b></b>", parse_mode="HTML")
    with pytest.raises(TelegramBadRequest, match="message to be replied not found"):
        await bot.send_message(alice.id, "re", reply_to_message_id=555)
    # Markdown is passed through unparsed.
    msg = await bot.send_message(alice.id, "*bold*", parse_mode="MarkdownV2")
    assert msg.text == "*bold*"


async def test_raw_http_errors(fake: FakeBotAPI) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{fake.base_url}/botnot-a-token/getMe") as resp:
            assert resp.status == 401
            assert await resp.json() == {
                "ok": False,
                "error_code": 401,
                "description": "Unauthorized",
            }
        async with http.post(f"{fake.base_url}/bot1:x/noSuchMethod") as resp:
            assert resp.status == 404
            assert (await resp.json())["description"] == "Not Found"
        fake.user(7, "Json")
        async with http.post(
            f"{fake.base_url}/bot1:x/sendMessage",
            json={
                "chat_id": "7",
                "text": "123",
                "reply_markup": '{"inline_keyboard": [[{"text": "a", "callback_data": "1"}]]}',
            },
        ) as resp:
            body = await resp.json()
    assert body["ok"] and body["result"]["text"] == "123"
    assert fake.last(7).button_data() == {"a": "1"}


async def test_long_poll_message_press_and_answer(fake: FakeBotAPI, bot: Bot) -> None:
    alice = fake.user(1001, "Alice", language_code="zh-hans")
    poll = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.05)
    assert not poll.done()
    update_id = await alice.send("/start@linli_test_bot hello")
    (update,) = await asyncio.wait_for(poll, 2)
    assert update.update_id == update_id
    assert update.message is not None and update.message.text.startswith("/start")
    assert update.message.from_user.language_code == "zh-hans"
    (entity,) = update.message.entities
    assert (entity.type, entity.offset, entity.length) == ("bot_command", 0, 21)

    msg = await bot.send_message(alice.id, "Choose", reply_markup=kb(("Join grid", "join:1")))
    press_id = await alice.press(fake.last(alice.id), "Join")
    updates = await bot.get_updates(offset=update_id + 1, timeout=1)
    assert [u.update_id for u in updates] == [press_id]
    query = updates[0].callback_query
    assert isinstance(query, CallbackQuery) and query.data == "join:1"
    assert query.message.message_id == msg.message_id and query.from_user.id == alice.id
    assert await bot.answer_callback_query(query.id, text="Joined", show_alert=True)
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_callback_query(query.id)
    answer = await alice.answer_of(press_id)
    assert answer.params["text"] == "Joined" and answer.params["show_alert"] is True
    assert fake.callback_answers[query.id]["text"] == "Joined"
    with pytest.raises(AssertionError, match="Join grid"):
        await alice.press(fake.last(alice.id), "Leave")
    forged = await alice.press(fake.last(alice.id), data="admin:delete")
    updates = await bot.get_updates(offset=press_id + 1)
    assert updates[0].update_id == forged and updates[0].callback_query.data == "admin:delete"


async def test_other_updates_parse(fake: FakeBotAPI, bot: Bot) -> None:
    alice = fake.user(1001, "Alice")
    grid = fake.group(-100123, "Grid 1")
    await grid.add_bot(alice)
    await alice.send("hi all", chat=grid)
    await alice.send_contact("+8613800000000")
    await alice.send_sticker()
    await alice.send_photo("pothole", file_size=1234)
    await alice.send_location(31.2, 121.5)
    await grid.remove_bot(alice)
    await alice.send_update(
        {
            "edited_message": {
                "message_id": 99,
                "date": 0,
                "text": "e",
                "chat": {"id": 555, "type": "private"},
            }
        }
    )
    updates = await bot.get_updates()
    assert len(updates) == 8
    joined = updates[0].my_chat_member
    assert joined.chat.id == grid.id and joined.new_chat_member.status == "member"
    assert joined.old_chat_member.status == "left"
    assert updates[1].message.chat.type == "supergroup"
    assert updates[2].message.contact.phone_number == "+8613800000000"
    assert updates[3].message.sticker is not None
    photo = updates[4].message.photo[-1]
    assert updates[4].message.caption == "pothole" and photo.file_size == 1234
    assert updates[5].message.location.latitude == 31.2
    assert updates[6].my_chat_member.new_chat_member.status == "kicked"
    assert updates[7].edited_message.text == "e"
    with pytest.raises(TelegramForbiddenError, match="kicked"):
        await bot.send_message(grid.id, "still here?")
    await bot.send_message(555, "known from a raw update")
    data = await bot.download(photo.file_id)
    assert len(data.read()) == 1234


async def test_fault_injection(fake: FakeBotAPI, bot: Bot) -> None:
    alice = fake.user(1001, "Alice")
    fake.fail_next("sendMessage", error_code=429, retry_after=3)
    with pytest.raises(TelegramRetryAfter) as info:
        await bot.send_message(alice.id, "x")
    assert info.value.retry_after == 3
    fake.fail_next("sendMessage", chat_id=2002, times=2)
    await bot.send_message(alice.id, "not affected")
    fake.fail_next("sendMessage")
    with pytest.raises(TelegramServerError):
        await bot.send_message(alice.id, "x")
    await bot.send_message(alice.id, "ok again")
    fake.block_chat(alice.id)
    with pytest.raises(TelegramForbiddenError, match="blocked by the user"):
        await bot.send_message(alice.id, "x")
    fake.disable_method("setMyCommands")
    with pytest.raises(TelegramNotFound):
        await bot.set_my_commands([BotCommand(command="start", description="Start")])
    assert [c.status for c in fake.calls] == [429, 200, 500, 200, 403, 404]
    assert [m.text for m in fake.sent(alice.id)] == ["not affected", "ok again"]


async def test_latency(fake: FakeBotAPI, bot: Bot) -> None:
    alice, bob = fake.user(1001, "Alice"), fake.user(1002, "Bob")
    fake.set_latency("sendMessage", 0.3, chat_id=alice.id)
    slow = asyncio.create_task(bot.send_message(alice.id, "slow"))
    call = await fake.wait_for_call("sendMessage")
    assert call.status is None and not fake.sent(alice.id)  # arrived, not answered yet
    await bot.send_message(bob.id, "quick")  # another chat is not held up
    assert not slow.done()
    await slow
    assert [m.text for m in fake.sent()] == ["quick", "slow"]
    fake.set_latency("sendMessage", 0, chat_id=alice.id)
    await asyncio.wait_for(bot.send_message(alice.id, "fast again"), 0.2)


async def test_rate_limits() -> None:
    async with FakeBotAPI(enforce_limits=True) as fake:
        bot = make_bot(fake)
        try:
            alice = fake.user(1001, "Alice")
            for i in range(3):
                await bot.send_message(alice.id, f"burst {i}")
            with pytest.raises(TelegramRetryAfter) as info:
                await bot.send_message(alice.id, "too fast")
            assert info.value.retry_after >= 1 and fake.violations == 1
        finally:
            await bot.session.close()


async def test_photo_document_and_commands(fake: FakeBotAPI, bot: Bot) -> None:
    alice = fake.user(1001, "Alice")
    msg = await bot.send_photo(
        alice.id,
        BufferedInputFile(b"\x89PNG data", "chart.png"),
        caption="<i>Weekly</i>",
        parse_mode="HTML",
    )
    assert msg.photo and msg.caption == "Weekly"
    sent = fake.last(alice.id)
    assert sent.method == "sendPhoto" and sent.params["_file_bytes"] == b"\x89PNG data"
    assert sent.params["_filename"] == "chart.png"
    again = await bot.send_photo(alice.id, msg.photo[-1].file_id)
    assert again.photo[-1].file_id == msg.photo[-1].file_id
    doc = await bot.send_document(alice.id, BufferedInputFile(b"a,b\n", "export.csv"))
    assert doc.document.file_name == "export.csv" and doc.document.mime_type == "text/csv"
    assert (await bot.download(doc.document.file_id)).read() == b"a,b\n"
    with pytest.raises(TelegramBadRequest, match="wrong file identifier"):
        await bot.send_photo(alice.id, "no-such-file-id")
    await bot.edit_message_caption(chat_id=alice.id, message_id=msg.message_id, caption="New")
    assert fake.sent(alice.id)[0].caption == "New"

    commands = [BotCommand(command="start", description="Start")]
    assert await bot.set_my_commands(commands)
    assert [c.command for c in await bot.get_my_commands()] == ["start"]
    assert await bot.delete_my_commands()
    assert await bot.get_my_commands() == []
    with pytest.raises(TelegramBadRequest, match="BOT_COMMAND_INVALID"):
        await bot.set_my_commands([BotCommand(command="Start", description="x")])
    assert await bot.send_chat_action(alice.id, "typing")
    chat = await bot.get_chat(alice.id)
    assert chat.first_name == "Alice"
    member = await bot.get_chat_member(alice.id, alice.id)
    assert member.status == "member"
    fake.group(-100500, "Board")
    fake.set_member_status(-100500, alice.id, "administrator")
    assert (await bot.get_chat_member(-100500, alice.id)).status == "administrator"


async def test_poll_conflicts_and_webhook_info(fake: FakeBotAPI, bot: Bot) -> None:
    first = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.05)
    second = asyncio.create_task(bot.get_updates(timeout=5))
    with pytest.raises(TelegramConflictError, match="terminated by other getUpdates"):
        await asyncio.wait_for(first, 2)
    await fake.user(1001, "Alice").send("hi")
    assert len(await asyncio.wait_for(second, 2)) == 1

    assert await bot.set_webhook("https://bot.example.org/tg", secret_token="s3cret")
    with pytest.raises(TelegramConflictError, match="webhook is active"):
        await bot.get_updates()
    info = await bot.get_webhook_info()
    assert info.url == "https://bot.example.org/tg" and info.pending_update_count == 1
    assert await bot.delete_webhook(drop_pending_updates=True)
    assert await bot.get_updates() == []


async def test_webhook_delivery(fake: FakeBotAPI, bot: Bot) -> None:
    received: list[tuple[dict, str | None]] = []

    async def hook(request: web.Request) -> web.Response:
        received.append(
            (await request.json(), request.headers.get("X-Telegram-Bot-Api-Secret-Token"))
        )
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        fake.set_webhook_target(f"http://127.0.0.1:{port}/hook")
        await bot.set_webhook("https://public.example.org/hook", secret_token="tok")
        update_id = await fake.user(1001, "Alice").send("via webhook")
        await fake.wait_idle(0.1)
        assert received == [(received[0][0], "tok")]
        assert received[0][0]["update_id"] == update_id
        assert fake.pending_updates() == []
    finally:
        await runner.cleanup()


async def test_webhook_reply_with_method(fake: FakeBotAPI, bot: Bot) -> None:
    dp = Dispatcher()

    @dp.message()
    async def echo(message: Message) -> SendMessage:
        return message.answer(f"echo: {message.text}")

    app = web.Application()
    SimpleRequestHandler(dp, bot, handle_in_background=False).register(app, path="/wh")
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        await bot.set_webhook(f"http://127.0.0.1:{port}/wh")
        alice = fake.user(1001, "Alice")
        await alice.send("ping")
        reply = await fake.wait_for_message(alice.id)
        assert reply.text == "echo: ping"
    finally:
        await runner.cleanup()


async def test_dispatcher_polling(fake: FakeBotAPI) -> None:
    bot = make_bot(fake)
    router = Router()

    @router.message(CommandStart())
    async def start(message: Message) -> None:
        await message.answer(
            f"Welcome, {message.from_user.first_name}!", reply_markup=kb(("Join", "join"))
        )

    @router.callback_query(F.data == "join")
    async def join(query: CallbackQuery) -> None:
        await query.answer("Joined!")
        await query.message.edit_text("You joined.")

    dp = Dispatcher()
    dp.include_router(router)
    task = asyncio.create_task(dp.start_polling(bot, handle_signals=False, polling_timeout=1))
    try:
        alice = fake.user(1001, "Alice")
        mark = fake.mark()
        await alice.send("/start")
        welcome = await fake.wait_for_message(alice.id, after=mark)
        assert welcome.text == "Welcome, Alice!"
        mark = fake.mark()
        press_id = await alice.press(welcome, "Join")
        answer = await alice.answer_of(press_id)
        assert answer.params["text"] == "Joined!"
        edited = await fake.wait_for_message(alice.id, lambda m: m.edited, after=mark)
        assert edited is welcome and edited.text == "You joined."
        await fake.wait_idle(0.1)
        with pytest.raises(TimeoutError):
            await fake.wait_for_message(alice.id, after=fake.mark(), timeout=0.1)
    finally:
        await dp.stop_polling()
        await asyncio.wait_for(task, 5)


async def test_round_trip_delay() -> None:
    """With rtt_ms every answer arrives that much later, and calls overlap as on a network."""
    rtt = 0.08
    async with FakeBotAPI(rtt_ms=rtt * 1000) as fake:
        bot = make_bot(fake)
        try:
            alice = fake.user(1001, "Alice")
            await bot.get_me()  # the connection is open: what follows is the delay alone
            began = time.monotonic()
            await bot.send_message(alice.id, "hi")
            assert time.monotonic() - began >= rtt
            assert fake.sent(alice.id)[0].text == "hi"  # took effect on arrival
            began = time.monotonic()
            await asyncio.gather(*(bot.send_message(alice.id, f"n{n}") for n in range(5)))
            assert rtt <= time.monotonic() - began < 3 * rtt
            await alice.send("/start")  # a waiting update: the long poll's answer, rtt later
            began = time.monotonic()
            updates = await bot.get_updates(timeout=1)
            assert len(updates) == 1 and time.monotonic() - began >= rtt
        finally:
            await bot.session.close()
