"""A restart in the middle of a flow: the conversation state lives in the database, so the
person carries on where they were, and messages still in the outbox go out after the restart."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest
from sqlmodel import select

from bot.app import App, create_app, start_background
from sandbox.bot_api import FakeBotAPI
from storage import outbox
from storage.models.common import OutboxMessage, OutboxStatus
from storage.models.org import Grid, Village
from storage.settings import Settings
from tests.databases import fresh_database, postgres_server_url
from tests.harness import DISTRICT_ADMIN_ID, TEST_LIMITS, TOKEN


async def start(settings: Settings) -> tuple[App, asyncio.Task[None]]:
    app = await create_app(settings, limits=TEST_LIMITS, run_migrations=False)
    await start_background(app, scheduler=False)
    polling = asyncio.create_task(
        app.dp.start_polling(
            app.bot, handle_signals=False, close_bot_session=False, polling_timeout=1
        )
    )
    return app, polling


async def stop(app: App, polling: asyncio.Task[None]) -> None:
    with contextlib.suppress(RuntimeError):
        await app.dp.stop_polling()
    polling.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await polling
    await app.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_a_flow_survives_a_restart(backend: str, tmp_path: Path) -> None:
    if backend == "postgres" and not postgres_server_url():
        pytest.skip("TEST_DATABASE_URL is not set")
    async with FakeBotAPI() as fake, fresh_database(backend, tmp_path) as url:
        settings = Settings(
            _env_file=None,
            bot_token=TOKEN,
            telegram_api_base=fake.base_url,
            database_url=url,
            redis_url=None,
            bot_superadmins=str(DISTRICT_ADMIN_ID),
        )  # type: ignore[arg-type]
        admin = fake.user(DISTRICT_ADMIN_ID, "Admin")
        app, polling = await start(settings)
        mark = fake.mark()
        await admin.send("/newvillage")
        await fake.wait_for_message(admin.id, after=mark)
        mark = fake.mark()
        await admin.send("重启村")
        await fake.wait_for_message(admin.id, after=mark)
        # A message for another chat is written but the bot stops before sending it.
        app.delivery.stop()
        async with app.sessions() as session:
            outbox.enqueue(session, DISTRICT_ADMIN_ID, "still to send")
            await session.commit()
        await stop(app, polling)

        app, polling = await start(settings)
        try:
            await fake.wait_for_message(admin.id, lambda m: m.text == "still to send")
            mark = fake.mark()
            await admin.send("东组\n西组")
            grids = await fake.wait_for_message(
                admin.id, lambda m: "东组、西组" in (m.text or ""), after=mark
            )
            mark = fake.mark()
            await admin.press(grids, "完成")
            review = await fake.wait_for_message(
                admin.id, lambda m: "重启村" in (m.text or ""), after=mark
            )
            mark = fake.mark()
            await admin.press(review, "✔")
            await fake.wait_for_message(admin.id, lambda m: "2" in (m.text or ""), after=mark)
            async with app.sessions() as session:
                village = (
                    await session.exec(select(Village).where(Village.name == "重启村"))
                ).one()
                names = (
                    await session.exec(select(Grid.name).where(Grid.village_id == village.id))
                ).all()
                assert sorted(names) == ["东组", "西组"]
                rows = (await session.exec(select(OutboxMessage))).all()
                assert [r.status for r in rows] == [OutboxStatus.SENT]
        finally:
            await stop(app, polling)
