"""A server that answers outside the Bot API's shape (an HTML error page, JSON without "ok"),
an upstream that echoes the token in its error pages, a wrong token, an unreachable server:
each fails that one call, and the operator reads one line, never the token."""

from __future__ import annotations

import asyncio
import io
import logging
import os
import socket
import sys
from pathlib import Path

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import ClientDecodeError

from bot.app import set_menu
from bot.delivery import Delivery, Limits
from bot.logs import JsonFormatter, TextFormatter, redact, redact_token
from storage import outbox, reports
from storage.clock import Clock
from storage.db import unit_of_work
from storage.models.common import OutboxStatus
from tests.harness import TOKEN, World
from tests.test_delivery import PNG, rows
from tests.village_builder import report_village
from views.i18n import PoI18n

ROOT = Path(__file__).resolve().parent.parent
HTML_500 = "<html><body><h1>500 Internal Server Error</h1>nginx</body></html>"
# A proxy's page that echoes the request path, token and all.
ECHO_502 = "<html><body><h1>502 Bad Gateway</h1><p>upstream failed for {path}</p></body></html>"
APOLOGY = "抱歉"


async def test_the_fake_answers_outside_the_bot_api_when_told(fake, bot) -> None:
    fake.fail_next("getMe", error_code=502, body=ECHO_502)
    with pytest.raises(ClientDecodeError) as raised:
        await bot.get_me()
    assert f"/bot{TOKEN}/getMe" in str(raised.value)
    assert (await bot.get_me()).id == fake.bot_id  # once only


async def test_a_menu_answered_outside_the_bot_api_is_only_logged(fake, bot, caplog) -> None:
    i18n = PoI18n(default_locale="zh")
    i18n.activate()
    fake.fail_next("setMyCommands", error_code=500, body=HTML_500)
    with caplog.at_level(logging.WARNING, logger="linli"):
        await set_menu(bot, i18n)  # does not raise
    assert "could not set the command menu" in caplog.text
    assert "<html>" not in caplog.text  # a few words, not the page
    fake.fail_next("setMyCommands", error_code=500, body='{"error": "no ok field"}')
    await set_menu(bot, i18n)


async def test_the_token_never_reaches_a_log(fake, bot) -> None:
    """An upstream echoes /bot<token>/... in its error page: a message and a traceback that
    carry it are logged without it."""
    logger = logging.getLogger("linli.test_redaction")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger.addHandler(handler)
    logger.propagate = False
    try:
        redact_token(TOKEN, logger)
        fake.fail_next("setMyCommands", error_code=502, body=ECHO_502)
        try:
            await bot.set_my_commands([])
        except ClientDecodeError as error:
            logger.warning("menu: %s", error)
            logger.exception("menu failed")
            logger.warning("as typed %s, as encoded %s", TOKEN, TOKEN.replace(":", "%3A"))
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    text = stream.getvalue()
    secret = TOKEN.partition(":")[2]
    assert "502 Bad Gateway" in text and "Traceback" in text
    assert secret not in text
    assert "123456:<redacted>/setMyCommands" in text
    assert redact(f"x {TOKEN} y", "") == f"x {TOKEN} y"
    assert redact("x oddtoken y", "oddtoken") == "x <redacted> y"


# --- the delivery: a photo answered outside the Bot API ---------------------------------------


async def test_a_photo_answered_outside_the_bot_api_does_not_hold_the_chat(fake, sessions) -> None:

    alice = fake.user(1001, "Alice").id
    bob = fake.user(1002, "Bob").id
    fake.fail_next("sendPhoto", error_code=500, body=HTML_500, times=2)
    photo = {"method": "sendPhoto", "photo_b64": PNG, "filename": "r.png"}
    async with unit_of_work(sessions) as session:
        outbox.enqueue(session, alice, "caption", fallback_text="<i>text</i> instead", **photo)
        outbox.enqueue(session, bob, "caption", **photo)
        outbox.enqueue(session, alice, "next")
        outbox.enqueue(session, bob, "next")
    bot = Bot("123:abc", session=AiohttpSession(api=TelegramAPIServer.from_base(fake.base_url)))
    delivery = Delivery(bot, sessions, Clock(), limits=Limits(private_interval=0.05))
    task = asyncio.create_task(delivery.run())
    try:
        # at once, not after a backoff
        await fake.wait_for_message(alice, lambda m: m.text == "next", timeout=1.5)
        await fake.wait_for_message(bob, lambda m: m.text == "next", timeout=1.5)
        assert await delivery.drain(5, everything=True)
    finally:
        delivery.stop()
        await asyncio.wait_for(task, 5)
        await bot.session.close()
    assert [(m.method, m.text) for m in fake.sent(alice)] == [
        ("sendMessage", "text instead"),
        ("sendMessage", "next"),
    ]
    assert [m.text for m in fake.sent(bob)] == ["next"]
    photo_calls = [c for c in fake.calls if c.method == "sendPhoto"]
    assert len(photo_calls) == 2  # neither was tried again
    alice_photo, bob_photo, *_ = await rows(sessions)
    assert alice_photo.status == OutboxStatus.SENT
    assert bob_photo.status == OutboxStatus.FAILED
    assert "<html>" not in (bob_photo.last_error or "")


# --- replies after the commit: /gridstats's chart, an unconfirmed reply -----------------------


async def test_gridstats_chart_answered_outside_the_bot_api_is_no_apology(world: World) -> None:

    fake, clock = world.fake, world.clock
    async with unit_of_work(world.app.sessions) as session:
        v = await report_village(session, clock.now())
        actor = v.actor("张三")
        hazard = (await reports.categories(session, v.village_id))[0]
        await reports.file_report(
            session,
            actor,
            category_id=hazard.id or 0,
            description="桥头护栏断了",
            location="村东桥头",
            now=clock.now(),
        )
    admin = world.person(v.person("村管理员").telegram_id, "Admin")
    fake.fail_next("sendPhoto", chat_id=admin.id, error_code=500, body=HTML_500)
    mark = fake.mark()
    await admin.user.send("/gridstats")
    figures = await admin.next_message(after=mark, expect="一网格")
    assert "1" in (figures.text or "")
    await fake.wait_for_call(
        "sendPhoto", lambda call: call.chat_id == admin.id and call.status == 500
    )
    await fake.assert_no_message(
        admin.id, lambda m: APOLOGY in (m.text or ""), after=mark, within=0.5
    )
    # The month's grid chart was refused; the months' trend chart after it still comes.
    await fake.wait_for_message(admin.id, lambda m: m.method == "sendPhoto", after=mark)
    shown = [m.method for m in fake.sent(admin.id) if m.message_id >= figures.message_id]
    assert shown == ["sendMessage", "sendPhoto"]


async def test_a_reply_answered_outside_the_bot_api_is_not_a_crash(world: World) -> None:
    fake = world.fake
    someone = world.person(931_001, "Qian")
    fake.fail_next("sendMessage", chat_id=someone.id, error_code=502, body=ECHO_502)
    mark = fake.mark()
    await someone.user.send("/help")
    await fake.wait_for_call(
        "sendMessage", lambda call: call.chat_id == someone.id and call.status == 502
    )
    await fake.assert_no_message(
        someone.id, lambda m: APOLOGY in (m.text or ""), after=mark, within=0.5
    )
    again = await someone.say("/help")  # the chat goes on
    assert APOLOGY not in (again.text or "")


async def test_a_reply_refused_429_again_and_again_still_arrives(world: World) -> None:
    """Under a burst the retry can meet the limit too: a reply waits 429s out while they add
    up to 5 s (it was dropped at the second refusal)."""
    fake = world.fake
    someone = world.person(931_002, "Sun")
    fake.fail_next("sendMessage", chat_id=someone.id, error_code=429, retry_after=1, times=3)
    mark = fake.mark()
    await someone.user.send("/help")
    answer = await fake.wait_for_message(someone.id, after=mark, timeout=10)
    refused = [c for c in fake.calls if c.chat_id == someone.id and c.status == 429]
    assert len(refused) == 3
    assert APOLOGY not in (answer.text or "")


# --- bot.py at start: a wrong token, an unreachable server, an odd upstream -------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def run_bot_py(folder: Path, base: str, token: str) -> tuple[int, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("BOT_", "WEBHOOK_", "TELEGRAM_", "DATABASE_", "REDIS_"))
    }
    env.update(
        BOT_TOKEN=token,
        TELEGRAM_API_BASE=base,
        DATABASE_URL=f"sqlite+aiosqlite:///{folder / 'linli.db'}",
        PYTHONUNBUFFERED="1",
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "bot.py"),
        "run",
        cwd=folder,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        out, _ = await asyncio.wait_for(process.communicate(), 30)
    except TimeoutError:
        process.kill()
        out, _ = await process.communicate()
        raise AssertionError(f"bot.py run did not exit:\n{out.decode()}") from None
    return process.returncode or 0, out.decode(errors="replace")


def assert_one_line(code: int, output: str, token: str, *words: str) -> None:
    assert code == 2, output
    assert "Traceback" not in output, output
    assert (token.partition(":")[2] or token) not in output, output
    last = output.strip().splitlines()[-1]
    assert last.startswith("linli cannot start:"), output
    for word in words:
        assert word in last, output


@pytest.mark.timeout(90)
async def test_start_with_a_wrong_token_says_so_in_one_line(fake, tmp_path) -> None:
    for method in ("setMyCommands", "deleteWebhook"):  # as Telegram answers a revoked token
        fake.fail_next(method, error_code=401)
    code, output = await run_bot_py(tmp_path, fake.base_url, TOKEN)
    assert_one_line(code, output, TOKEN, "does not accept BOT_TOKEN", fake.base_url)


@pytest.mark.timeout(90)
async def test_start_with_a_malformed_token_says_so_in_one_line(fake, tmp_path) -> None:
    token = "not-a-token-secret"
    code, output = await run_bot_py(tmp_path, fake.base_url, token)
    assert_one_line(code, output, token, "BOT_TOKEN is not a bot token")


@pytest.mark.timeout(90)
async def test_start_with_an_unreachable_server_says_so_in_one_line(tmp_path) -> None:
    base = f"http://127.0.0.1:{free_port()}"
    code, output = await run_bot_py(tmp_path, base, TOKEN)
    assert_one_line(code, output, TOKEN, "cannot reach", base)


@pytest.mark.timeout(90)
async def test_start_against_an_upstream_that_echoes_the_token(fake, tmp_path) -> None:
    """The menu (an extra) gets a 502 page with the path in it: logged, without the token;
    then deleteWebhook gets one too: one line, and no token anywhere."""
    fake.fail_next("setMyCommands", error_code=502, body=ECHO_502)
    fake.fail_next("deleteWebhook", error_code=502, body=ECHO_502)
    code, output = await run_bot_py(tmp_path, fake.base_url, TOKEN)
    assert "could not set the command menu" in output
    assert_one_line(code, output, TOKEN, "does not answer as a Bot API server")


@pytest.mark.parametrize("formatter", ["text", "json"])
def test_the_configured_formats_never_write_the_token(formatter: str) -> None:
    """LOG_FORMAT's formatters write the error themselves: they scrub the token too."""

    token = "424242:SECRET-part-of-the-token"
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        JsonFormatter() if formatter == "json" else TextFormatter(tracebacks=True)
    )
    logger = logging.getLogger(f"linli.test.scrub.{formatter}")
    logger.addHandler(handler)
    logger.propagate = False
    redact_token(token, logger)
    try:
        raise RuntimeError(f"502 Bad Gateway for /bot{token}/sendMessage")
    except RuntimeError:
        logger.exception("call failed")
    written = stream.getvalue()
    assert "sendMessage" in written and "SECRET" not in written, written
