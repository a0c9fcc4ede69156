"""bot/polling.py against the fake Bot API: an update is confirmed to Telegram only once it is
handled, and a stop finishes the updates in hand, confirms them and leaves the rest."""

from __future__ import annotations

import asyncio

from aiogram import Bot, Dispatcher
from aiogram.types import Message

from bot.polling import Polling
from sandbox.bot_api import FakeBotAPI


class Held:
    """A dispatcher whose handler notes each text and holds those in `hold` until released."""

    def __init__(self, *hold: str) -> None:
        self.seen: list[str] = []
        self.hold = set(hold)
        self.release = asyncio.Event()
        self.dp = Dispatcher()
        self.dp.message()(self.handle)

    async def handle(self, message: Message) -> None:
        self.seen.append(message.text or "")
        if message.text in self.hold:
            await self.release.wait()


def pending(fake: FakeBotAPI) -> list[str]:
    return [update["message"]["text"] for update in fake.pending_updates()]


async def until(condition: object, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():  # type: ignore[operator]
            await asyncio.sleep(0.01)


async def test_an_update_in_hand_holds_back_the_confirmation(fake: FakeBotAPI, bot: Bot) -> None:
    held = Held("slow")
    polling = Polling(held.dp, bot, concurrency=4, timeout=1)
    running = asyncio.create_task(polling.run())
    alice = fake.user(1001, "Alice")
    try:
        await alice.send("slow")
        await alice.send("quick")
        await until(lambda: held.seen == ["slow", "quick"])
        await asyncio.sleep(0.5)  # polls go on meanwhile, and bring nothing twice
        assert held.seen == ["slow", "quick"]
        assert pending(fake) == ["slow", "quick"]  # a crash now: Telegram sends both again
        held.release.set()
        await until(lambda: not pending(fake))
    finally:
        polling.stop()
        await asyncio.wait_for(running, 5)
    assert held.seen == ["slow", "quick"]


async def test_a_stop_finishes_and_confirms_the_updates_in_hand(
    fake: FakeBotAPI, bot: Bot
) -> None:
    held = Held("one", "two")
    polling = Polling(held.dp, bot, concurrency=2, timeout=1, grace=5)
    running = asyncio.create_task(polling.run())
    alice = fake.user(1001, "Alice")
    for text in ("one", "two", "three"):
        await alice.send(text)
    await until(lambda: held.seen == ["one", "two"])  # "three" waits: two are in hand
    polling.stop()
    await asyncio.sleep(0.2)
    assert not running.done()  # the two in hand are being finished
    held.release.set()
    await asyncio.wait_for(running, 5)
    assert held.seen == ["one", "two"]
    assert pending(fake) == ["three"]  # left to Telegram for the next process


async def test_a_stop_cuts_off_what_does_not_finish_in_its_grace(
    fake: FakeBotAPI, bot: Bot
) -> None:
    held = Held("stuck")
    polling = Polling(held.dp, bot, concurrency=4, timeout=1, grace=0.2)
    running = asyncio.create_task(polling.run())
    alice = fake.user(1001, "Alice")
    await alice.send("stuck")
    await alice.send("done")
    await until(lambda: held.seen == ["stuck", "done"])
    polling.stop()
    await asyncio.wait_for(running, 2)
    assert pending(fake) == ["stuck", "done"]  # nothing past the one cut off is confirmed
