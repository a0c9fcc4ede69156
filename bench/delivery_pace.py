"""Delivery at full speed through the fake Bot API enforcing Telegram's limits.

300 messages: 20 to each of 3 groups (a group's burst) and 240 spread over 100 private chats,
sent with the default Limits. Prints the achieved rate and the server's violation count (must
be 0). Usage: .venv/bin/python bench/delivery_pace.py [database-url]  (default: a temp SQLite)
"""

from __future__ import annotations

import asyncio
import logging
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiogram import Bot  # noqa: E402
from aiogram.client.session.aiohttp import AiohttpSession  # noqa: E402
from aiogram.client.telegram import TelegramAPIServer  # noqa: E402

import storage.tables  # noqa: E402, F401 - every table on the metadata
from bot.delivery import Delivery  # noqa: E402
from sandbox.bot_api import FakeBotAPI  # noqa: E402
from storage import outbox  # noqa: E402
from storage.clock import Clock  # noqa: E402
from storage.db import create_engine, create_session_factory, migrate, unit_of_work  # noqa: E402


async def bench(url: str) -> int:
    engine = create_engine(url)
    await migrate(engine)
    sessions = create_session_factory(engine)
    async with FakeBotAPI(enforce_limits=True) as api:
        groups = [api.group(-1001 - n, f"G{n}").id for n in range(3)]
        users = [api.user(10_000 + n, f"U{n}").id for n in range(100)]
        chats = [groups[n % 3] for n in range(60)] + [users[n % 100] for n in range(240)]
        async with unit_of_work(sessions) as session:
            for n, chat_id in enumerate(chats):
                outbox.enqueue(session, chat_id, f"message {n}", batch="bench")
        bot = Bot("123:abc", session=AiohttpSession(api=TelegramAPIServer.from_base(api.base_url)))
        delivery = Delivery(bot, sessions, Clock())
        started = time.monotonic()
        task = asyncio.create_task(delivery.run())
        try:
            drained = await delivery.drain(120, everything=True)
        finally:
            delivery.stop()
            await task
            await bot.session.close()
        elapsed = time.monotonic() - started
        async with sessions() as session:
            counts = await outbox.batch_counts(session, "bench")
        rejected = sum(1 for call in api.calls if call.status == 429)
        send_times = sorted(call.at for call in api.calls)
        busiest = max(
            sum(1 for t in send_times if start <= t < start + 1.0) for start in send_times
        )
        print(f"drained: {drained}  sent: {counts[outbox.OutboxStatus.SENT]}/{len(chats)}")
        print(f"time: {elapsed:.2f} s  rate: {len(chats) / elapsed:.1f} messages/s")
        print(f"busiest second: {busiest} calls  429 answers: {rejected}")
        print(f"violations: {api.violations}")
    await engine.dispose()
    return 0 if drained and api.violations == 0 else 1


def main() -> int:
    logging.basicConfig(level=logging.WARNING)
    if len(sys.argv) > 1:
        return asyncio.run(bench(sys.argv[1]))
    with tempfile.TemporaryDirectory() as folder:
        return asyncio.run(bench(f"sqlite+aiosqlite:///{folder}/bench.db"))


if __name__ == "__main__":
    sys.exit(main())
